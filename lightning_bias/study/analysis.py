"""The statistics of a study report, computed from the results table alone.

Input: the rows of ``results.csv`` (a DataFrame, one row per cell and seed) and the study's design as
``study.json`` declares it (:class:`StudyDesign`). Output: plain dataclasses — per-cell intervals over
seeds, the contrasts that answer the study's two questions, the mitigation comparison, and the regression
in the manner of Steed et al. (2022) with its variance decomposition. :mod:`.report` turns them into
sentences and tables, :mod:`.figures` into plots; nothing here reads or writes files.

Intervals are 95%. Over the seeds of one cell: mean ± t(n − 1)·sd/√n. A contrast — a difference of cell
means, or such differences averaged over strata (the other axes' values) — is a linear combination
Σ cᵢ·meanᵢ of independent groups of seeds: variance Σ cᵢ²·sᵢ²/nᵢ (each group keeps its own variance, as
in Welch's test), degrees of freedom by Welch–Satterthwaite. A group of one seed has no variance
estimate, so a contrast that uses one has no interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lightning_bias.reports.prediction_collapse import COLLAPSE_WARNING
from lightning_bias.study.config import DEFAULT_THRESHOLD

ROLES = ("upstream", "cooccurrence", "mitigation", "other")
REFERENCE_MITIGATION = "none"
MEASURED_COOCCURRENCE = "train.cooccurrence_deviation"
DONE = "done"
# headline columns summarised per cell besides the outcome and accuracy, when present
SUMMARY_COLUMNS = (
    MEASURED_COOCCURRENCE, "gaps.tpr_gap_rms", "gaps.tpr_gap_rms_noise_floor", "gaps.fpr_gap_rms",
    "gaps.dp_difference_rms", "gaps.eo_difference_rms", "gaps.tpr_gap_max", "gaps.worst_group_accuracy",
)
# intrinsic measures preferred for the regression, most preferred first: (name ending, magnitude taken as |x|)
# — the extrinsic outcome is unsigned, so a signed association (stereotyped vs anti-stereotyped) enters by size
INTRINSIC_PREFERENCE = (
    ("log_probability_bias.mean_abs", False),
    ("occupations.effect_size", True),  # the association test closest to an occupation classifier's bias
    ("effect_size", True),
    ("gender_probe.accuracy", False),
    ("probe.accuracy", False),
)


@dataclass(frozen=True)
class AxisValue:
    """One value of a study axis, as study.json declares it."""

    name: str
    numeric: float | None = None
    from_scratch: bool = False


@dataclass(frozen=True)
class Axis:
    """A study axis: its name, its role in the analysis and its values in declared order."""

    name: str
    role: str
    values: tuple[AxisValue, ...]

    @property
    def column(self) -> str:
        return f"axis.{self.name}"

    @property
    def value_names(self) -> list[str]:
        return [value.name for value in self.values]

    def value(self, name: str) -> AxisValue:
        return next(value for value in self.values if value.name == name)


@dataclass(frozen=True)
class StudyDesign:
    """What the report needs of study.json: the axes with their roles, the seeds, the outcome columns."""

    name: str
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    outcome: str
    accuracy: str
    config_sha256: str = ""
    threshold: float = DEFAULT_THRESHOLD  # the practical threshold τ for the outcome (study config ``threshold``)

    @classmethod
    def from_json(cls, payload: Mapping[str, Any], source: str) -> StudyDesign:
        """Read a parsed study.json; a missing key or an unknown role is a ValueError naming ``source``."""
        missing = [key for key in ("name", "axes", "outcome", "accuracy") if key not in payload]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}; it is written by `lightning_bias study run`")
        axes = []
        for index, axis in enumerate(payload["axes"]):
            if not isinstance(axis, Mapping) or not {"name", "role", "values"} <= set(axis):
                raise ValueError(f"{source}: axes[{index}] needs `name`, `role` and `values`, got {axis!r}")
            if not all(isinstance(value, Mapping) and "name" in value for value in axis["values"]):
                raise ValueError(f"{source}: every value of axis {axis['name']!r} needs a `name`, got {axis['values']!r}")
            if axis["role"] not in ROLES:
                raise ValueError(f"{source}: axis {axis['name']!r} has role {axis['role']!r}; expected one of {ROLES}")
            values = tuple(
                AxisValue(str(value["name"]), None if value.get("numeric") is None else float(value["numeric"]),
                          bool(value.get("from_scratch", False)))
                for value in axis["values"]
            )
            axes.append(Axis(str(axis["name"]), axis["role"], values))
        for role in ROLES[:3]:
            named = [axis.name for axis in axes if axis.role == role]
            if len(named) > 1:
                raise ValueError(f"{source}: the report compares along one {role!r} axis, found {named}; "
                                 f"give the others the role 'other'")
        return cls(str(payload["name"]), tuple(axes), tuple(int(s) for s in payload.get("seeds", ())),
                   str(payload["outcome"]), str(payload["accuracy"]), str(payload.get("config_sha256", "")),
                   float(payload.get("threshold", DEFAULT_THRESHOLD)))

    def axis(self, role: str) -> Axis | None:
        """The axis with ``role``, or None when the study has none."""
        return next((axis for axis in self.axes if axis.role == role), None)

    def axes_except(self, *excluded: Axis | None) -> list[Axis]:
        """The axes other than ``excluded`` (the axes held fixed while one is varied), in declared order."""
        return [axis for axis in self.axes if axis not in excluded]


def split_rows(table: pd.DataFrame, design: StudyDesign, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to analyse, rows left out with a ``reason`` column). Left out: status other than "done", done
    rows without an outcome value, and done rows whose bias report says the predictions collapsed (the model
    did not learn the task: its near-zero gaps would pass for fairness). Columns the analysis needs and
    undeclared axis values are errors."""
    needed = ["status", "seed", design.outcome, design.accuracy] + [axis.column for axis in design.axes]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; rebuild it with `lightning_bias study run`")
    for axis in design.axes:
        unknown = sorted(set(table[axis.column]) - set(axis.value_names))
        if unknown:
            raise ValueError(f"{source}: column {axis.column} holds {unknown}, which study.json does not declare "
                             f"(declared: {axis.value_names}); the results and study.json come from different studies")
    done = table["status"] == DONE
    measured = table[design.outcome].notna()
    warnings = table["warnings"].fillna("").astype(str) if "warnings" in table.columns else pd.Series("", index=table.index)
    collapsed = warnings.str.contains(COLLAPSE_WARNING, regex=False)
    kept = done & measured & ~collapsed
    left_out = table[~kept].copy()
    left_out["reason"] = np.where(left_out["status"] != DONE, left_out["status"],
                                  np.where(collapsed[~kept], "predictions collapsed (the model did not learn the task)",
                                           f"no {design.outcome} value"))
    return table[kept].copy(), left_out


