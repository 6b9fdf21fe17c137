"""Progress a user can follow anywhere: a live bar in a terminal, plain lines in a log file.

Lightning's live bars (Rich or TQDM) redraw one line in place; written to a file (SLURM, CI,
``> run.log``) they show nothing readable for the whole run. ``PlainProgress`` is a Lightning
progress bar that instead writes one line per ``every_n_steps`` optimizer steps or
``every_n_seconds`` seconds, whichever comes first, and one at the end of each epoch, on global
rank zero only::

    train: step 50/132 (epoch 2/3), train/loss 2.413, 118.2 samples/s, ETA 0:00:41
    validation: 10 batches in 0.6 s, 540.1 samples/s

``samples/s`` counts every rank (per-device batch × world size). The training ETA is the remaining
optimizer steps at the rate measured so far in this run, validation time excluded.

``with_progress`` is the command line's choice: a terminal gets Lightning's rich live bar
(``RichProgressBar``), anything else ``PlainProgress`` — unless the user set
``trainer.enable_progress_bar`` or configured a progress bar callback of their own (``PlainProgress`` with other intervals is one:
``--trainer.callbacks+=lightning_bias.training.progress.PlainProgress
--trainer.callbacks.every_n_steps=10``).
"""

from __future__ import annotations

import datetime
import math
import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ProgressBar, RichProgressBar
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.data import extract_batch_size
from pytorch_lightning.utilities.exceptions import MisconfigurationException


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def _batch_size(batch: Any) -> int | None:
    """Examples in a batch (the first dimension of its tensors), ``None`` for a batch without tensors."""
    try:
        return extract_batch_size(batch)
    except MisconfigurationException:
        return None


