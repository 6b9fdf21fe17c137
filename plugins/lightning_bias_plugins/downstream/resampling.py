"""Resampling: every epoch, a fresh draw of the train split that balances groups within each label.

Methods (``n_{y,g}`` = rows of label ``y`` and group ``g``; groups absent from a label are left out
of that label's balancing, since no resampling can create them):

- ``undersample``: per label, every group down to the label's smallest group,
  ``m_y = min_g n_{y,g}`` rows per group, drawn *without* replacement inside each (label, group) cell;
- ``oversample``: per label, every group up to the label's largest group, ``M_y = max_g n_{y,g}``:
  each row of a cell ``floor(M_y / n)`` times plus ``M_y mod n`` distinct extra rows;
- ``balanced``: ``num_samples`` rows (default: the table size) drawn *with* replacement, with
  probabilities proportional to a reweighting scheme (``kamiran_calders`` by default: the epoch's
  expected P(label, group) is P(label) P(group)).

How the draw is made. All three return a
:class:`~lightning_bias.data.samplers.DistributedWeightedSampler`, so every rank computes the same global
draw of an epoch from ``(seed, epoch)`` with no communication and keeps the disjoint shard
``draw[rank::num_replicas]``; ``set_epoch`` redraws, and ``state_dict``/``load_state_dict`` resume
mid-epoch. ``balanced`` is that sampler as is. ``undersample`` and ``oversample`` use
:class:`StratifiedEpochSampler`, a subclass whose epoch draw has *exactly* the target count in every
(label, group) cell — a plain weighted draw only has it in expectation — then is shuffled; its
``weights`` are each row's expected appearances per epoch. The draw is padded with its own first
rows up to a multiple of the world size (fewer than ``num_replicas`` repeats) so every rank runs the
same number of steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import datasets
import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.data.samplers import DistributedWeightedSampler
from lightning_bias.mitigation import Mitigation
from lightning_bias_plugins.downstream.group_label_counts import display_names, label_group_counts
from lightning_bias_plugins.downstream.reweighting import SCHEMES, Scheme, row_weights

Method = Literal["undersample", "oversample", "balanced"]
METHODS: tuple[str, ...] = ("undersample", "oversample", "balanced")


def cell_targets(counts: np.ndarray, method: Literal["undersample", "oversample"]) -> np.ndarray:
    """Rows per epoch of every (label, group) cell: ``[L, G]`` int64 from ``[L, G]`` counts.

    Within each label, every non-empty cell gets the smallest (``undersample``) or largest
    (``oversample``) non-empty count of that label; empty cells stay 0.
    """
    if method not in ("undersample", "oversample"):
        raise ValueError(f"resampling: cell targets are defined for undersample/oversample, not {method!r}")
    targets = np.zeros_like(counts, dtype=np.int64)
    for y, row in enumerate(counts):
        present = row > 0
        if present.any():
            level = row[present].min() if method == "undersample" else row[present].max()
            targets[y, present] = level
    return targets


class StratifiedEpochSampler(DistributedWeightedSampler):
    """An epoch draw with an exact number of rows per (label, group) cell, sharded across ranks.

    Args:
        cells: the row indices of each non-empty cell (1-D int64 tensors; disjoint).
        targets: rows to draw from each cell per epoch, aligned with ``cells``. A target up to the
            cell size draws distinct rows; a larger one repeats the cell ``target // size`` times and
            adds ``target % size`` distinct rows.
        num_rows: size of the table the indices point into.
        num_replicas, rank, seed: as for ``DistributedWeightedSampler`` (epoch ``e`` draws with ``seed + e``).

    ``weights[i]`` is the expected number of appearances of row ``i`` per epoch.
    """

    def __init__(
        self,
        cells: Sequence[torch.Tensor],
        targets: Sequence[int],
        num_rows: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
    ) -> None:
        if len(cells) != len(targets):
            raise ValueError(f"StratifiedEpochSampler: {len(cells)} cells but {len(targets)} targets")
        expected = torch.zeros(num_rows, dtype=torch.float64)
        for rows, target in zip(cells, targets, strict=True):
            if len(rows) == 0 or target < 0:
                raise ValueError("StratifiedEpochSampler: every cell needs rows and a non-negative target")
            expected[rows] = target / len(rows)
        super().__init__(
            expected, num_samples=int(sum(targets)), num_replicas=num_replicas, rank=rank,
            replacement=True, seed=seed,
        )
        self.cells = [torch.as_tensor(rows, dtype=torch.int64) for rows in cells]
        self.targets = [int(t) for t in targets]

    def global_draw(self, epoch: int | None = None) -> torch.Tensor:
        """The epoch's draw shared by all ranks: exact cell counts, shuffled, padded to ``total_size``."""
        epoch = self.epoch if epoch is None else epoch
        generator = torch.Generator().manual_seed(self.seed + epoch)
        parts = []
        for rows, target in zip(self.cells, self.targets, strict=True):
            copies, extra = divmod(target, len(rows))
            parts.extend([rows] * copies)
            parts.append(rows[torch.randperm(len(rows), generator=generator)[:extra]])
        draw = torch.cat(parts)
        draw = draw[torch.randperm(len(draw), generator=generator)]
        padding = self.total_size - len(draw)
        return torch.cat([draw, draw[:padding]]) if padding else draw


