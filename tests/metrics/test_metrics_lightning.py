"""FairnessMetrics inside a LightningModule: compute() goes straight into log_dict, report() is JSON."""

from __future__ import annotations

import json

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_bias.metrics import FairnessMetrics


class TinyClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)
        # group 2 never occurs: its entries are NaN in compute() and None in report()
        self.metrics = FairnessMetrics(3, 3, group_names=["f", "m", "x"], class_names=["a", "b", "c"])
        self.reports: list[dict] = []

    def training_step(self, batch, batch_idx):
        features, labels, _ = batch
        return torch.nn.functional.cross_entropy(self.layer(features), labels)

    def validation_step(self, batch, batch_idx):
        features, labels, groups = batch
        self.metrics.update(self.layer(features), labels, groups)

    def on_validation_epoch_end(self) -> None:
        self.log_dict({f"val/{key}": value for key, value in self.metrics.compute().items()})
        self.reports.append(self.metrics.report())
        self.metrics.reset()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_logs_every_key_and_reports_json(tmp_path) -> None:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(64, 4, generator=generator),
        torch.randint(0, 3, (64,), generator=generator),
        torch.randint(0, 2, (64,), generator=generator),
    )
    model = TinyClassifier()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=16))
    logged = trainer.callback_metrics
    for key in ("accuracy", "worst_group_accuracy", "tpr_gap_rms", "tpr_gap_max", "fpr_gap_rms", "eo_difference_rms",
                "dp_difference_max", "acc/f", "acc/m"):  # fmt: skip
        assert torch.isfinite(logged[f"val/{key}"]), key
    assert torch.isnan(logged["val/acc/x"])
    assert len(model.reports) == 2
    last = json.loads(json.dumps(model.reports[-1], allow_nan=False))
    assert last["num_examples"] == 64  # reset between epochs: counted once per epoch
    assert last["empty_groups"] == ["x"]