def summary_columns(rows: pd.DataFrame, design: StudyDesign) -> list[str]:
    """The outcomes summarised per cell: the study's outcome and accuracy, the headline gaps and every
    evaluation-set scalar present (interval bounds and per-class values left out)."""
    evaluations = sorted(c for c in rows.columns if c.startswith("evaluations.") and "_ci95" not in c
                         and "by_class" not in c and pd.api.types.is_numeric_dtype(rows[c]) and rows[c].notna().any())
    wanted = [design.outcome, design.accuracy, *SUMMARY_COLUMNS, *evaluations]
    present = [c for c in wanted if c in rows.columns and pd.api.types.is_numeric_dtype(rows[c])]
    return list(dict.fromkeys(present))


def cell_summaries(rows: pd.DataFrame, design: StudyDesign, columns: Sequence[str]
                   ) -> list[tuple[tuple[str, ...], dict[str, Estimate]]]:
    """Per cell (axis values, in declared order), each column's mean and interval over the seeds."""
    cells = []
    for combo, cell in strata(rows, design.axes):
        cells.append((combo, {c: seed_interval(cell[c].dropna()) for c in columns if cell[c].notna().any()}))
    return cells


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval (None without one) and the rows behind it."""

    value: float
    low: float | None
    high: float | None
    rows: int
    df: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None


def seed_interval(values: Sequence[float] | np.ndarray) -> Estimate:
    """Mean over seeds with the t interval; one seed gives no interval."""
    values = np.asarray(values, dtype=float)
    return contrast([(1.0, values)])


def contrast(terms: Sequence[tuple[float, np.ndarray]]) -> Estimate:
    """Σ c·mean(values) over independent groups, with the Welch–Satterthwaite t interval (module docstring)."""
    value = float(sum(c * np.mean(v) for c, v in terms))
    rows = int(sum(len(v) for _, v in terms))
    if any(len(v) < 2 for c, v in terms if c != 0):
        return Estimate(value, None, None, rows)
    parts = [(c**2 * float(np.var(v, ddof=1)) / len(v), len(v) - 1) for c, v in terms if c != 0]
    variance = sum(part for part, _ in parts)
    if variance == 0:
        return Estimate(value, value, value, rows)
    df = variance**2 / sum(part**2 / dof for part, dof in parts)
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(variance)
    return Estimate(value, value - half, value + half, rows, df)


class Verdict(Enum):
    """What an effect's interval says against 0 and against the practical threshold τ."""

    NO_INTERVAL = "no interval"
    BEYOND_THRESHOLD = "excludes 0 and lies beyond ±τ"
    DETECTABLE = "excludes 0, may be under τ"
    DETECTABLE_NEGLIGIBLE = "excludes 0, lies within ±τ"
    NEGLIGIBLE = "includes 0, lies within ±τ"
    INCONCLUSIVE = "includes 0, reaches beyond ±τ"


