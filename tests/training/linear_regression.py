"""A linear model on seeded random data: the smallest real Lightning run, for tests of training callbacks."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class LinearRegression(pl.LightningModule):
    """``Linear(3, 1)`` trained by SGD on MSE; logs its training loss to the progress bar, as real modules do."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def random_loader(n: int) -> DataLoader:
    """``n`` seeded random rows ``(x [3], y [1])`` in batches of 4."""
    generator = torch.Generator().manual_seed(n)
    return DataLoader(TensorDataset(torch.randn(n, 3, generator=generator), torch.randn(n, 1, generator=generator)),
                      batch_size=4)
