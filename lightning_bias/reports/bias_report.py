"""The bias report: the unit a study aggregates.

``bias_report.json`` holds, for one split of one run: ``split``, ``num_examples``,
``overall`` (accuracy...), ``by_group`` (per group: ``n``, ``accuracy`` and per-class TPR, FPR
and selection rate, each with a 95% interval), ``gaps`` (TPR/FPR gap, demographic-parity and
equalized-odds differences as RMS and max over classes, per class too, each with a 95% interval; the
noise-corrected GAP-RMS and the noise floor beside the raw one; the signed per-class differences, named
"A - B" for two groups), ``small_cells`` (group x class cells under the minimum support, marked † in
the markdown), ``intervals`` (how each interval was computed), ``gap_train_share_correlation`` (the
correlation over classes of the signed TPR gap with the train share of the group, when the train
co-occurrence is known; see ``metrics.cooccurrence_correlation``), ``empty_groups``,
``train_cooccurrence`` (measured P(group | label) of the train split the model fine-tuned on),
``evaluation_distribution`` (the evaluated split's group shares and P(group | label), and the source's
declared setting of it), ``provenance`` (seeds, data source and options, train size before and after the
mitigations, evaluations with their arguments), ``mitigations`` (each with its arguments), ``model``,
``warnings`` (e.g. predictions collapsed to one class; also at the top of the markdown), and one
section per plugin that reports (``Plugin.report_section``; e.g. ``counterfactual``). ``bias_report.md`` is the same as readable tables: the core sections by
name, every plugin section generically. ``figures`` names the PNG files drawn beside them and embedded in the
markdown (``reports.figures``: per-group rates, the per-class TPR gap against the train share, per-term FPR/FNR
of evaluation sets). All are written atomically.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_bias.metrics.cooccurrence_correlation import gap_train_share_correlation
from lightning_bias.reports.artifacts import atomic_write_text, json_safe
from lightning_bias.reports.prediction_collapse import collapse_warnings

REPORT_VERSION = 1
CORE_KEYS = frozenset({
    "report_version", "split", "num_examples", "overall", "by_group", "gaps", "empty_groups",
    "train_cooccurrence", "mitigations", "model", "num_groups", "num_classes", "class_names", "group_names", "auc",
    "warnings", "evaluation_distribution", "provenance", "small_cells", "intervals", "gap_train_share_correlation",
    "figures",
})


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _with_interval(value: Any, interval: Any) -> str:
    """``0.210 [0.150, 0.280]``, or the value alone when it has no interval."""
    if value is None or not interval:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(interval[0])}, {_fmt(interval[1])}]"


def _ci(section: Mapping[str, Any], key: str) -> str:
    """``section[key]`` with its ``<key>_ci95``."""
    return _with_interval(section.get(key), section.get(f"{key}_ci95"))


def _flatten(section: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, value)`` for every leaf of a nested mapping; lists are shown whole."""
    rows: list[tuple[str, Any]] = []
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def _section_markdown(name: str, section: Any) -> list[str]:
    """A plugin's section as a two-column table (nested keys dotted)."""
    lines = ["", f"## {name}", ""]
    if not isinstance(section, Mapping):
        return lines + [_fmt(section)]
    lines += ["| field | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in _flatten(section)]
    return lines


def _figure_markdown(report: Mapping[str, Any], section: str) -> list[str]:
    """The images of ``report["figures"]`` that belong to ``section``, as markdown (files beside the report)."""
    return [line for figure in (report.get("figures") or {}).values() if figure.get("section") == section
            for line in ("", f"![{figure['title']}]({figure['file']})")]


def _provenance_markdown(report: Mapping[str, Any]) -> list[str]:
    """The short provenance block: the evaluated split's distribution, the train size, seeds, source, plugins."""
    def settings(section: Any) -> str:
        return ", ".join(f"{key}={_fmt(value)}" for key, value in _flatten(section or {}))

    evaluated, provenance = report.get("evaluation_distribution") or {}, report.get("provenance") or {}
    if not evaluated and not provenance:
        return []
    shares = ", ".join(f"{g} {_fmt(v)}" for g, v in (evaluated.get("group_shares") or {}).items())
    train = provenance.get("train_size") or {}
    plugins = [*report.get("mitigations", []), *provenance.get("evaluations", [])]
    named = [f"{p['class'].rsplit('.', 1)[-1]}({settings(p.get('arguments'))})" for p in plugins]
    return ["", "## Provenance", "",
            f"- evaluated split: {_fmt(evaluated.get('num_rows'))} rows; group shares {shares or '—'}; declared "
            f"setting: {settings(evaluated.get('declared')) or 'none (the data as loaded)'}",
            f"- train rows: {_fmt(train.get('after_mitigation'))} after mitigation "
            f"({_fmt(train.get('before_mitigation'))} before)",
            f"- seeds: {settings(provenance.get('seeds'))}",
            f"- source: {settings(provenance.get('source'))}",
            f"- plugins: {'; '.join(named) or 'none'}"]


def format_markdown(report: dict[str, Any]) -> str:
    """Readable tables: overall, gaps, per group (accuracy, n), per class TPR by group with the gap,
    the train co-occurrence, then every plugin section."""
    lines = [f"# Bias report — {report['split']} split", ""]
    lines.append(f"Examples: {report['num_examples']}; accuracy {_fmt(report['overall'].get('accuracy'))}")
    lines.append("")
    for warning in report.get("warnings", []):
        lines += [f"**Warning:** {warning}", ""]
    gaps = report["gaps"]
    lines += ["| gap (over classes) | RMS | noise floor | corrected RMS | max |", "|---|---|---|---|---|"]
    for key, title in [("tpr_gap", "TPR gap"), ("fpr_gap", "FPR gap"), ("dp_difference", "demographic parity"),
                       ("eo_difference", "equalized odds")]:
        lines.append(f"| {title} | {_ci(gaps, f'{key}_rms')} | {_fmt(gaps.get(f'{key}_rms_noise_floor'))} | "
                     f"{_ci(gaps, f'{key}_rms_corrected')} | {_ci(gaps, f'{key}_max')} |")
    lines += ["", "Intervals are 95%. The raw RMS is biased upward by sampling noise (about the noise floor when "
              "there is no true gap); compare runs on the corrected RMS.", ""]
    groups = list(report["by_group"])
    lines += ["| group | n | accuracy |", "|---|---|---|"]
    for name in groups:
        row = report["by_group"][name]
        lines.append(f"| {name} | {row['n']} | {_fmt(row.get('accuracy'))} |")
    lines.append("")
    classes = list(next(iter(report["by_group"].values()))["tpr"]) if groups else []
    tpr_gap, tpr_gap_ci = gaps.get("tpr_gap_by_class", {}), gaps.get("tpr_gap_by_class_ci95", {})
    signed = gaps.get("signed_by_class") or {}
    pair = signed["pairs"][0] if len(signed.get("pairs", [])) == 1 else None  # two groups: "A - B"
    small = {(cell["group"], cell["class"]) for cell in (report.get("small_cells") or {}).get("cells", [])}
    lines += ["| class | " + " | ".join(f"TPR {g}" for g in groups) + " | TPR gap |" + (f" TPR {pair} |" if pair else ""),
              "|---|" + "---|" * (len(groups) + 1 + bool(pair))]
    for cls in classes:
        cells = [_fmt(report["by_group"][g]["tpr"].get(cls)) + (" †" if (g, cls) in small else "") for g in groups]
        row = f"| {cls} | " + " | ".join(cells) + f" | {_with_interval(tpr_gap.get(cls), tpr_gap_ci.get(cls))} |"
        if pair:
            row += f" {_with_interval(signed['tpr'][pair].get(cls), signed['tpr_ci95'][pair].get(cls))} |"
        lines.append(row)
    lines += _figure_markdown(report, "by_group")
    if small:
        lines += ["", f"† fewer than {report['small_cells']['min_support']} examples of the class in that group "
                  "(`small_cells` in the JSON): the rate, and the gap it enters, rest on too few rows to read alone."]
    correlation = report.get("gap_train_share_correlation")
    for group, entry in ((correlation or {}).get("by_group") or {}).items():
        lines += ["", f"Signed TPR gap ({entry['pair']}) vs train share P({group} | class), over "
                  f"{entry['num_classes']} classes: Pearson r {_with_interval(entry['pearson_r'], entry['ci95'])}."]
    lines += _figure_markdown(report, "gap_train_share_correlation")
    methods = report.get("intervals") or {}
    if methods:
        lines += ["", "Interval methods: " + "; ".join(
            f"{name} — {method}" for name, method in methods.items()
            if isinstance(method, str) and name != "level") + "."]
    if report.get("empty_groups"):
        lines += ["", f"Groups with no rows in this split (rates undefined): {', '.join(report['empty_groups'])}"]
    cooc = (report.get("train_cooccurrence") or {}).get("p_group_given_label")
    if cooc:
        names = list(next(iter(cooc.values())))
        lines += ["", "Train co-occurrence P(group | label):", "",
                  "| label | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for label, rates in cooc.items():
            lines.append(f"| {label} | " + " | ".join(_fmt(rates[g]) for g in names) + " |")
    lines += _provenance_markdown(report)
    for name, section in report.items():
        if name not in CORE_KEYS:
            lines += _section_markdown(name, section) + _figure_markdown(report, name)
    return "\n".join(lines) + "\n"


def write_bias_report(report: dict[str, Any], directory: str | Path) -> Path:
    """Write ``bias_report.json`` and ``bias_report.md`` into ``directory``; returns the JSON path.

    A report of another split already there is kept: the new one is then named
    ``bias_report_<split>.json`` so nothing written earlier is lost.
    """
    directory = Path(directory)
    stem = "bias_report"
    existing = directory / f"{stem}.json"
    if existing.exists():
        try:
            if json.loads(existing.read_text()).get("split") != report["split"]:
                stem = f"bias_report_{report['split']}"
        except (OSError, json.JSONDecodeError):
            stem = f"bias_report_{report['split']}"
    cooccurrence = (report.get("train_cooccurrence") or {}).get("p_group_given_label")
    if cooccurrence and "signed_by_class" in report.get("gaps", {}):
        report = {**report, "gap_train_share_correlation": gap_train_share_correlation(report, cooccurrence)}
    # warnings go first, where a reader of the JSON looks
    report = json_safe({"report_version": REPORT_VERSION, "split": report["split"],
                        "warnings": collapse_warnings(report), **report})
    report["figures"] = _draw_figures(report, directory, stem)
    atomic_write_text(directory / f"{stem}.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    atomic_write_text(directory / f"{stem}.md", format_markdown(report))
    return directory / f"{stem}.json"


def _draw_figures(report: dict[str, Any], directory: Path, stem: str) -> dict[str, dict[str, str]]:
    """The report's figures (``reports.figures``), drawn beside it; a figure that cannot be drawn is one warning,
    and the report is written without figures rather than lost."""
    from lightning_bias.reports.figures import write_report_figures

    try:
        return write_report_figures(report, directory, stem, [key for key in report if key not in CORE_KEYS])
    except Exception as err:  # noqa: BLE001 - a drawing bug must not cost a finished run its report
        warnings.warn(f"bias report {stem}: figures not drawn ({type(err).__name__}: {err}); the report's numbers "
                      "are complete without them", stacklevel=2)
        return {}