def verdict(estimate: Estimate, threshold: float) -> Verdict:
    """Where ``estimate``'s interval lies against 0 and against ±``threshold``."""
    if not estimate.has_interval:
        return Verdict.NO_INTERVAL
    low, high = estimate.low, estimate.high
    within = -threshold < low and high < threshold
    if low >= threshold or high <= -threshold:
        return Verdict.BEYOND_THRESHOLD
    if low > 0 or high < 0:
        return Verdict.DETECTABLE_NEGLIGIBLE if within else Verdict.DETECTABLE
    return Verdict.NEGLIGIBLE if within else Verdict.INCONCLUSIVE


@dataclass(frozen=True)
class Comparison:
    """``treated`` against ``reference`` along one axis, per stratum and averaged over the strata."""

    treated: str
    reference: str
    strata: tuple[tuple[str, Estimate], ...]  # (stratum label, difference)
    terms: tuple[tuple[float, np.ndarray], ...]  # the average as a contrast, for combining further
    unpooled: tuple[str, ...] = ()  # strata left out of the average: a side with one seed (no variance)

    @property
    def estimate(self) -> Estimate | None:
        return contrast(self.terms) if self.terms else None


def stratum_label(axes: Sequence[Axis], values: Sequence[str]) -> str:
    """``axis=value, ...`` naming a setting of ``axes`` (``all rows`` when there are no axes)."""
    return ", ".join(f"{axis.name}={value}" for axis, value in zip(axes, values, strict=True)) or "all rows"


def strata(rows: pd.DataFrame, axes: Sequence[Axis]) -> list[tuple[tuple[str, ...], pd.DataFrame]]:
    """The rows split by the values of ``axes`` (value combination, rows), in declared order, empty ones skipped."""
    found = []
    for combo in itertools.product(*(axis.value_names for axis in axes)):
        mask = np.ones(len(rows), dtype=bool)
        for axis, value in zip(axes, combo, strict=True):
            mask &= (rows[axis.column] == value).to_numpy()
        if mask.any():
            found.append((combo, rows[mask]))
    return found


