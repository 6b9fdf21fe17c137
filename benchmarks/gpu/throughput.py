"""A callback that times training steps on every rank and writes rank 0's figures as JSON.

Used by ``bench_gpu_scaling.py`` through ``--trainer.callbacks+=throughput.Throughput`` (this
directory on ``PYTHONPATH``). Samples/s counts the global batch (per-rank batch x world size) over
the steps after ``warmup`` steps; peak memory is ``torch.cuda.max_memory_allocated`` of each rank.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


class Throughput(pl.Callback):
    """Args: out: JSON file rank 0 writes; warmup: steps left out of the timing (compilation, allocator)."""

    def __init__(self, out: str, warmup: int = 5) -> None:
        self.out = Path(out)
        self.warmup = warmup
        self._start: float | None = None
        self._samples = 0
        self._steps = 0

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.warmup and self._start is None:
            self._sync()
            self._start = time.perf_counter()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._start is not None:
            self._samples += len(batch["input_ids"]) * trainer.world_size
            self._steps += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._sync()
        seconds = time.perf_counter() - self._start if self._start is not None else float("nan")
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
        peaks = trainer.strategy.all_gather(torch.tensor([peak], device=pl_module.device)).flatten().tolist()
        if trainer.is_global_zero:
            self.out.write_text(json.dumps({
                "world_size": trainer.world_size, "timed_steps": self._steps, "seconds": seconds,
                "samples_per_second": self._samples / seconds if self._steps else None,
                "peak_memory_bytes_per_rank": [int(p) for p in peaks],
            }))
