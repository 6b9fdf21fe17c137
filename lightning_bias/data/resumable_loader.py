"""Exact mid-epoch resume of a resumable sampler through Lightning checkpoints.

Why a DataLoader subclass and not a callback: Lightning 2.x never saves a sampler's state.
It saves ``state_dict()`` of a train *DataLoader* that has ``state_dict``/``load_state_dict``
(checkpoint key ``loops.fit_loop.combined_loader``) and, on resume, calls the loader's
``load_state_dict`` inside ``FitLoop.setup_data`` right before it creates the epoch's
iterator. That is the only hook early enough: a callback's ``on_load_checkpoint`` runs
before the loader exists, and ``on_train_start``/``on_train_epoch_start`` run after the
iterator was created (and, with ``num_workers > 0``, after the workers already pulled
``prefetch_factor * num_workers`` batches of indices from the sampler). Lightning also
skips ``on_train_epoch_start`` when it resumes mid-epoch.

The position saved is what the training loop *consumed*: the loader counts the batches its
iterator has returned (Lightning's fetcher does not read ahead on sized loaders), times the
batch size — not how many indices the sampler handed to prefetching workers. So the state
is exact with ``num_workers == 0`` and ``> 0``.

Usage (in a LightningDataModule)::

    sampler = DistributedWeightedSampler(weights, num_replicas=trainer.world_size,
                                         rank=trainer.global_rank, seed=seed)
    return ResumableDataLoader(dataset, batch_size=32, sampler=sampler, num_workers=2)

and ``Trainer(use_distributed_sampler=False)`` because the sampler shards by rank itself.
Rank 0's loader state is the one written; it is valid on every rank because all ranks have
the same epoch, seed and shard length and step in lockstep.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from torch.utils.data import DataLoader

__all__ = ["ResumableDataLoader", "ResumableSampler"]


@runtime_checkable
class ResumableSampler(Protocol):
    """A sampler that can restart mid-epoch (e.g. :class:`~lightning_bias.data.samplers.DistributedWeightedSampler`).

    ``state_dict()`` holds at least ``{"epoch", "num_yielded"}``; after ``load_state_dict`` the next
    iteration skips ``resume_offset`` indices of that epoch.
    """

    epoch: int

    @property
    def resume_offset(self) -> int: ...

    def __len__(self) -> int: ...

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _CountingIterator:
    """Wraps a DataLoader iterator and reports each returned batch to its loader."""

    def __init__(self, inner: Iterator[Any], loader: ResumableDataLoader) -> None:
        self._inner = inner
        self._loader = loader

    def __iter__(self) -> _CountingIterator:
        return self

    def __next__(self) -> Any:
        batch = next(self._inner)
        self._loader._batches_returned += 1
        return batch

    def __len__(self) -> int:
        return len(self._inner)


class ResumableDataLoader(DataLoader):
    """A ``torch.utils.data.DataLoader`` whose epoch position survives a Lightning checkpoint.

    Same arguments as ``DataLoader``; ``sampler`` must be a :class:`ResumableSampler` and
    ``batch_size`` must be set (no custom ``batch_sampler``), because the position is counted
    in batches of ``batch_size`` indices.

    ``state_dict()`` -> the sampler's state with ``num_yielded`` = indices this rank's training loop
    consumed in the sampler's current epoch. ``load_state_dict(state)`` makes the next iteration
    yield exactly the rest of that epoch; a state saved at the end of epoch ``e`` resumes at the
    start of epoch ``e + 1``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, ResumableSampler):
            hint = (
                " Lightning wrapped the sampler for DDP: run the Trainer with use_distributed_sampler=False, the "
                "sampler shards by rank itself."
                if "Distributed" in type(self.sampler).__name__
                else " Pass sampler=DistributedWeightedSampler(...), or use a plain DataLoader if exact mid-epoch "
                "resume is not needed."
            )
            raise ValueError(
                "ResumableDataLoader needs a resumable sampler (state_dict/load_state_dict/set_epoch/resume_offset), "
                f"got {type(self.sampler).__name__}.{hint}"
            )
        if self.batch_size is None:
            raise ValueError(
                "ResumableDataLoader counts its position in batches of batch_size indices; pass batch_size=... and "
                "sampler=... instead of a custom batch_sampler."
            )
        self._start_offset = 0  # indices of the current epoch skipped by this iteration (resume)
        self._batches_returned = 0
        self._position_epoch = self.sampler.epoch

    def __iter__(self) -> Iterator[Any]:
        # The sampler's pending offset is read now: its own __iter__ runs only when the first batch is fetched.
        self._start_offset = self.sampler.resume_offset
        self._position_epoch = self.sampler.epoch
        self._batches_returned = 0
        return _CountingIterator(super().__iter__(), self)

    @property
    def consumed_indices(self) -> int:
        """Indices of the sampler's current epoch that this loader's consumer has received."""
        if self.sampler.epoch != self._position_epoch:
            return 0  # set_epoch moved to a new epoch that has not started yet
        consumed = self._start_offset + self._batches_returned * self.batch_size
        return min(consumed, len(self.sampler))

    def state_dict(self) -> dict[str, Any]:
        """The sampler's ``state_dict()`` with ``num_yielded`` replaced by :attr:`consumed_indices`."""
        state = dict(self.sampler.state_dict())
        state["epoch"] = self.sampler.epoch
        state["num_yielded"] = self.consumed_indices
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the sampler so the next iteration continues where ``state`` was taken."""
        state = dict(state)
        if int(state.get("num_yielded", 0)) >= len(self.sampler):
            # The epoch was finished: Lightning continues with the next one.
            state["epoch"] = int(state["epoch"]) + 1
            state["num_yielded"] = 0
        self.sampler.load_state_dict(state)
        self._start_offset = self.sampler.resume_offset
        self._position_epoch = self.sampler.epoch
        self._batches_returned = 0