class _Rate:
    """Batches and examples seen since ``start``, with time spent elsewhere (validation) left out."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.paused = 0.0
        self.batches = 0
        self.samples: int | None = 0  # None once a batch had no countable examples

    def add(self, batch: Any) -> None:
        self.batches += 1
        size = _batch_size(batch)
        self.samples = None if size is None or self.samples is None else self.samples + size

    def elapsed(self) -> float:
        return max(time.monotonic() - self.start - self.paused, 1e-9)

    def describe(self, world_size: int) -> str:
        """``"118.2 samples/s"`` over every rank, or batches/s where batches have no countable examples."""
        if self.samples is None:
            return f"{self.batches * world_size / self.elapsed():.1f} batches/s"
        return f"{self.samples * world_size / self.elapsed():.1f} samples/s"


class PlainProgress(ProgressBar):
    """One plain line per ``every_n_steps`` steps or ``every_n_seconds`` seconds, whichever first (rank zero).

    Args:
        every_n_steps: training lines every this many optimizer steps; evaluation lines every this many batches.
        every_n_seconds: and at least this often while steps keep coming.

    Lines go to the process's standard error, as Lightning's bars do.
    """

    def __init__(self, every_n_steps: int = 50, every_n_seconds: float = 30.0) -> None:
        super().__init__()
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"PlainProgress every_n_steps must be a positive integer, got {every_n_steps!r}")
        if not every_n_seconds >= 0:
            raise ValueError(f"PlainProgress every_n_seconds must be 0 or more, got {every_n_seconds!r}")
        self.every_n_steps = every_n_steps
        self.every_n_seconds = float(every_n_seconds)
        self._enabled = True
        self._train = _Rate()
        self._eval = _Rate()
        self._last_line_time = 0.0
        self._last_line_count = 0
        self._first_step = 0
        self._train_cadence = (0.0, 0)  # training's cadence, kept while validation runs inside fit

    # --- the ProgressBar contract ---------------------------------------------------------------

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._enabled:
            print(*args, **{"file": sys.stderr, "flush": True, **kwargs})

    # --- cadence --------------------------------------------------------------------------------

    def _restart_cadence(self, count: int) -> None:
        self._last_line_time = time.monotonic()
        self._last_line_count = count

    def _due(self, count: int) -> bool:
        if count == self._last_line_count:
            return False
        return (count - self._last_line_count >= self.every_n_steps
                or time.monotonic() - self._last_line_time >= self.every_n_seconds)

    def _emit(self, line: str, count: int) -> None:
        self.print(line)
        self._restart_cadence(count)

    # --- training -------------------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._train = _Rate()
        self._first_step = trainer.global_step  # a resumed run measures its rate from where it resumed
        self._restart_cadence(trainer.global_step)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._train.add(batch)
        # the epoch's last batch gets a line too, before the validation that follows it
        epoch_ends = batch_idx + 1 == trainer.num_training_batches and trainer.global_step != self._last_line_count
        if self._due(trainer.global_step) or epoch_ends:
            self._emit(self._train_line(trainer, pl_module), trainer.global_step)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self._last_line_count:
            self._emit(self._train_line(trainer, pl_module), trainer.global_step)

    def _train_line(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
        step, total = trainer.global_step, trainer.estimated_stepping_batches
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs not in (None, -1) else ""
        parts = [f"train: step {step}" + (f"/{int(total)}" if math.isfinite(total) else "")
                 + f" (epoch {trainer.current_epoch + 1}{epochs})"]
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        parts += [f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                  for name, value in metrics.items()]
        parts.append(self._train.describe(trainer.world_size))
        done = step - self._first_step
        if math.isfinite(total) and done > 0:
            parts.append(f"ETA {_duration((total - step) * self._train.elapsed() / done)}")
        return ", ".join(parts)

    # --- evaluation (validation, test, predict): one line per every_n_steps batches, over all dataloaders

    def _eval_start(self, trainer: pl.Trainer) -> None:
        self._eval = _Rate()
        self._restart_cadence(0)

    def _eval_batch_end(self, trainer: pl.Trainer, stage: str, batch: Any, total: float) -> None:
        self._eval.add(batch)
        done = self._eval.batches
        if self._due(done) and done != total:  # the last batch gets the closing line instead
            of = f"/{int(total)}" if math.isfinite(total) else ""
            line = f"{stage}: batch {done}{of}, {self._eval.describe(trainer.world_size)}"
            if math.isfinite(total):
                line += f", ETA {_duration((total - done) * self._eval.elapsed() / done)}"
            self._emit(line, done)

    def _eval_end(self, trainer: pl.Trainer, stage: str) -> None:
        self.print(f"{stage}: {self._eval.batches} batches in {self._eval.elapsed():.1f} s, "
                   f"{self._eval.describe(trainer.world_size)}")

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._train_cadence = (self._last_line_time, self._last_line_count)
            self._eval_start(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._eval_batch_end(trainer, "validation", batch, sum(trainer.num_val_batches))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._eval_end(trainer, "validation")
        if trainer.state.fn == TrainerFn.FITTING:  # back to training: its rate and cadence leave validation out
            self._train.paused += time.monotonic() - self._eval.start
            self._last_line_time, self._last_line_count = self._train_cadence

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_start(trainer)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_batch_end(trainer, "test", batch, sum(trainer.num_test_batches))

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_end(trainer, "test")

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_start(trainer)

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_batch_end(trainer, "predict", batch, sum(trainer.num_predict_batches))

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_end(trainer, "predict")


def with_progress(callbacks: list[Callback], enable_progress_bar: bool | None, is_terminal: bool) -> list[Callback]:
    """The callbacks with the progress display the command line chooses.

    A terminal gets Lightning's ``RichProgressBar``; elsewhere ``PlainProgress`` is added. Nothing changes
    when the user decided: ``trainer.enable_progress_bar`` set (``True`` keeps Lightning's default bar,
    ``False`` shows none), or a progress bar among their callbacks.
    """
    if enable_progress_bar is not None or any(isinstance(c, ProgressBar) for c in callbacks):
        return callbacks
    return [*callbacks, RichProgressBar() if is_terminal else PlainProgress()]
