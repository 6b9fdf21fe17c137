"""The bias report: the unit a study aggregates.

``bias_report.json`` holds, for one split of one run: ``split``, ``num_examples``,
``overall`` (accuracy...), ``by_group`` (per group: ``n``, ``accuracy`` and per-class TPR, FPR
and selection rate, each with a 95% interval), ``gaps`` (TPR/FPR gap, demographic-parity and
equalized-odds differences as RMS and max over classes, per class too), ``empty_groups``,
``train_cooccurrence`` (measured P(group | label) of the train split the model fine-tuned on),
``mitigations``, ``model``, ``warnings`` (e.g. predictions collapsed to one class; also at the top of
the markdown), and one section per plugin that reports (``Plugin.report_section``;
e.g. ``counterfactual``). ``bias_report.md`` is the same as readable tables: the core sections by
name, every plugin section generically. Both are written atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_bias.reports.artifacts import atomic_write_text, json_safe
from lightning_bias.reports.prediction_collapse import collapse_warnings

REPORT_VERSION = 1
CORE_KEYS = frozenset({
    "report_version", "split", "num_examples", "overall", "by_group", "gaps", "empty_groups",
    "train_cooccurrence", "mitigations", "model", "num_groups", "num_classes", "class_names", "group_names", "auc",
    "warnings",
})


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


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


def format_markdown(report: dict[str, Any]) -> str:
    """Readable tables: overall, gaps, per group (accuracy, n), per class TPR by group with the gap,
    the train co-occurrence, then every plugin section."""
    lines = [f"# Bias report — {report['split']} split", ""]
    lines.append(f"Examples: {report['num_examples']}; accuracy {_fmt(report['overall'].get('accuracy'))}")
    lines.append("")
    for warning in report.get("warnings", []):
        lines += [f"**Warning:** {warning}", ""]
    gaps = report["gaps"]
    lines += ["| gap (over classes) | RMS | max |", "|---|---|---|"]
    for key, title in [("tpr_gap", "TPR gap"), ("fpr_gap", "FPR gap"), ("dp_difference", "demographic parity"),
                       ("eo_difference", "equalized odds")]:
        lines.append(f"| {title} | {_fmt(gaps.get(f'{key}_rms'))} | {_fmt(gaps.get(f'{key}_max'))} |")
    lines.append("")
    groups = list(report["by_group"])
    lines += ["| group | n | accuracy |", "|---|---|---|"]
    for name in groups:
        row = report["by_group"][name]
        lines.append(f"| {name} | {row['n']} | {_fmt(row.get('accuracy'))} |")
    lines.append("")
    classes = list(next(iter(report["by_group"].values()))["tpr"]) if groups else []
    tpr_gap = gaps.get("tpr_gap_by_class", {})
    lines += ["| class | " + " | ".join(f"TPR {g}" for g in groups) + " | TPR gap |",
              "|---|" + "---|" * (len(groups) + 1)]
    for cls in classes:
        cells = [_fmt(report["by_group"][g]["tpr"].get(cls)) for g in groups]
        lines.append(f"| {cls} | " + " | ".join(cells) + f" | {_fmt(tpr_gap.get(cls))} |")
    if report.get("empty_groups"):
        lines += ["", f"Groups with no rows in this split (rates undefined): {', '.join(report['empty_groups'])}"]
    cooc = (report.get("train_cooccurrence") or {}).get("p_group_given_label")
    if cooc:
        names = list(next(iter(cooc.values())))
        lines += ["", "Train co-occurrence P(group | label):", "",
                  "| label | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for label, rates in cooc.items():
            lines.append(f"| {label} | " + " | ".join(_fmt(rates[g]) for g in names) + " |")
    for name, section in report.items():
        if name not in CORE_KEYS:
            lines += _section_markdown(name, section)
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
    # warnings go first, where a reader of the JSON looks
    report = json_safe({"report_version": REPORT_VERSION, "split": report["split"],
                        "warnings": collapse_warnings(report), **report})
    atomic_write_text(directory / f"{stem}.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    atomic_write_text(directory / f"{stem}.md", format_markdown(report))
    return directory / f"{stem}.json"
