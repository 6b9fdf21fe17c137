"""The bias report: the unit a study aggregates.

``bias_report.json`` holds, for one split of one run: ``split``, ``num_examples``,
``overall`` (accuracy...), ``by_group`` (per group: ``n``, ``accuracy`` and per-class TPR, FPR
and selection rate, each with a 95% interval), ``gaps`` (TPR/FPR gap, demographic-parity and
equalized-odds differences as RMS and max over classes, per class too), ``empty_groups``,
``train_cooccurrence`` (measured P(group | label) of the train split the model fine-tuned on),
``mitigations`` and any extra sections that callbacks add (``counterfactual``...).
``bias_report.md`` is the same as readable tables. Both are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

REPORT_VERSION = 1


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_markdown(report: dict[str, Any]) -> str:
    """Readable tables: overall, per group (accuracy, n), per class TPR by group with the gap."""
    lines = [f"# Bias report — {report['split']} split", ""]
    lines.append(f"Examples: {report['num_examples']}; accuracy {_fmt(report['overall'].get('accuracy'))}")
    lines.append("")
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
    cooc = report.get("train_cooccurrence", {}).get("p_group_given_label")
    if cooc:
        names = list(next(iter(cooc.values())))
        lines += ["", "Train co-occurrence P(group | label):", "",
                  "| label | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for label, rates in cooc.items():
            lines.append(f"| {label} | " + " | ".join(_fmt(rates[g]) for g in names) + " |")
    if report.get("counterfactual"):
        cf = report["counterfactual"]
        lines += ["", f"Counterfactual flip rate: {_fmt(cf.get('flip_rate'))}; "
                      f"mean |Δp|: {_fmt(cf.get('mean_abs_prob_change'))}"]
    return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


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
    report = _json_safe({"report_version": REPORT_VERSION, **report})
    atomic_write_text(directory / f"{stem}.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    atomic_write_text(directory / f"{stem}.md", format_markdown(report))
    return directory / f"{stem}.json"
