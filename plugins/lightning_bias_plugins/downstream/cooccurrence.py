"""Co-occurrence control: set P(group | label) of the train split to target rates, at a fixed or a shrinking size.

Two modes, for a controlled label ``y`` with ``n`` rows, ``c`` of them in the chosen group ``g``
(observed rate ``p = c / n``) and target rate ``r``:

- ``size_matched`` (the default): the label keeps its ``n`` rows, ``round(r n)`` of them in ``g`` and
  the rest in the other groups (shared in proportion to their counts, largest remainders). A cell
  that needs fewer rows than it has is drawn without replacement; one that needs more keeps every
  row and draws the rest again from its own rows (with replacement). The train split has the same
  size, and every label the same count, at every rate, so a study of rates compares like with like.
- ``subsample``: rows of the over-represented side only are dropped, so as many rows as possible
  are kept and none is repeated — ``r < p``: every other-group row (``n - c``) and
  ``round(r (n - c) / (1 - r))`` rows of ``g``; ``r > p``: every row of ``g`` and
  ``round(c (1 - r) / r)`` other-group rows, shared as above; ``r == p``: everything. The train size
  then changes with the rate.

Which rows go or repeat is a seeded random choice (``seed``), so the result is deterministic. A
target is unreachable — and an error — when it needs rows that are not there (a share of a group
with no rows in that label, or of the other groups in a label that has only ``g``).

Only the train split changes; validation and test keep their observed co-occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import datasets
import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.downstream.group_label_counts import display_names, label_group_counts, resolve_id

Mode = Literal["size_matched", "subsample"]


def _share_among_others(row: np.ndarray, group: int, amount: int) -> np.ndarray:
    """``amount`` rows shared among the groups other than ``group`` in proportion to their counts in
    ``row`` (largest remainders), so their mix is unchanged; ``[G]`` int64, 0 at ``group``."""
    others = np.flatnonzero((np.arange(len(row)) != group) & (row > 0))
    exact = row[others] * amount / row[others].sum()
    share = np.floor(exact).astype(np.int64)
    share[np.argsort(-(exact - share), kind="stable")[: amount - int(share.sum())]] += 1
    counts = np.zeros(len(row), dtype=np.int64)
    counts[others] = share
    return counts


def kept_counts(row: np.ndarray, group: int, rate: float, where: str) -> np.ndarray:
    """Rows to keep per group of one label so that the share of ``group`` becomes ``rate`` (``subsample``).

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
        others = np.arange(len(row)) != group
        kept[others] = _share_among_others(row, group, keep_outside)[others]
    return kept


def size_matched_counts(row: np.ndarray, group: int, rate: float, where: str) -> np.ndarray:
    """Rows per group of one label, its total unchanged, so that the share of ``group`` becomes ``rate``
    (``size_matched``): ``round(rate * n)`` in ``group``, the rest shared among the others by their counts.

    Args and errors as :func:`kept_counts`; a count may exceed ``row`` (those rows are drawn again).
    """
    row = row.astype(np.int64)
    total = int(row.sum())
    inside = round(rate * total)
    if inside > 0 and row[group] == 0:
        raise ValueError(
            f"{where}: rate {rate} is unreachable — the label has no rows of the controlled group, so there is "
            "nothing to resample from"
        )
    if inside < total and row.sum() == row[group]:
        raise ValueError(
            f"{where}: rate {rate} is unreachable — every row has the controlled group, so there are no rows of "
            "the other groups to resample from"
        )
    counts = _share_among_others(row, group, total - inside)
    counts[group] = inside
    return counts


