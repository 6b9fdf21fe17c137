"""Say at the start of training how many examples each optimizer step sees, and at which learning rate.

Each process draws its own ``data.batch_size`` examples per step, so adding devices multiplies the
global batch: the same config on two processes takes half the optimizer steps with the same
learning rate, and a small run can stop learning (tiny config, two-process DDP: accuracy 0.42 →
0.17). ``GlobalBatchLog`` makes that visible once, on global rank zero::

    global batch 64 = 32 per device × 2 processes × 1 gradient accumulation step; learning rate 0.01

docs/CLUSTER.md says how to keep it constant when adding devices.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info


def global_batch_message(per_device: int, world_size: int, accumulation: int, learning_rate: float) -> str:
    """``global batch G = B per device × W processes × A gradient accumulation steps; learning rate L``."""
    processes = "process" if world_size == 1 else "processes"
    steps = "step" if accumulation == 1 else "steps"
    return (f"global batch {per_device * world_size * accumulation} = {per_device} per device × {world_size} "
            f"{processes} × {accumulation} gradient accumulation {steps}; learning rate {learning_rate:g}")


class GlobalBatchLog(Callback):
    """Log the global batch and the peak learning rate once when training starts (global rank zero)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        per_device = getattr(trainer.train_dataloader, "batch_size", None)
        if per_device is None or not trainer.optimizers:
            return  # a batch sampler or manual optimization: nothing fixed to report
        group = trainer.optimizers[0].param_groups[0]
        # a warm-up scheduler has already lowered "lr"; "initial_lr" is the rate it climbs to
        learning_rate = group.get("initial_lr", group["lr"])
        rank_zero_info(global_batch_message(per_device, trainer.world_size, trainer.accumulate_grad_batches,
                                            learning_rate))
