"""The study report: ``report.md`` and ``figures/*.png`` in the study directory, rebuilt from results alone.

``write_study_report(study_dir)`` reads ``results.csv`` and ``study.json`` (both written by ``study run``),
computes with :mod:`.analysis`, draws with :mod:`.figures` and writes the figures directory and the
report atomically. Every conclusion in the report is a template filled by the numbers: the effect, its
95% interval, and where that interval lies against 0 and against the practical threshold τ
(the study config's ``threshold`` for extrinsic bias, by default 0.01, one percentage point of GAP-RMS;
:data:`ACCURACY_THRESHOLD` for accuracy). The same results give the
same report, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lightning_bias.reports.artifacts import atomic_directory, atomic_write_text
from lightning_bias.study import analysis
from lightning_bias.study import figures as draw
from lightning_bias.study.analysis import (
    CooccurrenceAnswer,
    Estimate,
    MitigationEffect,
    RegressionAnswer,
    StudyDesign,
    Unanswerable,
    UpstreamAnswer,
    Verdict,
)

ACCURACY_THRESHOLD = 0.01  # one percentage point of accuracy
TEXT_COLUMNS = ("cell", "status", "error", "warnings", "run_dir", "split")
FIGURES = "figures"


def write_study_report(study_dir: Path) -> Path:
    """Write ``study_dir/report.md`` and ``study_dir/figures/`` from ``results.csv`` and ``study.json``;
    return the report's path. A missing or inconsistent input is a ValueError naming the file."""
    study_dir = Path(study_dir)
    design = read_design(study_dir / "study.json")
    table = read_results(study_dir / "results.csv")
    rows, left_out = analysis.split_rows(table, design, str(study_dir / "results.csv"))
    with atomic_directory(study_dir / FIGURES) as staging:
        text = render(design, table, rows, left_out, staging)
    return atomic_write_text(study_dir / "report.md", text)


def read_design(path: Path) -> StudyDesign:
    """study.json as a :class:`StudyDesign`; missing or unreadable is a ValueError naming the file."""
    if not path.is_file():
        raise ValueError(f"{path} not found: is this a study directory? `lightning_bias study run` writes it")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rerun `lightning_bias study run` to rewrite it") from None
    return StudyDesign.from_json(payload, str(path))


def read_results(path: Path) -> pd.DataFrame:
    """results.csv with every column that holds only numbers (or blanks) as floats, the rest as text."""
    if not path.is_file():
        raise ValueError(f"{path} not found: run `lightning_bias study run` (it writes the results) first")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        if column in TEXT_COLUMNS or column.startswith("axis."):
            continue
        blank = table[column].str.strip() == ""
        numbers = pd.to_numeric(table[column].where(~blank), errors="coerce")
        if numbers.notna().sum() == (~blank).sum():
            table[column] = numbers.astype("Int64") if column == "seed" else numbers
    return table


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def interval_text(estimate: Estimate, signed: bool = False) -> str:
    """``0.0312 [0.0101, 0.0523], n = 12`` or, without an interval, says why."""
    shown = _signed(estimate.value) if signed else _number(estimate.value)
    if not estimate.has_interval:
        reason = "one seed" if estimate.rows == 1 else "a group with one seed"
        return f"{shown} (n = {estimate.rows}; {reason}: no interval)"
    return f"{shown} [{_number(estimate.low)}, {_number(estimate.high)}], n = {estimate.rows}"


def effect_sentence(subject: str, quantity: str, estimate: Estimate, threshold: float) -> str:
    """A plain sentence computed from an effect and its interval (analysis.verdict against 0 and ±τ)."""
    numbers = interval_text(estimate, signed=True)
    direction = "raises" if estimate.value > 0 else "lowers"
    found = analysis.verdict(estimate, threshold)
    tau = _number(threshold, 3)
    if found is Verdict.NO_INTERVAL:
        return (f"{subject} changes {quantity} by {numbers}; without an interval this is not an answer "
                f"(run more seeds).")
    if found is Verdict.BEYOND_THRESHOLD:
        return f"{subject} {direction} {quantity}: {numbers}; the whole interval lies beyond the practical threshold ±{tau}."
    if found is Verdict.DETECTABLE:
        return (f"{subject} {direction} {quantity}: {numbers}; the interval excludes 0 but reaches within "
                f"±{tau}, so the change may be smaller than practically meaningful.")
    if found is Verdict.DETECTABLE_NEGLIGIBLE:
        return (f"{subject} {direction} {quantity} detectably but negligibly: {numbers}; the interval excludes 0 "
                f"and lies within ±{tau}.")
    if found is Verdict.NEGLIGIBLE:
        return (f"{subject} does not change {quantity} by a practically meaningful amount: {numbers}; the "
                f"interval includes 0 and lies within ±{tau}.")
    return (f"{subject} has no detectable effect on {quantity}, but effects beyond ±{tau} are not ruled out: "
            f"{numbers}; the interval includes 0 and reaches beyond ±{tau} (more seeds would settle it).")


