"""Distributed-aware samplers: weighted resampling, unpadded evaluation, and length-grouped training order.

``DistributedWeightedSampler`` draws ``num_samples`` indices with probability proportional to
per-example weights. Every rank computes the *same* global draw on its own (a CPU
``torch.Generator`` seeded with ``seed + epoch``, no communication) and keeps the disjoint
shard ``draw[rank::num_replicas]``. The draw is rounded up to a multiple of ``num_replicas``
so every rank yields the same number of indices (DDP needs equal step counts).

``UnpaddedDistributedSampler`` splits ``range(dataset_len)`` into disjoint strided shards
without padding, so an evaluation under DDP counts every example exactly once.

``LengthGroupedSampler`` orders training rows so that each batch holds rows of similar length; like the
weighted sampler, it resumes mid-epoch exactly.

Under Lightning, these samplers already shard by rank: pass ``num_replicas``/``rank``
yourself (``trainer.world_size`` / ``trainer.global_rank``) and run the Trainer with
``use_distributed_sampler=False``. Otherwise Lightning wraps the sampler in its own
``DistributedSamplerWrapper`` and each rank would see a shard of a shard. For exact
mid-epoch resume of the weighted sampler, build the train loader with
:class:`lightning_bias.data.resumable_loader.ResumableDataLoader`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

__all__ = ["DistributedWeightedSampler", "LengthGroupedSampler", "UnpaddedDistributedSampler"]


def _validate_replica(num_replicas: int, rank: int) -> None:
    if not isinstance(num_replicas, int) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}.")
    if not isinstance(rank, int) or not 0 <= rank < num_replicas:
        raise ValueError(
            f"rank must be an integer in [0, {num_replicas - 1}] (num_replicas={num_replicas}), got {rank!r}."
        )


def _validated_weights(weights: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Return ``weights`` as a 1-D float64 CPU tensor, raising ValueError on the first bad entry."""
    tensor = torch.as_tensor(weights).detach().to(device="cpu", dtype=torch.float64)
    if tensor.dim() != 1:
        raise ValueError(f"weights must be 1-D (one weight per example), got shape {tuple(tensor.shape)}.")
    if tensor.numel() == 0:
        raise ValueError("weights is empty: need one non-negative weight per example.")
    not_finite = (~torch.isfinite(tensor)).nonzero()
    if not_finite.numel():
        index = int(not_finite[0])
        raise ValueError(
            f"weights[{index}] = {tensor[index].item()} is not finite; every weight must be a finite number >= 0."
        )
    negative = (tensor < 0).nonzero()
    if negative.numel():
        index = int(negative[0])
        raise ValueError(f"weights[{index}] = {tensor[index].item()} is negative; every weight must be >= 0.")
    if not bool((tensor > 0).any()):
        raise ValueError(
            f"all {tensor.numel()} weights are zero; at least one example needs a positive weight."
        )
    return tensor



def checked_resume_state(state: dict[str, Any], seed: int, length: int, resumes: str, other_setting: str) -> tuple[int, int]:
    """``(epoch, num_yielded)`` of a sampler's saved ``state_dict()``, checked against this sampler's ``seed`` and
    its per-rank ``length``; a mismatch is a ``ValueError`` saying how to resume ``resumes`` (what the seed
    reproduces) or which ``other_setting`` it was probably saved with."""
    missing = {"epoch", "num_yielded", "seed"} - set(state)
    if missing:
        raise ValueError(f"sampler state is missing keys {sorted(missing)}; expected the dict from state_dict().")
    if int(state["seed"]) != seed:
        raise ValueError(
            f"sampler state was saved with seed={state['seed']} but this sampler has seed={seed}; "
            f"build the sampler with seed={state['seed']} to resume {resumes}."
        )
    num_yielded = int(state["num_yielded"])
    if not 0 <= num_yielded <= length:
        raise ValueError(
            f"sampler state has num_yielded={num_yielded}, outside [0, {length}] for this sampler; "
            f"was it saved with {other_setting}?"
        )
    return int(state["epoch"]), num_yielded

