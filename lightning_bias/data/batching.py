"""Turning tokenized rows into batches: dynamic padding and length-grouped order."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler


class PaddingCollator:
    """Pad ``input_ids`` to the longest row of the batch; stack labels, groups and weights.

    Rows are dicts with ``input_ids`` (list of ints), ``label``, ``group`` and optionally
    ``weight``. The batch holds ``input_ids`` and ``attention_mask`` ``[B, T]``, ``labels`` and
    ``groups`` ``[B]`` (long), ``weights`` ``[B]`` (float) when rows carry one.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(row["input_ids"]) for row in rows)
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, row in enumerate(rows):
            ids = row["input_ids"]
            input_ids[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[i, : len(ids)] = 1
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": torch.tensor([row["label"] for row in rows], dtype=torch.long),
            "groups": torch.tensor([row["group"] for row in rows], dtype=torch.long),
        }
        if "weight" in rows[0]:
            batch["weights"] = torch.tensor([row["weight"] for row in rows], dtype=torch.float32)
        return batch


class LengthGroupedSampler(Sampler[int]):
    """Shuffled order in which each run of ``batch_size`` indices has similar lengths.

    Indices are shuffled (seed + epoch), cut into mega-batches of ``50 * batch_size``, each sorted
    by length, then cut into batches dealt to the ranks in turn; every rank yields the same count
    (the last batches wrap around to the start, as ``DistributedSampler`` pads). Set the
    epoch with ``set_epoch`` as with ``DistributedSampler``.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, num_replicas: int = 1, rank: int = 0, seed: int = 0
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        # whole batches per rank, the same count on every rank (wrapping pads the last ones)
        per_step = batch_size * num_replicas
        self.num_samples = math.ceil(len(self.lengths) / per_step) * batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        mega = 50 * self.batch_size * self.num_replicas
        chunks = [order[i : i + mega] for i in range(0, len(order), mega)]
        ordered = torch.cat([c[torch.argsort(self.lengths[c], descending=True, stable=True)] for c in chunks])
        total = self.num_samples * self.num_replicas
        if total > len(ordered):  # pad by wrapping so every rank yields the same count
            ordered = torch.cat([ordered, ordered[: total - len(ordered)]])
        # consecutive blocks of batch_size per rank keep each batch's lengths together
        blocks = ordered.split(self.batch_size)
        mine = [b for i, b in enumerate(blocks) if i % self.num_replicas == self.rank]
        return iter(torch.cat(mine).tolist())
