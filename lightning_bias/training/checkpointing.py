"""Checkpoints a user can find and trust: ``last.ckpt`` by default, atomic files, ``--ckpt_path`` checked.

- ``with_last_checkpoint``: unless the user configured a ``ModelCheckpoint`` or disabled checkpointing,
  the run gets Lightning's default checkpoint callback plus ``save_last=True``, so every fit writes
  ``<run dir>/checkpoints/last.ckpt`` (Lightning's own default writes only ``epoch=N-step=M.ckpt``).
  With checkpointing on, every run also gets ``LastCheckpointAtTrainEnd``: the last checkpoint holds
  the step training ended at, not the last periodic save before it (``every_n_train_steps``).
- ``AtomicCheckpointIO``: a single-file checkpoint is written to a temporary sibling, flushed to disk
  and renamed into place, so a run killed while saving leaves the previous ``last.ckpt`` intact.
  Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction, which stages the file in
  the system temp directory and moves it across filesystems (a copy that can be cut short) on
  clusters where ``/tmp`` is local and the run directory is shared. DeepSpeed checkpoints are
  directories written by DeepSpeed itself and do not pass through here.
- ``resolve_ckpt_path``: ``--ckpt_path last`` becomes the newest ``last*.ckpt`` where checkpoints of
  this configuration are written (the configured ``ModelCheckpoint`` ``dirpath``, else every
  ``version_N/checkpoints/`` of the CSV logger), or a ``ValueError`` naming where it looked — not
  Lightning's silent start from scratch. A path that does not exist, or a directory that is not a
  DeepSpeed checkpoint (or is one, under another strategy), is a ``ValueError`` too.
- ``run_dir_of_checkpoint``: the run directory a checkpoint belongs to (the one holding
  ``checkpoints/``), where ``test`` and ``predict`` then write.
"""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from fsspec.utils import get_protocol
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from pytorch_lightning.strategies import DeepSpeedStrategy, Strategy, StrategyRegistry

from lightning_bias.training.checkpoint_checksums import (
    HashingWriter,
    sidecar_of,
    verify_checkpoint,
    write_sidecar,
)
from lightning_bias.training.last_checkpoint_at_end import LastCheckpointAtTrainEnd

LAST = "last"
LIGHTNING_KEYWORDS = ("best", "hpc")
CHECKPOINTS_DIR = "checkpoints"
# DeepSpeed's save_checkpoint(dir, tag) writes dir/<tag>/*model_states.pt (one file per rank or model shard)
DEEPSPEED_SHARD_PATTERN = "*/*model_states.pt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local files are written to a temporary sibling and renamed into place.

    The file is created with mode 0666 less the umask (as ``open`` would), flushed and fsynced before
    the rename; remote (fsspec) paths keep Lightning's own writer. Its SHA-256, computed while writing,
    goes into the sidecar ``<name>.sha256`` after the rename (the old sidecar is removed first, so a kill
    in between leaves an unverified checkpoint, never a false mismatch); ``load_checkpoint`` verifies a
    local file against it first (``training.checkpoint_checksums``).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or get_protocol(str(path)) != "file":
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        # os.open with 0o666 lets the kernel apply the umask (and default ACLs); mkstemp would give 0600
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                hashing = HashingWriter(handle)
                torch.save(checkpoint, hashing)
                handle.flush()
                os.fsync(handle.fileno())
            sidecar_of(path).unlink(missing_ok=True)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        write_sidecar(path, hashing.sha256.hexdigest())

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if get_protocol(str(path)) == "file" and Path(path).is_file():
            verify_checkpoint(path)
        return super().load_checkpoint(path, *args, **kwargs)

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        if get_protocol(str(path)) == "file":
            sidecar_of(path).unlink(missing_ok=True)


def use_atomic_checkpoint_io(strategy: Strategy) -> None:
    """Give ``strategy`` an ``AtomicCheckpointIO`` where it has Lightning's default ``TorchCheckpointIO``.

    A checkpoint IO the user configured (a plugin or the strategy's own) is left alone.
    """
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()


def with_last_checkpoint(callbacks: list[Callback], enable_checkpointing: bool | None) -> list[Callback]:
    """``callbacks`` plus ``ModelCheckpoint(save_last=True)`` when none is configured, and with checkpointing on
    ``LastCheckpointAtTrainEnd`` (the last checkpoint also holds the final step, whatever the save interval).

    ``enable_checkpointing=None`` is the Trainer's default (on).
    """
    if enable_checkpointing is False:
        return callbacks
    at_end = [] if any(isinstance(c, LastCheckpointAtTrainEnd) for c in callbacks) else [LastCheckpointAtTrainEnd()]
    if any(isinstance(c, ModelCheckpoint) for c in callbacks):
        return [*callbacks, *at_end]
    return [*callbacks, ModelCheckpoint(save_last=True), *at_end]


