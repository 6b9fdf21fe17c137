"""Test helpers importable by ``class_path`` from a config: a recorder of what each rank trains on, and
deliberately broken mitigations for the framework's error paths.

Used by tests/plugins/test_plugins_cli.py and tests/plugins/test_plugins_ddp.py (``PYTHONPATH`` must include tests/
in subprocesses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytorch_lightning as pl
from pytorch_lightning import Callback
from torch.utils.data import SequentialSampler

from lightning_bias.data.batching import BatchKeys
from lightning_bias.mitigation import Mitigation


class EpochIndexRecorder(Callback):
    """Writes ``<out_dir>/rank<r>.json``: per epoch, the train indices of this rank's sampler and the
    (label, group) of every row its training steps actually received."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.epochs: list[dict[str, Any]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = trainer.datamodule.train_sampler
        self.epochs.append({"epoch": trainer.current_epoch, "sampler": type(sampler).__name__,
                            "indices": [int(i) for i in sampler], "seen": []})

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        pairs = zip(batch[BatchKeys.LABELS].tolist(), batch[BatchKeys.GROUPS].tolist(), strict=True)
        self.epochs[-1]["seen"].extend([label, group] for label, group in pairs)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        table = trainer.datamodule.tables["train"]
        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "epochs": self.epochs,
                  "train_labels": [int(v) for v in table["label"]], "train_groups": [int(v) for v in table["group"]]}
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class BadWeights(Mitigation):
    """Sample weights that break the contract: ``kind`` is short, negative or nan."""

    def __init__(self, kind: str = "short") -> None:
        self.kind = kind

    def sample_weights(self, table: datasets.Dataset) -> list[float]:
        weights = np.ones(len(table))
        if self.kind == "short":
            return weights[:-1].tolist()
        weights[3] = -1.0 if self.kind == "negative" else float("nan")
        return weights.tolist()


class EmptyingTransform(Mitigation):
    """Drops every row of the train split."""

    def transform(self, table: datasets.Dataset, split: str) -> datasets.Dataset:
        return table.select([]) if split == "train" else table


class PlainSampler(Mitigation):
    """Supplies a (non-distributed) sampler, to collide with another sampler plugin."""

    def sampler(self, table: datasets.Dataset, num_replicas: int, rank: int, seed: int) -> SequentialSampler:
        return SequentialSampler(range(len(table)))