def _draw(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` of ``rows``: a seeded choice without replacement when there are enough, else every row
    and the rest drawn again from them (with replacement)."""
    if count <= len(rows):
        return rng.permutation(rows)[len(rows) - count :]
    return np.concatenate([rows, rng.choice(rows, count - len(rows), replace=True)])


class CooccurrenceControl(Mitigation):
    """Set P(group | label) of the train split to target rates, by default at an unchanged train size.

    Give exactly one of:

    - ``rate``: one target share of ``group`` for every label (``group: female, rate: 0.5``), or a
      mapping ``{label: rate}`` that controls only the labels it names;
    - ``shift``: change every label's observed share by this amount (``shift: -0.1``), or a mapping
      ``{label: shift}``.

    Args:
        group: the controlled group, by name (needs group names on the table, see below) or integer id.
        rate: target rate(s), each in [0, 1].
        shift: change(s) of the observed rate; each resulting rate must lie in [0, 1].
        seed: seed of the choice of dropped and repeated rows.
        mode: ``size_matched`` (default: every controlled label keeps its row count, cells resampled —
            the same train size at every rate) or ``subsample`` (drop rows only; the size shrinks with
            the distance from the observed rate). See the module docstring.

    Labels and groups are given by name when the table's ``label``/``group`` columns are
    ``datasets.ClassLabel`` features, else by integer id. After the train split was transformed,
    ``self.summary`` holds the mode, the rows before and after, how many were dropped and how many
    drawn again, and per label the observed, target and achieved rate and rows before/after; it is
    logged and added to the bias report of the validation and test splits under
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
        mode: Mode = "size_matched",
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
        if mode not in get_args(Mode):
            raise ValueError(f"cooccurrence: mode must be one of {list(get_args(Mode))}, got {mode!r}")
        self.group = group
        self.rate = rate
        self.shift = shift
        self.mode = mode
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
        """The train split at the target rates (same columns; original row order, a repeated row beside
        its original); other splits unchanged."""
        if split != "train":
            return table
        group = resolve_id(self.group, table, "group", "cooccurrence: group")
        targets = self.targets(table)
        counts = label_group_counts(table, num_groups=group + 1)
        labels = np.asarray(table["label"], dtype=np.int64)
        groups = np.asarray(table["group"], dtype=np.int64)
        label_names, group_names = display_names(table, "label"), display_names(table, "group", group + 1)
        cell_counts = size_matched_counts if self.mode == "size_matched" else kept_counts
        rng = np.random.default_rng(self.seed)
        redrawn = np.zeros(len(table), dtype=bool)  # rows of the cells whose count changes
        chosen: list[np.ndarray] = []
        per_label: dict[str, dict[str, Any]] = {}
        for y in sorted(targets):
            where = f"cooccurrence: label {label_names[y]!r} (group {group_names[group]!r})"
            wanted = cell_counts(counts[y], group, targets[y], where)
            for g in np.flatnonzero(wanted != counts[y]):
                rows = np.flatnonzero((labels == y) & (groups == g))
                redrawn[rows] = True
                chosen.append(_draw(rows, int(wanted[g]), rng))
            before, after = int(counts[y].sum()), int(wanted.sum())
            per_label[label_names[y]] = {
                "observed_rate": round(float(counts[y, group] / before), 6),
                "target_rate": round(targets[y], 6),
                "achieved_rate": round(float(wanted[group] / after), 6),
                "rows_before": before,
                "rows_after": after,
            }
        rows = np.sort(np.concatenate([np.flatnonzero(~redrawn), *chosen]))
        repeated = int(len(rows) - len(np.unique(rows)))
        self.summary = {
            "group": group_names[group],
            "mode": self.mode,
            "seed": self.seed,
            "rows_before": len(table),
            "rows_after": int(len(rows)),
            "rows_dropped": len(table) - int(len(np.unique(rows))),
            "rows_repeated": repeated,
            "labels": per_label,
        }
        rank_zero_info(
            f"cooccurrence control ({self.mode}): {len(rows)} train rows from {len(table)} "
            f"({self.summary['rows_dropped']} dropped, {repeated} drawn again); P({group_names[group]} | label) "
            + ", ".join(f"{label}: {s['observed_rate']:.3f} -> {s['achieved_rate']:.3f}" for label, s in per_label.items())
        )
        return table.select(rows) if chosen else table

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """``self.summary`` in the bias report of the validation and test splits (under ``cooccurrence_control``)."""
        return self.summary if self.summary and split in ("val", "test") else None

