"""A command's run directory: another command's files kept in it, and nothing left behind by a failed start.

- ``CommandCSVLogger``: the CSV logger of ``test`` or ``predict`` on a checkpoint, pointed at the run
  directory of that checkpoint (``lightning_logs/version_N``). Lightning's CSV logger would delete the
  fit's ``metrics.csv`` there and overwrite its ``hparams.yaml``; this one names its files after the
  command (``metrics_test.csv``, ``hparams_test.yaml``) and leaves every other file as it is.
- ``RemoveUnusedRunDir``: a command that fails before it wrote anything but its own configuration
  (bad input raising in ``setup``) would leave a ``version_N`` directory holding nothing, or only
  ``config.yaml``; this callback removes such a directory when the command fails. A directory holding
  any other file (checkpoints, metrics, reports, earlier runs' outputs) is never touched.
- ``wandb_under_root_dir``: wandb's files go under ``trainer.default_root_dir`` like every other output.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

import pytorch_lightning as pl
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

# what a command writes at its start, before it reads any data: LightningCLI's config, the logger's hparams
START_OF_RUN_FILES = ("config*.yaml", "hparams*.yaml")


class _CommandExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer with file names of one command; an earlier run of that command's metrics file is
    replaced when this one first saves metrics (not when it starts, so a command that fails keeps it)."""

    def __init__(self, log_dir: str, command: str) -> None:
        self.NAME_METRICS_FILE = f"metrics_{command}.csv"
        self.NAME_HPARAMS_FILE = f"hparams_{command}.yaml"
        self._replaces_earlier_metrics = True
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        """Lightning warns here and deletes the metrics file; this directory holds another run's files by design."""

    def save(self) -> None:
        if self.metrics and self._replaces_earlier_metrics:
            if self._fs.isfile(self.metrics_file_path):
                self._fs.rm_file(self.metrics_file_path)
            self._replaces_earlier_metrics = False
        super().save()


class CommandCSVLogger(CSVLogger):
    """A CSV logger writing into an existing run directory, its files named for ``command``.

    Args:
        run_dir: the run directory (``.../lightning_logs/version_N``), which becomes ``log_dir``.
        command: the CLI verb (``test``, ``predict``), used in the names ``metrics_<command>.csv`` and
            ``hparams_<command>.yaml``.
    """

    def __init__(self, run_dir: str | Path, command: str) -> None:
        run_dir = Path(run_dir)
        super().__init__(save_dir=run_dir.parent, name="", version=run_dir.name)
        self.command = command

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = _CommandExperimentWriter(self.log_dir, self.command)
        return self._experiment


def holds_only_start_of_run_files(directory: Path) -> bool:
    """Whether every file under ``directory`` is one a command writes at its start (``START_OF_RUN_FILES``)."""
    files = [p for p in directory.rglob("*") if not p.is_dir()]
    return all(any(fnmatch.fnmatch(p.name, pattern) for pattern in START_OF_RUN_FILES) for p in files)


class RemoveUnusedRunDir(Callback):
    """On a failed command, remove its run directory (the CSV logger's ``log_dir``) if it holds nothing of use.

    Runs on global rank 0 only, with no collective (the other ranks may be gone).
    """

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                directory = Path(logger.log_dir)
                if directory.is_dir() and holds_only_start_of_run_files(directory):
                    shutil.rmtree(directory, ignore_errors=True)
                return


def wandb_under_root_dir(loggers: list[Logger], root_dir: str | Path) -> None:
    """Point each ``WandbLogger`` left at its default ``save_dir`` (``"."``) at ``root_dir`` (or ``$WANDB_DIR``).

    Otherwise wandb writes ``./wandb`` into whatever directory the command was started from (the logger
    passes ``dir="."`` to ``wandb.init``, which also overrides ``WANDB_DIR``). The logger has no setter,
    so the init arguments it hands to ``wandb.init`` are changed before it starts a run.
    """
    target = Path(os.environ.get("WANDB_DIR") or root_dir)
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger.save_dir == "." and logger._experiment is None:
            target.mkdir(parents=True, exist_ok=True)
            logger._wandb_init["dir"] = logger._save_dir = str(target)