def verdict_counts(estimates: Sequence[Estimate], threshold: float) -> str:
    """How many effects fall in each verdict, e.g. ``2 of 5: excludes 0 and lies beyond ±τ``."""
    found = [analysis.verdict(e, threshold) for e in estimates]
    return "; ".join(f"{found.count(v)} of {len(found)}: {v.value}" for v in Verdict if found.count(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def _unanswerable(answer: Unanswerable) -> list[str]:
    return [f"Not answerable from this study: {answer.reason}.", ""]


def render(design: StudyDesign, table: pd.DataFrame, rows: pd.DataFrame, left_out: pd.DataFrame,
           figures_dir: Path) -> str:
    """The report's markdown; figures are drawn into ``figures_dir`` and linked as ``figures/<name>``."""
    tau = design.threshold
    outcome = f"extrinsic bias (`{design.outcome}`)"
    lines = [
        f"# Study report: {design.name}",
        "",
        f"Computed from `results.csv` ({len(table)} rows: {len(rows)} analysed, {len(left_out)} left out) and "
        f"`study.json` (study config sha256 `{design.config_sha256[:12]}`) alone; `lightning_bias study report "
        "--dir STUDY_DIR` rebuilds it. "
        f"Extrinsic bias is `{design.outcome}`, accuracy `{design.accuracy}`. Intervals are 95%; effects are "
        f"read against 0 and against a practical threshold τ = {_number(tau, 3)} for extrinsic bias (the study "
        f"config's `threshold`) and {_number(ACCURACY_THRESHOLD, 3)} for accuracy. "
        "Every sentence below is computed from the numbers beside it; see *How this report is computed*.",
        "",
        "## Design",
        "",
        *_table(["axis", "role", "values"],
                [[axis.name, axis.role, ", ".join(
                    v.name + (" (from scratch)" if v.from_scratch else "")
                    + (f" ({v.numeric:g})" if v.numeric is not None else "") for v in axis.values)]
                 for axis in design.axes]),
        "",
        f"Seeds: {', '.join(str(s) for s in design.seeds) or '(none declared)'}.",
        "",
    ]
    if rows.empty:
        lines += ["No finished rows yet: nothing to analyse.", ""]
    else:
        lines += _question_upstream(analysis.upstream_effect(rows, design), design, outcome, tau)
        lines += _question_cooccurrence(rows, design, analysis.cooccurrence_effect(rows, design), outcome, tau,
                                        figures_dir)
        lines += _regression_section(analysis.regression(rows, design), design, figures_dir)
        lines += _mitigation_section(analysis.mitigation_effects(rows, design), design, outcome, tau, figures_dir)
        lines += _per_cell_section(rows, design)
    lines += _left_out_section(left_out, design)
    lines += _methods_section()
    return "\n".join(lines).rstrip() + "\n"


def _comparison_rows(comparisons: Sequence[tuple[str, analysis.Comparison]], tau: float) -> list[list[str]]:
    found = []
    for label, comparison in comparisons:
        estimate = comparison.estimate
        if estimate is None:
            found.append([label, "no setting with rows of both", "", ""])
            continue
        found.append([label, interval_text(estimate, signed=True), analysis.verdict(estimate, tau).value,
                      "; ".join(f"{stratum}: {interval_text(e, signed=True)}" for stratum, e in comparison.strata)
                      + _unpooled_note(comparison)])
    return found


def _unpooled_note(comparison: analysis.Comparison) -> str:
    if not comparison.unpooled:
        return ""
    return f" (not in the average, one seed on a side: {'; '.join(comparison.unpooled)})"


def _mitigation_held(design: StudyDesign) -> str:
    """How questions 1 and 2 treat the mitigation axis (analysis.at_reference_mitigation), in words."""
    axis = design.axis("mitigation")
    if axis is None:
        return "the study has no mitigation axis"
    if analysis.REFERENCE_MITIGATION in axis.value_names:
        return f"downstream mitigation held at `{analysis.REFERENCE_MITIGATION}`"
    return f"each downstream mitigation a setting of its own: axis `{axis.name}` has no `none`"


def _question_upstream(answer: UpstreamAnswer | Unanswerable, design: StudyDesign, outcome: str,
                       tau: float) -> list[str]:
    lines = ["## 1. Does changing the upstream model change extrinsic bias at fixed fine-tuning data?", ""]
    if isinstance(answer, Unanswerable):
        return lines + _unanswerable(answer)
    scratch = {v.name for v in answer.axis.values if v.from_scratch}
    lines += [f"Each upstream arm against the reference arm `{answer.reference}` (the first pre-trained value of "
              f"axis `{answer.axis.name}`), within each fine-tuning setting (the other axes' values; "
              f"{_mitigation_held(design)}), averaged over the settings.", ""]
    estimates = []
    for comparison in answer.arms:
        if comparison.estimate is None:
            continue
        kind = " (trained from scratch)" if comparison.treated in scratch else ""
        subject = f"Changing the upstream model from `{answer.reference}` to `{comparison.treated}`{kind}"
        lines += [f"- {effect_sentence(subject, outcome, comparison.estimate, tau)}"]
        if comparison.treated not in scratch:
            estimates.append(comparison.estimate)
    if estimates:
        lines += ["", f"Over the pre-trained arms: {verdict_counts(estimates, tau)}."]
    lines += ["", *_table(["arm − reference", "effect [95% interval]", "reading", "per setting"],
                          _comparison_rows([(c.treated, c) for c in answer.arms], tau)), ""]
    return lines


def _level_positions(answer: CooccurrenceAnswer) -> dict[str, float]:
    """Where each co-occurrence level sits on the figure's x axis: its declared level, else its rank."""
    values = [answer.axis.value(level) for level in answer.levels]
    if all(value.numeric is not None for value in values):
        return {value.name: value.numeric for value in values}
    return {level: float(index) for index, level in enumerate(answer.levels)}


def _question_cooccurrence(rows: pd.DataFrame, design: StudyDesign, answer: CooccurrenceAnswer | Unanswerable,
                           outcome: str, tau: float, figures_dir: Path) -> list[str]:
    lines = ["## 2. Does changing fine-tuning co-occurrence change extrinsic bias?", ""]
    if isinstance(answer, Unanswerable):
        return lines + _unanswerable(answer)
    lines += [f"The highest co-occurrence level `{answer.high}` against the lowest `{answer.low}` of axis "
              f"`{answer.axis.name}` (levels ordered {answer.ordering}), within each upstream arm and setting "
              f"({_mitigation_held(design)}), averaged over settings and then over arms.", ""]
    change = f"Raising the fine-tuning co-occurrence from `{answer.low}` to `{answer.high}`"
    for label, part in (("in a pre-trained model", answer.pretrained),
                        ("in the same architecture trained from scratch", answer.from_scratch)):
        if isinstance(part, Unanswerable):
            lines += [f"- {label[3:].capitalize()}: not answerable from this study: {part.reason}."]
        else:
            lines += [f"- {effect_sentence(f'{change} {label}', outcome, part, tau)}"]
    if isinstance(answer.difference, Estimate):
        lines += [f"- {effect_sentence('Pre-training (against training from scratch)', 'that co-occurrence effect', answer.difference, tau)}"]
    lines += ["", *_table(["arm", "effect of co-occurrence [95% interval]", "reading", "per setting"],
                          _comparison_rows([(arm + (" (from scratch)" if scratch else ""), c)
                                            for arm, scratch, c in answer.arms], tau)), ""]
    name = "gap_vs_cooccurrence.png"
    draw.gap_against_cooccurrence(analysis.outcome_by_level(rows, design, answer), _level_positions(answer),
                                  f"fine-tuning co-occurrence (axis {answer.axis.name})", design.outcome,
                                  figures_dir / name)
    return lines + [f"![{design.outcome} against fine-tuning co-occurrence, per upstream arm]({FIGURES}/{name})", ""]


def _regression_section(answer: RegressionAnswer | Unanswerable, design: StudyDesign, figures_dir: Path) -> list[str]:
    lines = ["## Regression: upstream intrinsic bias and fine-tuning data (after Steed et al. 2022)", ""]
    if isinstance(answer, Unanswerable):
        return lines + _unanswerable(answer)
    measure = f"|{answer.measure}|" if answer.magnitude else answer.measure
    lines += [f"OLS of `{design.outcome}` on the upstream model's intrinsic bias `{measure}`"
              + (" (its size: the outcome is unsigned)" if answer.magnitude else "")
              + f", the measured fine-tuning co-occurrence `{analysis.MEASURED_COOCCURRENCE}`, and the mitigation "
              f"(and any other axis) as categoricals against `none`; {answer.covariance} standard errors, t intervals. "
              f"{answer.rows} rows.", ""]
    for why, count in answer.left_out:
        lines += [f"- Left out: {count} rows, {why}."]
    for factor, why in answer.dropped:
        lines += [f"- Not in the model: {factor}, {why}."]
    coefficients = [[c.term, c.factor, f"{c.estimate:.4g}", f"[{c.low:.4g}, {c.high:.4g}]",
                     "excludes 0" if c.low > 0 or c.high < 0 else "includes 0"] for c in answer.coefficients]
    lines += ["", *_table(["term", "factor", "coefficient", "95% interval", "interval"], coefficients), ""]
    shares = sorted(answer.shares, key=lambda item: -item[1])
    lines += [f"R² = {answer.r_squared:.3f}. Share of the explained variance per factor (Shapley / LMG "
              "decomposition of R²: each factor's gain in R² averaged over every order of adding the factors; "
              "the shares sum to 1):", "",
              *_table(["factor", "share of explained variance", "share of total variance"],
                      [[f, f"{s:.3f}", f"{s * answer.r_squared:.3f}"] for f, s in shares]), ""]
    if shares and np.isfinite(shares[0][1]):
        lines += [f"The factor that explains most of the explained variance is {shares[0][0]} "
                  f"({shares[0][1]:.0%}); seed-to-seed and other unexplained variation is {1 - answer.r_squared:.0%} "
                  "of the total.", ""]
    name = "intrinsic_vs_extrinsic.png"
    draw.intrinsic_against_extrinsic(answer, measure, design.outcome, figures_dir / name)
    return lines + [f"![intrinsic against extrinsic bias]({FIGURES}/{name})", ""]


def _mitigation_section(answer: Sequence[MitigationEffect] | Unanswerable, design: StudyDesign, outcome: str,
                        tau: float, figures_dir: Path) -> list[str]:
    lines = ["## Downstream mitigations: which lowers the gap, by how much, at what accuracy cost", ""]
    if isinstance(answer, Unanswerable):
        return lines + _unanswerable(answer)
    lines += ["Each mitigation against `none` within each setting (upstream arm, co-occurrence level, other axes) "
              "that has both, averaged over those settings.", ""]
    for effect in answer:
        gap, accuracy = effect.gap.estimate, effect.accuracy.estimate
        if gap is None:
            lines += [f"- `{effect.name}`: no setting has finished rows of both it and `none`."]
            continue
        lines += [f"- {effect_sentence(f'`{effect.name}`', outcome, gap, tau)}"]
        if accuracy is not None:
            lines += [f"  {effect_sentence(f'`{effect.name}`', 'accuracy', accuracy, ACCURACY_THRESHOLD)}"]
        if effect.gap.unpooled:
            lines += [f"  Left out of these averages (one seed on a side): {'; '.join(effect.gap.unpooled)}."]
    lowering = sorted((e for e in answer if e.gap.estimate is not None and e.gap.estimate.has_interval
                       and e.gap.estimate.high < 0), key=lambda e: e.gap.estimate.value)
    if lowering:
        best = lowering[0]
        cost = best.accuracy.estimate
        lines += ["", f"Mitigations whose interval lies below 0: {', '.join(f'`{e.name}`' for e in lowering)}. "
                      f"The largest reduction is `{best.name}`: {interval_text(best.gap.estimate, signed=True)}, "
                      f"accuracy change {interval_text(cost, signed=True) if cost is not None else 'unknown'}."]
    else:
        lines += ["", "No mitigation has an interval for its change of the gap that lies below 0."]
    rows = [[e.name, interval_text(e.gap.estimate, signed=True) if e.gap.estimate else "-",
             interval_text(e.accuracy.estimate, signed=True) if e.accuracy.estimate else "-",
             str(len(e.gap.strata) - len(e.gap.unpooled))] for e in answer]
    lines += ["", *_table(["mitigation", f"change of {design.outcome}", f"change of {design.accuracy}",
                           "settings compared"], rows), ""]
    name = "mitigations.png"
    draw.mitigations_side_by_side(answer, design.outcome, figures_dir / name)
    return lines + [f"![mitigations side by side]({FIGURES}/{name})", ""]


def _per_cell_section(rows: pd.DataFrame, design: StudyDesign) -> list[str]:
    columns = analysis.summary_columns(rows, design)
    cells = analysis.cell_summaries(rows, design, columns)
    main = [c for c in (design.outcome, design.accuracy, analysis.MEASURED_COOCCURRENCE) if c in columns]
    lines = ["## Per cell: mean and 95% interval over seeds", "",
             "t interval over the seeds of each cell (n = seeds); a cell with one seed has no interval.", ""]
    header = [axis.name for axis in design.axes] + ["seeds"] + [f"`{c}`" for c in main]

    def seeds(estimates: Mapping[str, Estimate]) -> str:
        return str(estimates[design.outcome].rows) if design.outcome in estimates else "0"

    def mean_and_interval(estimate: Estimate) -> str:
        if not estimate.has_interval:
            return f"{_number(estimate.value)} (one seed, no interval)"
        return f"{_number(estimate.value)} [{_number(estimate.low)}, {_number(estimate.high)}]"

    body = [[*combo, seeds(e), *(mean_and_interval(e[c]) if c in e else "-" for c in main)] for combo, e in cells]
    lines += [*_table(header, body), ""]
    others = [c for c in columns if c not in main]
    if others:
        lines += ["Other outcomes per cell:", "",
                  *_table(["cell", "outcome", "mean [95% interval], n"],
                          [[analysis.stratum_label(design.axes, combo), f"`{c}`", interval_text(e[c])]
                           for combo, e in cells for c in others if c in e]), ""]
    return lines


def _left_out_section(left_out: pd.DataFrame, design: StudyDesign) -> list[str]:
    lines = ["## Rows left out", ""]
    if left_out.empty:
        return lines + ["None: every row finished with an outcome value.", ""]
    body = []
    for _, row in left_out.iterrows():
        error = str(row.get("error", "") or row.get("warnings", "") or "").strip().splitlines()
        body.append([str(row.get("cell", "")), str(row.get("seed", "")),
                     analysis.stratum_label(design.axes, [str(row[a.column]) for a in design.axes]),
                     str(row["reason"]), (error[-1] if error else "")[:200]])
    return lines + [f"Rows not analysed (failed, unfinished, collapsed, or without an outcome): {len(left_out)}.", "",
                    *_table(["cell", "seed", "axes", "why", "error or warning (last line)"], body), ""]


def _methods_section() -> list[str]:
    return [
        "## How this report is computed",
        "",
        "- Per cell: mean over seeds ± t(n − 1) · sd / √n.",
        "- An effect is a difference of cell means, taken within each setting of the axes held fixed and "
        "averaged over the settings (each weighted equally). Its variance adds each group's s²/n (groups keep "
        "their own variance, as in Welch's test); degrees of freedom by Welch–Satterthwaite. A group with one "
        "seed gives no variance, so no interval.",
        "- Readings: an interval that excludes 0 is a detectable change; one that lies beyond ±τ "
        "(τ: the threshold named at the top) a practically meaningful one; one that includes 0 but lies "
        "within ±τ shows no practically meaningful change; one that includes 0 and reaches beyond ±τ is "
        "inconclusive.",
        "- Questions 1 and 2 hold the downstream mitigation at `none` when the mitigation axis has it; the "
        "reference arm is the first pre-trained value of the upstream axis. Question 2 compares the highest and "
        "the lowest co-occurrence level.",
        "- Regression: from-scratch rows have no upstream model whose intrinsic bias could be measured; they are "
        "left out (counted above), so the regression describes pre-trained models. The intrinsic measure is the "
        "first of log-probability bias (mean |score|), |association-test effect size| (gender terms and "
        "occupations first), probe accuracy that varies across the arms, else the first varying `intrinsic.*` column. The intrinsic measure takes one value per arm: "
        "its coefficient rests on as many distinct points as there are arms.",
    ]