def compare(rows: pd.DataFrame, column: str, factor: Axis, treated: str, reference: str,
            strata_axes: Sequence[Axis]) -> Comparison:
    """Mean of ``column`` at ``treated`` minus at ``reference`` of ``factor``, within each stratum of
    ``strata_axes`` that has rows of both; the average over those strata weighs each stratum equally.

    A stratum where either side has a single row (e.g. the other seeds failed or collapsed) has no variance
    of its own and would leave the whole average without an interval: when at least one stratum has two or
    more rows on both sides, such strata are shown but left out of the average (``unpooled``)."""
    found = []
    for combo, stratum in strata(rows, strata_axes):
        label = stratum_label(strata_axes, combo)
        values = {name: stratum.loc[stratum[factor.column] == name, column].dropna().to_numpy(dtype=float)
                  for name in (treated, reference)}
        if len(values[treated]) and len(values[reference]):
            found.append((label, values[treated], values[reference]))
    with_spread = [(label, a, b) for label, a, b in found if len(a) > 1 and len(b) > 1]
    pooled = with_spread or found
    terms = tuple(term for _, a, b in pooled for term in ((1 / len(pooled), a), (-1 / len(pooled), b)))
    per_stratum = tuple((label, contrast([(1.0, a), (-1.0, b)])) for label, a, b in found)
    pooled_labels = {label for label, _, _ in pooled}
    unpooled = tuple(label for label, _, _ in found if label not in pooled_labels)
    return Comparison(treated, reference, per_stratum, terms, unpooled)


def scaled(terms: Sequence[tuple[float, np.ndarray]], factor: float) -> list[tuple[float, np.ndarray]]:
    """Contrast terms with every coefficient multiplied by ``factor``."""
    return [(c * factor, v) for c, v in terms]


@dataclass(frozen=True)
class Unanswerable:
    """A question this study's results cannot answer, and why."""

    reason: str


def at_reference_mitigation(rows: pd.DataFrame, design: StudyDesign) -> pd.DataFrame:
    """The rows fine-tuned without a downstream mitigation ("none"), or all rows when the study has no
    mitigation axis or no "none" value in it (the mitigation is then one more stratum)."""
    axis = design.axis("mitigation")
    if axis is None or REFERENCE_MITIGATION not in axis.value_names:
        return rows
    return rows[rows[axis.column] == REFERENCE_MITIGATION]


@dataclass(frozen=True)
class UpstreamAnswer:
    """Question 1: each upstream arm against the reference arm at fixed fine-tuning data."""

    axis: Axis
    reference: str
    arms: tuple[Comparison, ...]


def reference_arm(axis: Axis) -> str | None:
    """The reference upstream arm: the first pre-trained (not from-scratch) value in declared order."""
    return next((value.name for value in axis.values if not value.from_scratch), None)


def upstream_effect(rows: pd.DataFrame, design: StudyDesign) -> UpstreamAnswer | Unanswerable:
    """Question 1 (:class:`UpstreamAnswer`), or why this study cannot answer it."""
    axis = design.axis("upstream")
    if axis is None:
        return Unanswerable("the study has no axis with role `upstream`, so the upstream model never changes")
    reference = reference_arm(axis)
    if reference is None:
        return Unanswerable(f"every value of axis `{axis.name}` is from scratch: there is no pre-trained reference arm")
    if len(axis.values) < 2:
        return Unanswerable(f"axis `{axis.name}` has one value only: the upstream model never changes")
    fixed = at_reference_mitigation(rows, design)
    held_fixed = design.axes_except(axis)
    arms = tuple(compare(fixed, design.outcome, axis, arm, reference, held_fixed)
                 for arm in axis.value_names if arm != reference)
    if not any(arm.terms for arm in arms):
        return Unanswerable(f"no fine-tuning setting has finished rows of both the reference arm `{reference}` "
                            f"and another upstream arm")
    return UpstreamAnswer(axis, reference, arms)