class DistributedWeightedSampler(Sampler[int]):
    """Weighted random sampling, sharded across ranks, deterministic per ``(seed, epoch)``.

    Args:
        weights: one non-negative finite weight per dataset example, shape ``(N,)``; need not sum to 1.
        num_samples: size of the global draw per epoch (default ``N``). It is rounded up to a multiple
            of ``num_replicas``; each rank yields ``ceil(num_samples / num_replicas)`` indices.
        num_replicas: number of ranks sharing the draw (world size).
        rank: this rank, in ``[0, num_replicas)``.
        replacement: draw with replacement (oversampling possible). Without replacement the rounded
            draw must not exceed the number of non-zero weights.
        seed: base seed; epoch ``e`` uses ``seed + e``. Must be the same on every rank.

    Yields:
        dataset indices (``int``) of this rank's shard, ``draw[rank::num_replicas]``.

    Resume: ``state_dict()`` returns ``{"epoch", "num_yielded", "seed"}``; a new sampler after
    ``load_state_dict(state)`` yields exactly the rest of that epoch's shard, then full epochs again.
    """

    def __init__(
        self,
        weights: Sequence[float] | torch.Tensor,
        num_samples: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        replacement: bool = True,
        seed: int = 0,
    ) -> None:
        _validate_replica(num_replicas, rank)
        self.weights = _validated_weights(weights)
        if num_samples is None:
            num_samples = self.weights.numel()
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
        self.num_replicas = num_replicas
        self.rank = rank
        self.replacement = bool(replacement)
        self.seed = int(seed)
        self.num_samples = num_samples
        self.shard_length = math.ceil(num_samples / num_replicas)
        self.total_size = self.shard_length * num_replicas
        if not self.replacement:
            nonzero = int((self.weights > 0).sum())
            if self.total_size > nonzero:
                rounded = (
                    f" (num_samples={num_samples} rounded up to a multiple of num_replicas={num_replicas})"
                )
                raise ValueError(
                    f"Sampling without replacement needs at most one draw per non-zero weight, but the draw has "
                    f"{self.total_size} indices{rounded if self.total_size != num_samples else ''} and only {nonzero} "
                    f"weights are non-zero. Lower num_samples or use replacement=True."
                )
        self._last_positive = int((self.weights > 0).nonzero()[-1])
        self.epoch = 0
        self._num_yielded = 0
        self._resume_offset = 0

    def __len__(self) -> int:
        return self.shard_length

    def set_epoch(self, epoch: int) -> None:
        """Select the draw of ``epoch``; a pending resume position is kept only if ``epoch`` is unchanged."""
        if epoch != self.epoch:
            self._resume_offset = 0
        self.epoch = int(epoch)

    @property
    def resume_offset(self) -> int:
        """Indices of the current epoch the next iteration skips (set by ``load_state_dict``, else 0)."""
        return self._resume_offset

    def global_draw(self, epoch: int | None = None) -> torch.Tensor:
        """The full draw of ``epoch`` (default: the current one) shared by all ranks, shape ``(total_size,)`` int64."""
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed(self.seed + epoch)
        if self.replacement:
            # Inverse-CDF sampling: no category-count limit (torch.multinomial caps at 2**24).
            cumulative = torch.cumsum(self.weights, dim=0)
            uniforms = torch.rand(self.total_size, generator=generator, dtype=torch.float64) * cumulative[-1]
            draw = torch.searchsorted(cumulative, uniforms, right=True)
            # Zero-weight rows have zero width so are never hit; the clamp guards float round-off at the top end.
            return draw.clamp_(max=self._last_positive)
        # Efraimidis-Spirakis: the k smallest Exp(1)/w keys are a weighted draw without replacement.
        keys = torch.empty_like(self.weights).exponential_(generator=generator) / self.weights
        return torch.argsort(keys)[: self.total_size]

    def __iter__(self) -> Iterator[int]:
        start = self._resume_offset
        self._resume_offset = 0  # the next iteration is a full epoch again
        shard = self.global_draw()[self.rank :: self.num_replicas][start:].tolist()
        self._num_yielded = start
        for index in shard:
            self._num_yielded += 1
            yield index

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "num_yielded", "seed"}``: ``num_yielded`` counts this rank's indices yielded this epoch."""
        return {"epoch": self.epoch, "num_yielded": self._num_yielded, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration yields epoch ``state["epoch"]`` from position ``state["num_yielded"]``."""
        self.epoch, self._resume_offset = checked_resume_state(
            state, self.seed, self.shard_length, "the same sequence", "a different num_samples or num_replicas")
        self._num_yielded = self._resume_offset


class UnpaddedDistributedSampler(Sampler[int]):
    """Evaluation sampler: rank ``r`` gets ``range(r, dataset_len, num_replicas)`` — disjoint, no padding.

    Shard lengths differ by at most one, and their union is exactly ``range(dataset_len)``, so every
    example is evaluated once under DDP. Ranks may therefore run different numbers of batches:
    aggregate metrics with a synced ``torchmetrics.Metric`` at epoch end, not per-step collectives.

    Args:
        dataset_len: number of examples ``N`` (>= 0).
        num_replicas: world size.
        rank: this rank, in ``[0, num_replicas)``.
    """

    def __init__(self, dataset_len: int, num_replicas: int = 1, rank: int = 0) -> None:
        _validate_replica(num_replicas, rank)
        if not isinstance(dataset_len, int) or dataset_len < 0:
            raise ValueError(f"dataset_len must be a non-negative integer, got {dataset_len!r}.")
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank

    def __len__(self) -> int:
        return len(range(self.rank, self.dataset_len, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.dataset_len, self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        """No-op (the order is fixed); present so Lightning's ``set_epoch`` calls are harmless."""


class LengthGroupedSampler(Sampler[int]):
    """Shuffled order in which each run of ``batch_size`` indices has similar lengths; resumes mid-epoch exactly.

    Indices are shuffled (seed + epoch), cut into mega-batches of ``50 * batch_size * num_replicas``, each
    sorted by length, longest first, then cut into batches dealt to the ranks in turn. With several ranks
    every rank yields the same count (the last batches wrap around to the start, as ``DistributedSampler``
    pads); one rank yields each row once. Set the epoch with ``set_epoch`` as with ``DistributedSampler``.

    Padding to the longest row of a batch then costs little, which is what makes dynamic padding fast on
    texts of varied length (benchmarks/README.md). Resume: as :class:`DistributedWeightedSampler`,
    ``state_dict()`` is ``{"epoch", "num_yielded", "seed"}`` and after ``load_state_dict`` the next
    iteration yields exactly the rest of that epoch, so it works with ``ResumableDataLoader``.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, num_replicas: int = 1, rank: int = 0, seed: int = 0
    ) -> None:
        _validate_replica(num_replicas, rank)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.lengths = torch.as_tensor(lengths)
        if self.lengths.numel() == 0:
            raise ValueError("lengths is empty: need one length per example.")
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = int(seed)
        self.epoch = 0
        if num_replicas == 1:
            self.num_samples = len(self.lengths)
        else:  # whole batches per rank, the same count on every rank (wrapping pads the last ones)
            self.num_samples = math.ceil(len(self.lengths) / (batch_size * num_replicas)) * batch_size
        self._num_yielded = 0
        self._resume_offset = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``; a pending resume position is kept only if ``epoch`` is unchanged."""
        if epoch != self.epoch:
            self._resume_offset = 0
        self.epoch = int(epoch)

    @property
    def resume_offset(self) -> int:
        """Indices of the current epoch the next iteration skips (set by ``load_state_dict``, else 0)."""
        return self._resume_offset

    def __len__(self) -> int:
        return self.num_samples

    def epoch_order(self, epoch: int | None = None) -> torch.Tensor:
        """This rank's indices for ``epoch`` (default: the current one), shape ``(num_samples,)`` int64."""
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        mega = 50 * self.batch_size * self.num_replicas
        chunks = [order[i : i + mega] for i in range(0, len(order), mega)]
        ordered = torch.cat([c[torch.argsort(self.lengths[c], descending=True, stable=True)] for c in chunks])
        total = self.num_samples * self.num_replicas
        if total > len(ordered):  # pad by wrapping so every rank yields the same count
            ordered = torch.cat([ordered, ordered[: total - len(ordered)]])
        # consecutive blocks of batch_size per rank keep each batch's lengths together
        blocks = ordered.split(self.batch_size)
        return torch.cat([b for i, b in enumerate(blocks) if i % self.num_replicas == self.rank])

    def __iter__(self) -> Iterator[int]:
        start = self._resume_offset
        self._resume_offset = 0  # the next iteration is a full epoch again
        self._num_yielded = start
        for index in self.epoch_order()[start:].tolist():
            self._num_yielded += 1
            yield index

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "num_yielded", "seed"}``: ``num_yielded`` counts this rank's indices yielded this epoch."""
        return {"epoch": self.epoch, "num_yielded": self._num_yielded, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration yields epoch ``state["epoch"]`` from position ``state["num_yielded"]``."""
        self.epoch, self._resume_offset = checked_resume_state(
            state, self.seed, self.num_samples, "the same order", "other data, batch_size or num_replicas")
        self._num_yielded = self._resume_offset
