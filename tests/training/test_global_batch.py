"""The global batch (per device × processes × accumulation) and the peak learning rate, said once at the start."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_bias.training.global_batch import GlobalBatchLog, global_batch_message


class _WarmedUp(pl.LightningModule):
    """A linear model whose scheduler starts the rate at 0, as a linear warm-up does."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.05)
        warm_up = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / 10)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warm_up, "interval": "step"}}


def test_the_message_multiplies_out():
    assert global_batch_message(16, 2, 1, 0.01) == (
        "global batch 32 = 16 per device × 2 processes × 1 gradient accumulation step; learning rate 0.01")
    assert global_batch_message(8, 1, 4, 3e-4) == (
        "global batch 32 = 8 per device × 1 process × 4 gradient accumulation steps; learning rate 0.0003")


def test_logged_once_at_the_start_with_accumulation_and_the_peak_rate(caplog):
    caplog.set_level(logging.INFO)
    data = DataLoader(TensorDataset(torch.randn(24, 3), torch.randn(24, 1)), batch_size=4)
    trainer = pl.Trainer(max_epochs=2, accumulate_grad_batches=3, accelerator="cpu", devices=1, logger=False,
                         callbacks=[GlobalBatchLog()], enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(_WarmedUp(), data)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("global batch")]
    assert said == ["global batch 12 = 4 per device × 1 process × 3 gradient accumulation steps; learning rate 0.05"]