class Resampling(Mitigation):
    """Epoch-level resampling of the train split: undersample, oversample or a balanced weighted draw.

    Args:
        method: ``"undersample"`` (default), ``"oversample"`` or ``"balanced"`` (see the module docstring).
        scheme: for ``balanced``, the reweighting scheme whose weights are the draw probabilities
            (``kamiran_calders``, ``inverse_group`` or ``inverse_label_group``).
        num_samples: for ``balanced``, rows drawn per epoch (default: the train table's size).

    The train table itself is not changed; the framework builds one sampler per rank from it.
    After ``sampler`` ran, ``self.summary`` maps label -> group -> rows per epoch (expected rows
    for ``balanced``).
    """

    stage = "downstream"

    def __init__(self, method: Method = "undersample", scheme: Scheme = "kamiran_calders",
                 num_samples: int | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"resampling: unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if scheme not in SCHEMES:
            raise ValueError(f"resampling: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
        if num_samples is not None:
            if method != "balanced":
                raise ValueError(
                    f"resampling: num_samples applies to method 'balanced' only; {method!r} draws exactly the "
                    "balanced row count per (label, group) — drop num_samples or use method: balanced"
                )
            if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
                raise ValueError(f"resampling: num_samples must be a positive integer, got {num_samples!r}")
        self.method = method
        self.scheme = scheme
        self.num_samples = num_samples
        self.summary: dict[str, dict[str, float]] = {}

    def sampler(self, table: datasets.Dataset, num_replicas: int, rank: int, seed: int) -> DistributedWeightedSampler:
        """This rank's sampler over ``table`` (indices into it); same global draw on every rank."""
        counts = label_group_counts(table)
        if self.method == "balanced":
            weights = row_weights(table, self.scheme)
            num_samples = self.num_samples or len(table)
            sampler: DistributedWeightedSampler = DistributedWeightedSampler(
                weights, num_samples=num_samples, num_replicas=num_replicas, rank=rank, replacement=True, seed=seed,
            )
            expected = self._expected_cells(table, weights * num_samples / weights.sum())
        else:
            targets = cell_targets(counts, self.method)
            labels = np.asarray(table["label"], dtype=np.int64)
            groups = np.asarray(table["group"], dtype=np.int64)
            cell_of_row = labels * counts.shape[1] + groups
            order = np.argsort(cell_of_row, kind="stable")
            boundaries = np.cumsum(counts.ravel())
            cells, cell_targets_list = [], []
            for flat, rows in enumerate(np.split(order, boundaries[:-1])):
                if len(rows):
                    cells.append(torch.from_numpy(rows))
                    cell_targets_list.append(int(targets.ravel()[flat]))
            sampler = StratifiedEpochSampler(cells, cell_targets_list, len(table), num_replicas, rank, seed)
            expected = targets.astype(np.float64)
        self.summary = self._named(table, expected)
        rank_zero_info(
            f"resampling ({self.method}): {int(round(expected.sum()))} rows per epoch of {len(table)}; "
            f"per label/group {self.summary}"
        )
        return sampler

    @staticmethod
    def _expected_cells(table: datasets.Dataset, expected_rows: np.ndarray) -> np.ndarray:
        counts = label_group_counts(table)
        cells = np.zeros(counts.shape, dtype=np.float64)
        np.add.at(cells, (np.asarray(table["label"]), np.asarray(table["group"])), expected_rows)
        return cells

    @staticmethod
    def _named(table: datasets.Dataset, cells: np.ndarray) -> dict[str, dict[str, float]]:
        label_names, group_names = display_names(table, "label"), display_names(table, "group")
        return {
            label: {group: round(float(cells[y, g]), 2) for g, group in enumerate(group_names) if cells[y, g] > 0}
            for y, label in enumerate(label_names)
        }
