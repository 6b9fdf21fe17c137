"""Reweighting: per-example loss weights that make label and group independent in the weighted data.

Schemes, for a row with label ``y`` and group ``g`` (``n_y``, ``n_g``, ``n_{y,g}`` row counts of the
train table, ``N`` its size):

- ``kamiran_calders`` (Kamiran & Calders 2012): ``w = P(y) P(g) / P(y, g) = n_y n_g / (n_{y,g} N)``;
  under these weights P(y, g) = P(y) P(g) and the label and group marginals are unchanged;
- ``inverse_group``: ``w = N / (G n_g)`` with ``G`` the number of groups present; every group gets the
  same total weight;
- ``inverse_label_group``: ``w = N / (K n_{y,g})`` with ``K`` the number of non-empty (label, group)
  cells; every cell gets the same total weight;
- ``column``: the weights stored in a numeric column of the table (``column=...``).

The weights are normalised to mean 1, so the loss keeps its scale. With ``clip_max`` they are then
clipped at ``clip_max`` and renormalised to mean 1 again: clipping lowers the mean, so after the
renormalisation the largest weight can end slightly above ``clip_max`` (by the factor
``1 / mean(clipped)``); it bounds the spread of the weights, not their exact maximum.
"""

from __future__ import annotations

from typing import Literal

import datasets
import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.mitigation import Mitigation
from lightning_bias_plugins.downstream.group_label_counts import display_names, label_group_counts

Scheme = Literal["kamiran_calders", "inverse_group", "inverse_label_group"]
SCHEMES: tuple[str, ...] = ("kamiran_calders", "inverse_group", "inverse_label_group")


def cell_weights(counts: np.ndarray, scheme: Scheme) -> np.ndarray:
    """Weight of one row in each (label, group) cell, before normalisation.

    Args:
        counts: ``[L, G]`` row counts per (label, group).
        scheme: one of :data:`SCHEMES`.

    Returns:
        ``[L, G]`` float64 weights; empty cells get 0.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"reweighting: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)} or give column=")
    counts = counts.astype(np.float64)
    total = counts.sum()
    occupied = counts > 0
    weights = np.zeros_like(counts)
    if scheme == "kamiran_calders":
        expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total
        weights[occupied] = expected[occupied] / counts[occupied]
    elif scheme == "inverse_group":
        per_group = counts.sum(axis=0)
        present = int((per_group > 0).sum())
        group_weight = np.divide(total, present * per_group, out=np.zeros_like(per_group), where=per_group > 0)
        weights = np.broadcast_to(group_weight, counts.shape).copy() * occupied
    else:
        weights[occupied] = total / (int(occupied.sum()) * counts[occupied])
    return weights


def normalise(weights: np.ndarray, clip_max: float | None = None) -> np.ndarray:
    """Scale ``weights`` to mean 1; with ``clip_max``, clip at it and scale to mean 1 again."""
    weights = weights / weights.mean()
    if clip_max is not None:
        weights = np.minimum(weights, clip_max)
        weights = weights / weights.mean()
    return weights


def row_weights(table: datasets.Dataset, scheme: Scheme, clip_max: float | None = None) -> np.ndarray:
    """Per-row weights of ``table`` under ``scheme``, normalised to mean 1 (see the module docstring).

    Returns a float64 array of shape ``[len(table)]``.
    """
    cells = cell_weights(label_group_counts(table), scheme)
    labels = np.asarray(table["label"], dtype=np.int64)
    groups = np.asarray(table["group"], dtype=np.int64)
    return normalise(cells[labels, groups], clip_max)


def column_weights(table: datasets.Dataset, column: str, clip_max: float | None = None) -> np.ndarray:
    """The numeric ``column`` of ``table`` as weights, checked and normalised to mean 1."""
    if column not in table.column_names:
        raise ValueError(
            f"reweighting: weight column {column!r} is not in the train table (columns: {', '.join(table.column_names)})"
        )
    try:
        values = np.asarray(table[column], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"reweighting: weight column {column!r} is not numeric: {err}") from err
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        raise ValueError(
            f"reweighting: weight column {column!r} has value {values[bad[0]]} at row {bad[0]}; "
            "weights must be finite and non-negative"
        )
    if not values.sum() > 0:
        raise ValueError(f"reweighting: weight column {column!r} is all zero; no row would contribute to the loss")
    return normalise(values, clip_max)


class Reweighting(Mitigation):
    """Per-example loss weights that decouple label and group (Kamiran-Calders and inverse-frequency schemes).

    Args:
        scheme: ``"kamiran_calders"`` (default), ``"inverse_group"`` or ``"inverse_label_group"``;
            ignored when ``column`` is given.
        column: take the weights from this numeric column of the train table instead.
        clip_max: clip the mean-1 weights at this value, then renormalise to mean 1 (so the largest
            weight can end slightly above it). Must be at least 1.

    After ``sample_weights`` ran, ``self.summary`` holds the weight of each (label, group) cell.
    """

    stage = "downstream"

    def __init__(self, scheme: Scheme = "kamiran_calders", column: str | None = None,
                 clip_max: float | None = None) -> None:
        if column is None and scheme not in SCHEMES:
            raise ValueError(f"reweighting: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)} or give column=")
        if clip_max is not None and not clip_max >= 1.0:
            raise ValueError(
                f"reweighting: clip_max must be at least 1 (weights have mean 1), got {clip_max}"
            )
        self.scheme = scheme
        self.column = column
        self.clip_max = clip_max
        self.summary: dict[str, dict[str, float]] = {}

    def sample_weights(self, table: datasets.Dataset) -> torch.Tensor:
        """One weight per row of the train table, mean 1: a float64 tensor of shape ``[len(table)]``."""
        if self.column is not None:
            weights = column_weights(table, self.column, self.clip_max)
        else:
            weights = row_weights(table, self.scheme, self.clip_max)
        self.summary = self._cell_summary(table, weights)
        rank_zero_info(f"reweighting ({self.column or self.scheme}): weight per label/group {self.summary}")
        return torch.from_numpy(weights)

    @staticmethod
    def _cell_summary(table: datasets.Dataset, weights: np.ndarray) -> dict[str, dict[str, float]]:
        """Mean weight per (label, group) cell, by name, rounded for the log."""
        labels = np.asarray(table["label"], dtype=np.int64)
        groups = np.asarray(table["group"], dtype=np.int64)
        label_names, group_names = display_names(table, "label"), display_names(table, "group")
        summary: dict[str, dict[str, float]] = {}
        for y, label in enumerate(label_names):
            for g, group in enumerate(group_names):
                rows = (labels == y) & (groups == g)
                if rows.any():
                    summary.setdefault(label, {})[group] = round(float(weights[rows].mean()), 4)
        return summary