def last_checkpoint_dirs(callbacks: Iterable[Callback], logger_root: str | Path) -> list[str]:
    """Where ``last*.ckpt`` files of this configuration are written, as glob patterns of directories.

    Args:
        callbacks: the trainer's callbacks; a ``ModelCheckpoint`` with a ``dirpath`` writes there.
        logger_root: the CSV logger's root (``<default_root_dir>/lightning_logs``), whose
            ``version_*/checkpoints`` a ``ModelCheckpoint`` without ``dirpath`` writes into.
    """
    checkpoint_callbacks = [c for c in callbacks if isinstance(c, ModelCheckpoint)]
    dirs = [glob.escape(str(c.dirpath)) for c in checkpoint_callbacks if c.dirpath is not None]
    if not checkpoint_callbacks or any(c.dirpath is None for c in checkpoint_callbacks):
        dirs.append(os.path.join(glob.escape(str(logger_root)), "version_*", CHECKPOINTS_DIR))
    return dirs


def _newest_last_checkpoint(dirs: Sequence[str], exception_checkpoints: Sequence[Path]) -> Path | None:
    """The most recently written ``last.ckpt`` / ``last-vN.ckpt`` (a file, or a DeepSpeed directory) in ``dirs``."""
    found = [p for p in exception_checkpoints if p.exists()]
    for pattern in dirs:
        candidates = (Path(p) for p in glob.glob(os.path.join(pattern, f"{LAST}*.ckpt")))
        found.extend(p for p in candidates if p.stem == LAST or p.stem.startswith(f"{LAST}-v"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def is_deepspeed_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a directory DeepSpeed saved a checkpoint into (``<tag>/*model_states.pt``)."""
    return path.is_dir() and any(path.glob(DEEPSPEED_SHARD_PATTERN))


def is_deepspeed_strategy(strategy: Any) -> bool:
    """Whether the trainer's ``strategy`` setting (a name or an instance) is a DeepSpeed strategy."""
    if isinstance(strategy, DeepSpeedStrategy):
        return True
    if isinstance(strategy, str) and strategy in StrategyRegistry:
        return issubclass(StrategyRegistry[strategy]["strategy"], DeepSpeedStrategy)
    return False


def resolve_ckpt_path(
    ckpt_path: str | Path | None, callbacks: Sequence[Callback], logger_root: str | Path, deepspeed: bool
) -> str | None:
    """``--ckpt_path`` as the checkpoint to load, or a ``ValueError`` saying what is wrong and where it looked.

    Args:
        ckpt_path: ``None``, ``"last"``, a Lightning keyword (``"best"``, ``"hpc"``, a registry name),
            or a path.
        callbacks: the trainer's callbacks (their ``ModelCheckpoint`` ``dirpath``s are searched for ``last``).
        logger_root: the CSV logger's root directory (its ``version_*/checkpoints`` are searched for ``last``).
        deepspeed: whether the run uses a DeepSpeed strategy (only then is a checkpoint directory loadable).

    Returns:
        ``None`` (start from scratch), a Lightning keyword unchanged, or the path of the checkpoint.
    """
    if ckpt_path is None:
        return None
    ckpt_path = str(ckpt_path)
    if ckpt_path == LAST:
        dirs = last_checkpoint_dirs(callbacks, logger_root)
        exception_checkpoints = [Path(c.ckpt_path) for c in callbacks if isinstance(c, OnExceptionCheckpoint)]
        newest = _newest_last_checkpoint(dirs, exception_checkpoints)
        if newest is None:
            looked = ", ".join(str(d) for d in dirs)
            raise ValueError(
                f"--ckpt_path last: no last checkpoint (last.ckpt) in {looked}; train first (`lightning_bias "
                "fit` writes checkpoints/last.ckpt in its run directory) or give the path of a checkpoint file"
            )
        return str(newest)
    registry = ckpt_path.lower() == "registry" or ckpt_path.lower().startswith("registry:")
    if ckpt_path in LIGHTNING_KEYWORDS or registry or get_protocol(ckpt_path) != "file":
        return ckpt_path  # Lightning resolves these itself
    path = Path(ckpt_path)
    if not path.exists():
        raise ValueError(f"--ckpt_path {path}: checkpoint not found; give the path of a .ckpt file, or `last`")
    if path.is_dir():
        if not is_deepspeed_checkpoint(path):
            inside = sorted(path.glob("*.ckpt")) + sorted(path.glob(f"{CHECKPOINTS_DIR}/*.ckpt"))
            hint = f" such as {inside[-1]}" if inside else ""
            raise ValueError(
                f"--ckpt_path {path} is a directory, not a checkpoint; give a checkpoint file{hint}"
                " (a directory is loadable only as a DeepSpeed checkpoint)"
            )
        if not deepspeed:
            raise ValueError(
                f"--ckpt_path {path} is a DeepSpeed checkpoint (a directory of shards); load it with the DeepSpeed "
                f"strategy it was saved with (configs/strategy/deepspeed_*.yaml), or consolidate it into one file "
                f"with `python {path}/zero_to_fp32.py {path} OUT_DIR`"
            )
    return str(path)


def run_dir_of_checkpoint(ckpt_path: str | Path | None) -> Path | None:
    """The run directory holding ``ckpt_path`` (``<run>/checkpoints/x.ckpt`` -> ``<run>``), else ``None``."""
    if ckpt_path is None or not Path(ckpt_path).exists():
        return None
    parent = Path(ckpt_path).absolute().parent
    return parent.parent if parent.name == CHECKPOINTS_DIR else None