@dataclass(frozen=True)
class CooccurrenceAnswer:
    """Question 2: the highest against the lowest co-occurrence level, per upstream arm and pooled over the
    pre-trained arms and over the from-scratch arms; ``difference`` = pre-trained minus from scratch."""

    axis: Axis
    levels: tuple[str, ...]  # lowest co-occurrence first
    ordering: str  # how the levels were ordered, in words
    arms: tuple[tuple[str, bool, Comparison], ...]  # (arm, from scratch, comparison)
    pretrained: Estimate | Unanswerable
    from_scratch: Estimate | Unanswerable
    difference: Estimate | Unanswerable

    @property
    def low(self) -> str:
        return self.levels[0]

    @property
    def high(self) -> str:
        return self.levels[-1]


def cooccurrence_levels(rows: pd.DataFrame, axis: Axis) -> tuple[list[str], str]:
    """The levels from lowest to highest co-occurrence, and how they were ordered."""
    if all(value.numeric is not None for value in axis.values):
        ordered = sorted(axis.values, key=lambda value: float(value.numeric))
        return [value.name for value in ordered], "by the levels study.json declares"
    if MEASURED_COOCCURRENCE in rows.columns:
        measured = rows.groupby(axis.column)[MEASURED_COOCCURRENCE].mean()
        if all(name in measured.index and pd.notna(measured[name]) for name in axis.value_names):
            return (sorted(axis.value_names, key=lambda name: float(measured[name])),
                    f"by the mean measured `{MEASURED_COOCCURRENCE}`")
    return axis.value_names, "in declared order (no numeric level and no measured co-occurrence for every level)"


def averaged_over(comparisons: Sequence[Comparison]) -> list[tuple[float, np.ndarray]]:
    """The contrast terms of the mean of the comparisons that have one (each weighted equally)."""
    usable = [c for c in comparisons if c.terms]
    return [term for c in usable for term in scaled(c.terms, 1 / len(usable))]


def cooccurrence_effect(rows: pd.DataFrame, design: StudyDesign) -> CooccurrenceAnswer | Unanswerable:
    """Question 2 (:class:`CooccurrenceAnswer`), or why this study cannot answer it."""
    axis = design.axis("cooccurrence")
    if axis is None:
        return Unanswerable("the study has no axis with role `cooccurrence`, so the fine-tuning co-occurrence "
                            "never changes by design")
    if len(axis.values) < 2:
        return Unanswerable(f"axis `{axis.name}` has one value only")
    fixed = at_reference_mitigation(rows, design)
    levels, ordering = cooccurrence_levels(fixed, axis)
    low, high = levels[0], levels[-1]
    upstream = design.axis("upstream")
    held_fixed = design.axes_except(axis, upstream)
    if upstream is None:
        arms = (("(the base model)", False, compare(fixed, design.outcome, axis, high, low, held_fixed)),)
    else:
        arms = tuple(
            (value.name, value.from_scratch,
             compare(fixed[fixed[upstream.column] == value.name], design.outcome, axis, high, low, held_fixed))
            for value in upstream.values
        )
    pretrained_terms = averaged_over([c for _, scratch, c in arms if not scratch])
    scratch_terms = averaged_over([c for _, scratch, c in arms if scratch])
    pretrained: Estimate | Unanswerable = (
        contrast(pretrained_terms) if pretrained_terms
        else Unanswerable("no pre-trained arm has finished rows at both levels"))
    if upstream is None:
        from_scratch: Estimate | Unanswerable = Unanswerable("the study has no upstream axis, so no arm trained "
                                                             "from scratch")
    elif not any(value.from_scratch for value in upstream.values):
        from_scratch = Unanswerable(f"axis `{upstream.name}` has no value with `from_scratch: true`")
    else:
        from_scratch = (contrast(scratch_terms) if scratch_terms
                        else Unanswerable("no from-scratch arm has finished rows at both levels"))
    if isinstance(pretrained, Unanswerable) and isinstance(from_scratch, Unanswerable):
        return Unanswerable(f"no arm has finished rows at both `{low}` and `{high}`")
    difference: Estimate | Unanswerable = (
        Unanswerable("it needs both the pre-trained and the from-scratch effect")
        if isinstance(pretrained, Unanswerable) or isinstance(from_scratch, Unanswerable)
        else contrast(pretrained_terms + scaled(scratch_terms, -1.0)))
    return CooccurrenceAnswer(axis, tuple(levels), ordering, arms, pretrained, from_scratch, difference)


