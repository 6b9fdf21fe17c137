"""Co-occurrence control: set P(group | label) of the train split to target rates by subsampling.

For each controlled label ``y`` with ``n`` rows, ``c`` of them in the chosen group ``g`` (observed
rate ``p = c / n``) and target rate ``r``, rows of the over-represented side only are dropped, so as
many rows as possible are kept:

- ``r < p``: keep every other-group row (``n - c``) and ``round(r (n - c) / (1 - r))`` rows of ``g``;
- ``r > p``: keep every row of ``g`` and ``round(c (1 - r) / r)`` other-group rows, shared among the
  other groups in proportion to their counts (largest remainders), so their mix is unchanged;
- ``r == p``: keep everything.

Which rows go is a seeded random choice (``seed``), so the result is deterministic. A target is
unreachable — and an error — when it needs rows that are not there (raising the rate of a group
with no rows in that label, or lowering it in a label that has only that group).

Only the train split changes; validation and test keep their observed co-occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.downstream.group_label_counts import display_names, label_group_counts, resolve_id


def kept_counts(row: np.ndarray, group: int, rate: float, where: str) -> np.ndarray:
    """Rows to keep per group of one label so that the share of ``group`` becomes ``rate``.

    Args:
        row: ``[G]`` row counts of the label per group.
        group: the controlled group's id.
        rate: the target share of ``group``, in [0, 1].
        where: names the label in error messages.

    Returns:
        ``[G]`` int64 counts, each at most ``row``; only one side (``group`` or the others) shrinks.
    """
    row = row.astype(np.int64)
    inside = int(row[group])
    outside = int(row.sum()) - inside
    kept = row.copy()
    observed = inside / (inside + outside)
    if rate < observed:
        if outside == 0:
            raise ValueError(
                f"{where}: rate {rate} is unreachable — every row has the controlled group, so lowering its "
                "share would remove all rows"
            )
        kept[group] = round(rate * outside / (1.0 - rate))
    elif rate > observed:
        if inside == 0:
            raise ValueError(
                f"{where}: rate {rate} is unreachable — the label has no rows of the controlled group, and "
                "subsampling cannot raise a share from 0"
            )
        keep_outside = 0 if rate == 1.0 else round(inside * (1.0 - rate) / rate)
        others = np.flatnonzero((np.arange(len(row)) != group) & (row > 0))
        exact = row[others] * keep_outside / outside
        share = np.floor(exact).astype(np.int64)
        remainder = keep_outside - int(share.sum())
        share[np.argsort(-(exact - share), kind="stable")[:remainder]] += 1
        kept[others] = share
    return kept


class CooccurrenceControl(Mitigation):
    """Set P(group | label) of the train split to target rates by dropping rows, deterministically.

    Give exactly one of:

    - ``rate``: one target share of ``group`` for every label (``group: female, rate: 0.5``), or a
      mapping ``{label: rate}`` that controls only the labels it names;
    - ``shift``: change every label's observed share by this amount (``shift: -0.1``), or a mapping
      ``{label: shift}``.

    Args:
        group: the controlled group, by name (needs group names on the table, see below) or integer id.
        rate: target rate(s), each in [0, 1].
        shift: change(s) of the observed rate; each resulting rate must lie in [0, 1].
        seed: seed of the choice of dropped rows.

    Labels and groups are given by name when the table's ``label``/``group`` columns are
    ``datasets.ClassLabel`` features, else by integer id. After the train split was transformed,
    ``self.summary`` holds per label the observed, target and achieved rate and rows before/after;
    it is logged and added to the bias report of the validation and test splits under
    ``cooccurrence_control``.
    """

    stage = "downstream"
    report_name = "cooccurrence_control"  # the bias report's key, pinned against a rename of the class

    def __init__(
        self,
        group: str | int,
        rate: float | dict[str, float] | None = None,
        shift: float | dict[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        if (rate is None) == (shift is None):
            raise ValueError(
                "cooccurrence: give exactly one of rate (target P(group | label)) and shift (change of the observed "
                "rate), e.g. {name: cooccurrence, group: female, rate: 0.5}"
            )
        if rate is not None:
            for label, value in self._items(rate):
                self._check_unit(value, f"cooccurrence: rate{label}")
        for label, value in self._items(shift) if shift is not None else []:
            if not isinstance(value, int | float) or isinstance(value, bool) or not -1.0 <= value <= 1.0:
                raise ValueError(f"cooccurrence: shift{label} must be a number in [-1, 1], got {value!r}")
        self.group = group
        self.rate = rate
        self.shift = shift
        self.seed = seed
        self.summary: dict[str, Any] = {}

    @staticmethod
    def _items(value: float | Mapping[str, float]) -> list[tuple[str, Any]]:
        if isinstance(value, Mapping):
            return [(f"[{label!r}]", v) for label, v in value.items()]
        return [("", value)]

    @staticmethod
    def _check_unit(value: Any, where: str) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{where} must be a number in [0, 1], got {value!r}")

    def targets(self, table: datasets.Dataset) -> dict[int, float]:
        """Target rate per controlled label id, resolved against ``table`` (names or ids)."""
        group = resolve_id(self.group, table, "group", "cooccurrence: group")
        counts = label_group_counts(table, num_groups=group + 1)
        spec = self.rate if self.rate is not None else self.shift
        if isinstance(spec, Mapping):
            chosen = {resolve_id(label, table, "label", "cooccurrence"): value for label, value in spec.items()}
        else:
            chosen = {y: spec for y in range(counts.shape[0]) if counts[y].sum() > 0}
        targets = {}
        label_names = display_names(table, "label", max(chosen, default=-1) + 1)
        for y, value in chosen.items():
            total = counts[y].sum() if y < len(counts) else 0
            if total == 0:
                raise ValueError(f"cooccurrence: label {label_names[y]!r} has no rows in the train split")
            if self.rate is not None:
                targets[y] = float(value)
            else:
                observed = counts[y, group] / total
                targets[y] = float(observed + value)
                self._check_unit(
                    targets[y], f"cooccurrence: observed rate {observed:.4f} + shift {value} for label {label_names[y]!r}"
                )
        return targets

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """The train split subsampled to the target rates (same columns, original row order); others unchanged."""
        if split != "train":
            return table
        group = resolve_id(self.group, table, "group", "cooccurrence: group")
        targets = self.targets(table)
        counts = label_group_counts(table, num_groups=group + 1)
        labels = np.asarray(table["label"], dtype=np.int64)
        groups = np.asarray(table["group"], dtype=np.int64)
        label_names, group_names = display_names(table, "label"), display_names(table, "group", group + 1)
        rng = np.random.default_rng(self.seed)
        drop: list[np.ndarray] = []
        per_label: dict[str, dict[str, Any]] = {}
        for y in sorted(targets):
            where = f"cooccurrence: label {label_names[y]!r} (group {group_names[group]!r})"
            keep = kept_counts(counts[y], group, targets[y], where)
            for g in np.flatnonzero(keep < counts[y]):
                rows = np.flatnonzero((labels == y) & (groups == g))
                drop.append(rng.permutation(rows)[: len(rows) - keep[g]])
            before, after = int(counts[y].sum()), int(keep.sum())
            per_label[label_names[y]] = {
                "observed_rate": round(float(counts[y, group] / before), 6),
                "target_rate": round(targets[y], 6),
                "achieved_rate": round(float(keep[group] / after), 6),
                "rows_before": before,
                "rows_after": after,
            }
        dropped = np.sort(np.concatenate(drop)) if drop else np.zeros(0, dtype=np.int64)
        kept_rows = np.setdiff1d(np.arange(len(table)), dropped, assume_unique=True)
        self.summary = {
            "group": group_names[group],
            "seed": self.seed,
            "rows_before": len(table),
            "rows_after": int(len(kept_rows)),
            "labels": per_label,
        }
        rank_zero_info(
            f"cooccurrence control: kept {len(kept_rows)} of {len(table)} train rows; P({group_names[group]} | label) "
            + ", ".join(f"{label}: {s['observed_rate']:.3f} -> {s['achieved_rate']:.3f}" for label, s in per_label.items())
        )
        return table if len(dropped) == 0 else table.select(kept_rows)

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """``self.summary`` in the bias report of the validation and test splits (under ``cooccurrence_control``)."""
        return self.summary if self.summary and split in ("val", "test") else None
