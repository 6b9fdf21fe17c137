"""Exact resume: random-number generator states travel in checkpoints, one set per rank.

A run restarted from a mid-epoch checkpoint continues exactly like the uninterrupted run only if
three things are restored: the weights and optimizer (Lightning does it), the position in the
epoch's data order (``lightning_bias.data.resumable_loader.ResumableDataLoader``), and the random
draws still to come — dropout masks above all. Lightning does not save random-number generator
states, so a resumed run draws different dropout masks and ends with different weights.

``ExactResume`` is a Lightning callback that saves, in every checkpoint, the states of torch (CPU
and CUDA), NumPy and Python ``random`` of every rank (ranks draw different amounts when their
batches differ in length), and restores each rank's own states right before the first training
batch after a resume when the checkpoint was taken mid-epoch — not at load time, because the
resumed run creates its data iterators (each draws from torch's generator) after loading, while
the uninterrupted run created them before the checkpoint. A checkpoint taken at the end of an
epoch is restored at load time, since both runs then create the next epoch's iterators after it.

It also re-applies the saved position of the training data loader (when the loader has
``state_dict``/``load_state_dict``, as ``ResumableDataLoader`` does) in ``on_train_start``. Lightning
restores that position itself only when the train loader is first built by the fit loop; a
``configure_optimizers`` that reads ``trainer.estimated_stepping_batches`` (for a schedule) builds
it earlier, and Lightning then silently starts the epoch from its first batch. Re-applying the
same state is harmless where Lightning did restore it.

Exactness also needs ``trainer.deterministic: true`` and the same world size as the saved run.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import Callback


def capture_rng_states() -> dict[str, Any]:
    """This process's generator states, as tensors and plain numbers (loadable with ``weights_only``).

    Returns ``{"torch": ByteTensor, "cuda": [ByteTensor per device], "numpy": {...}, "python": {...}}``.
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position), "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Set this process's generators to ``states`` from :func:`capture_rng_states`."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy_state = states["numpy"]
    np.random.set_state((
        numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"],
        numpy_state["has_gauss"], numpy_state["cached_gaussian"],
    ))
    python_state = states["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"].tolist()), python_state["gauss_next"]))


class ExactResume(Callback):
    """Save every rank's generator states in checkpoints; restore them where a resumed run continues.

    The checkpoint entry (``callbacks["ExactResume"]``) is ``{"world_size": W, "mid_epoch": bool,
    "rng": [states of rank 0..W-1], "train_loader": loader state or None}``.
    Saving gathers the states of all ranks (a collective: every rank saves checkpoints together, as
    Lightning's checkpointing does).
    """

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._pending: dict[str, Any] | None = None
        self._pending_loader: dict[str, Any] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        mine = capture_rng_states()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            every_rank: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(every_rank, mine)
        else:
            every_rank = [mine]
        return {
            "world_size": len(every_rank), "mid_epoch": self._mid_epoch(), "rng": every_rank,
            "train_loader": self._train_loader_state(),
        }

    def _stateful_train_loader(self) -> Any | None:
        loader = self._trainer.train_dataloader if self._trainer is not None else None
        stateful = hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict")
        return loader if stateful else None

    def _train_loader_state(self) -> dict[str, Any] | None:
        loader = self._stateful_train_loader()
        return loader.state_dict() if loader is not None else None

    def _mid_epoch(self) -> bool:
        trainer = self._trainer
        if trainer is None or not trainer.training:
            return False
        epoch_loop = trainer.fit_loop.epoch_loop
        return not epoch_loop.batch_progress.is_last_batch

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        trainer = self._trainer
        rank = trainer.global_rank if trainer is not None else 0
        world_size = trainer.world_size if trainer is not None else 1
        saved = int(state_dict.get("world_size", 0))
        if saved != world_size:
            warnings.warn(
                f"ExactResume: the checkpoint was saved by {saved} rank(s) and this run has {world_size}; random "
                "draws (dropout) will differ from the uninterrupted run, so the resumed run is not exact",
                UserWarning,
                stacklevel=2,
            )
            return
        self._pending_loader = state_dict.get("train_loader")
        if state_dict.get("mid_epoch", True):
            self._pending = state_dict["rng"][rank]
        else:
            restore_rng_states(state_dict["rng"][rank])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending_loader is not None:
            loader = self._stateful_train_loader()
            if loader is not None:
                loader.load_state_dict(self._pending_loader)
            self._pending_loader = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            restore_rng_states(self._pending)
            self._pending = None