def outcome_by_level(rows: pd.DataFrame, design: StudyDesign, answer: CooccurrenceAnswer
                     ) -> dict[str, list[tuple[str, Estimate]]]:
    """The outcome per co-occurrence level (lowest first) and upstream arm, at mitigation "none", with
    its interval over the seeds (and over the other axes' values, pooled)."""
    fixed = at_reference_mitigation(rows, design)
    upstream = design.axis("upstream")
    arms = [(None, "(the base model)")] if upstream is None else [(name, name) for name in upstream.value_names]
    lines: dict[str, list[tuple[str, Estimate]]] = {}
    for arm, label in arms:
        arm_rows = fixed if arm is None else fixed[fixed[upstream.column] == arm]
        points = [(level, seed_interval(arm_rows.loc[arm_rows[answer.axis.column] == level, design.outcome]))
                  for level in answer.levels if (arm_rows[answer.axis.column] == level).any()]
        if points:
            lines[label] = points
    return lines


@dataclass(frozen=True)
class MitigationEffect:
    """One downstream mitigation against "none": its change of the gap and of accuracy."""

    name: str
    gap: Comparison
    accuracy: Comparison


def mitigation_effects(rows: pd.DataFrame, design: StudyDesign) -> tuple[MitigationEffect, ...] | Unanswerable:
    """Each mitigation against "none" within every setting of the other axes that has both, or why not."""
    axis = design.axis("mitigation")
    if axis is None:
        return Unanswerable("the study has no axis with role `mitigation`")
    if REFERENCE_MITIGATION not in axis.value_names:
        return Unanswerable(f"axis `{axis.name}` has no value {REFERENCE_MITIGATION!r} to compare against")
    held_fixed = design.axes_except(axis)
    effects = tuple(
        MitigationEffect(name, compare(rows, design.outcome, axis, name, REFERENCE_MITIGATION, held_fixed),
                         compare(rows, design.accuracy, axis, name, REFERENCE_MITIGATION, held_fixed))
        for name in axis.value_names if name != REFERENCE_MITIGATION
    )
    if not effects:
        return Unanswerable(f"axis `{axis.name}` has no mitigation besides {REFERENCE_MITIGATION!r}")
    if not any(effect.gap.terms for effect in effects):
        return Unanswerable("no setting has finished rows of both a mitigation and 'none'")
    return effects


@dataclass(frozen=True)
class Coefficient:
    term: str
    factor: str
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class RegressionAnswer:
    """Extrinsic bias regressed on the upstream model's intrinsic bias and the fine-tuning data (OLS, robust errors)."""

    measure: str
    magnitude: bool  # the measure entered as |x|
    rows: int
    left_out: tuple[tuple[str, int], ...]  # (why, rows)
    coefficients: tuple[Coefficient, ...]
    r_squared: float
    shares: tuple[tuple[str, float], ...]  # factor, share of the explained variance (Shapley/LMG; sums to 1)
    dropped: tuple[tuple[str, str], ...]  # factor, why it is not in the model
    covariance: str  # which heteroskedasticity-robust errors, and why
    x: np.ndarray  # the intrinsic measure and the outcome of each row used, for the figure
    y: np.ndarray
    arms: tuple[str, ...]


def choose_intrinsic_measure(rows: pd.DataFrame) -> tuple[str, bool] | None:
    """The intrinsic column the regression uses: the most preferred measure (INTRINSIC_PREFERENCE) that
    varies across the pre-trained rows, else the first varying ``intrinsic.*`` column by name (interval
    bounds ``*_ci95.*`` are never chosen)."""
    varying = [c for c in sorted(rows.columns) if c.startswith("intrinsic.") and "_ci95" not in c
               and pd.to_numeric(rows[c], errors="coerce").nunique() >= 2]
    for ending, magnitude in INTRINSIC_PREFERENCE:
        for column in varying:
            if column.replace("/", ".").endswith(ending):
                return column, magnitude
    return (varying[0], False) if varying else None


def _factor_blocks(rows: pd.DataFrame, design: StudyDesign, measure: str, magnitude: bool
                   ) -> tuple[dict[str, pd.DataFrame], list[tuple[str, str]]]:
    """The regressors, one block of columns per factor, and the factors left out with why."""
    intrinsic = pd.to_numeric(rows[measure], errors="coerce")
    candidates: dict[str, pd.DataFrame] = {
        "upstream intrinsic bias": pd.DataFrame({f"|{measure}|" if magnitude else measure:
                                                 intrinsic.abs() if magnitude else intrinsic}),
    }
    if MEASURED_COOCCURRENCE in rows.columns:
        candidates["fine-tuning co-occurrence"] = pd.DataFrame(
            {MEASURED_COOCCURRENCE: pd.to_numeric(rows[MEASURED_COOCCURRENCE], errors="coerce")})
    dropped = [] if MEASURED_COOCCURRENCE in rows.columns else [
        ("fine-tuning co-occurrence", f"no `{MEASURED_COOCCURRENCE}` column")]
    for axis in design.axes:
        if axis.role in ("mitigation", "other"):
            factor = "mitigation" if axis.role == "mitigation" else f"axis {axis.name}"
            levels = [name for name in axis.value_names if name in set(rows[axis.column])]
            if axis.role == "mitigation" and REFERENCE_MITIGATION in levels:  # "none" is the reference level
                levels.remove(REFERENCE_MITIGATION)
                levels.insert(0, REFERENCE_MITIGATION)
            candidates[factor] = pd.DataFrame(
                {f"{factor}[{level}]": (rows[axis.column] == level).astype(float) for level in levels[1:]})
    blocks = {}
    for factor, block in candidates.items():
        if block.shape[1] == 0 or all(block[c].nunique() < 2 for c in block.columns):
            dropped.append((factor, "does not vary among the rows regressed"))
        else:
            blocks[factor] = block
    return blocks, dropped


def _r_squared(y: np.ndarray, blocks: Sequence[pd.DataFrame]) -> float:
    """R² of the least-squares fit of ``y`` on an intercept and the columns of ``blocks``."""
    if not blocks:
        return 0.0
    x = np.column_stack([np.ones(len(y))] + [b.to_numpy(dtype=float) for b in blocks])
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fitted) ** 2).sum()) / total if total > 0 else 0.0


def shapley_shares(y: np.ndarray, blocks: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """Each factor's Shapley (LMG) share of R²: its gain in R² averaged over every order of entering the
    factors. The shares add up to the full model's R²."""
    names = list(blocks)
    p = len(names)
    r2 = {subset: _r_squared(y, [blocks[n] for n in subset])
          for size in range(p + 1) for subset in itertools.combinations(names, size)}
    shares = {}
    for name in names:
        others = [n for n in names if n != name]
        total = 0.0
        for size in range(p):
            weight = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
            for subset in itertools.combinations(others, size):
                with_it = tuple(n for n in names if n in subset or n == name)
                total += weight * (r2[with_it] - r2[subset])
        shares[name] = total
    return shares


def regression(rows: pd.DataFrame, design: StudyDesign) -> RegressionAnswer | Unanswerable:
    """Extrinsic bias on the upstream model's intrinsic bias, the measured fine-tuning co-occurrence and the
    mitigation (and any `other` axis) as categoricals; OLS with HC3 errors (classical ones where a row
    has leverage 1) and Shapley shares. Rows of a from-scratch arm have no upstream model to
    measure, so they are left out (the regression describes pre-trained models); so are pre-trained rows
    without a value of the chosen measure or of the measured co-occurrence. Both are counted."""
    import statsmodels.api as sm  # heavy; only when a report is written

    upstream = design.axis("upstream")
    left_out = []
    if upstream is not None:
        scratch = [value.name for value in upstream.values if value.from_scratch]
        is_scratch = rows[upstream.column].isin(scratch)
        if is_scratch.any():
            left_out.append(("from-scratch arm (no upstream model, so no intrinsic bias)", int(is_scratch.sum())))
        rows = rows[~is_scratch]
    chosen = choose_intrinsic_measure(rows)
    if chosen is None:
        return Unanswerable("no `intrinsic.*` column varies across the pre-trained rows: the upstream model's "
                            "intrinsic bias was not measured, or is the same for every arm")
    measure, magnitude = chosen
    blocks, dropped = _factor_blocks(rows, design, measure, magnitude)
    if "upstream intrinsic bias" not in blocks:
        return Unanswerable(f"`{measure}` does not vary among the rows regressed")
    frame = pd.concat(list(blocks.values()) + [rows[design.outcome].rename("__outcome__")], axis=1)
    complete = frame.notna().all(axis=1)
    if (~complete).any():
        left_out.append(("pre-trained rows missing the intrinsic measure or the measured co-occurrence",
                         int((~complete).sum())))
    blocks = {factor: block[complete] for factor, block in blocks.items()}
    y = frame.loc[complete, "__outcome__"].to_numpy(dtype=float)
    x = pd.concat(list(blocks.values()), axis=1)
    design_matrix = sm.add_constant(x.to_numpy(dtype=float), has_constant="add")
    if len(y) <= design_matrix.shape[1] + 1:
        return Unanswerable(f"{len(y)} rows for {design_matrix.shape[1]} coefficients: too few to estimate them")
    if np.linalg.matrix_rank(design_matrix) < design_matrix.shape[1]:
        return Unanswerable(f"the regressors {list(x.columns)} are collinear in this design (one is a function "
                            f"of the others), so their effects cannot be told apart")
    # HC3 divides by (1 - leverage)²: where a row alone fixes a coefficient (leverage 1) it is undefined, and
    # any sandwich estimator gives that coefficient zero error; the pooled residual variance does not
    leverage = np.einsum("ij,ji->i", design_matrix, np.linalg.pinv(design_matrix))
    robust = leverage.max() < 1 - 1e-8
    covariance = "HC3" if robust else "classical (a row has leverage 1, where HC3 is undefined)"
    fit = sm.OLS(y, design_matrix).fit(cov_type="HC3" if robust else "nonrobust", use_t=True)
    intervals = fit.conf_int(0.05)
    owner = {column: factor for factor, block in blocks.items() for column in block.columns}
    coefficients = tuple(
        Coefficient(term, owner.get(term, "intercept"), float(fit.params[i]), float(intervals[i][0]),
                    float(intervals[i][1]))
        for i, term in enumerate(["intercept", *x.columns])
    )
    shapley = shapley_shares(y, blocks)
    r_squared = float(fit.rsquared)
    shares = tuple((factor, share / r_squared if r_squared > 0 else float("nan")) for factor, share in shapley.items())
    arms = rows.loc[complete, upstream.column] if upstream is not None else pd.Series([""] * int(complete.sum()))
    intrinsic = blocks["upstream intrinsic bias"].iloc[:, 0].to_numpy(dtype=float)
    return RegressionAnswer(measure, magnitude, len(y), tuple(left_out), coefficients, r_squared, shares,
                            tuple(dropped), covariance, intrinsic, y, tuple(str(a) for a in arms))
