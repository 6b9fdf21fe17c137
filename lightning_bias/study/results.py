"""``results.csv`` and ``results.parquet``: one row per finished or failed fit cell, rebuilt from the cell directories.

Columns (the contract with the report, ``study_contract``): ``cell``, ``seed``, ``status``, ``error``,
``warnings`` (the bias report's, e.g. predictions collapsed to one class; joined by " | "),
``wall_seconds``, ``run_dir`` (relative to the study directory), ``split`` (the report read: test when
the data has one, else validation), ``axis.<name>`` per axis; ``train.cooccurrence_deviation`` (RMS over
labels and groups of P(group | label) - P(group) on the train split the model fine-tuned on) and
``train.size``; every scalar of the bias report's ``overall``, ``gaps`` and ``auc`` (per-class figures left out),
an interval ``<key>_ci95`` as ``<key>_ci95.low`` / ``.high``; ``gap_train_share_correlation.*``; each
plugin section of the report as ``evaluations.<section>.<key>``; and ``intrinsic.<measure>...`` of the
upstream model, from its ``evaluate-intrinsic`` cell (``measures`` of its JSON, per-occupation values left
out), empty for a from-scratch arm. Both files are written atomically; ``study report`` reads only these.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning_bias.reports.artifacts import atomic_write_text
from lightning_bias.study.directory import DONE, FAILED, cell_dir, read_json, read_state, recorded_cells

FIRST_COLUMNS = ("cell", "seed", "status", "error", "warnings", "wall_seconds", "run_dir", "split")
REPORT_SECTIONS = ("overall", "gaps", "auc", "gap_train_share_correlation")
CORE_REPORT_KEYS = frozenset({  # sections of a bias report that are not a plugin's
    "report_version", "split", "num_examples", "overall", "by_group", "gaps", "empty_groups", "train_cooccurrence",
    "mitigations", "model", "num_groups", "num_classes", "class_names", "group_names", "auc", "warnings",
    "evaluation_distribution", "provenance", "small_cells", "intervals", "gap_train_share_correlation", "runtime",
})
LEFT_OUT = frozenset({"signed_by_class", "per_occupation", "per_term", "tpr"})  # per-class, -occupation, -term detail


def _left_out(key: str) -> bool:
    return key in LEFT_OUT or "_by_class" in key


def scalars(section: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` for each number or boolean of a nested mapping; a two-element ``*ci95`` list
    becomes ``.low``/``.high``; per-class and per-occupation detail, and text, are left out."""
    if not isinstance(section, Mapping):
        return
    for key, value in section.items():
        name = f"{prefix}.{key}"
        if _left_out(str(key)):
            continue
        if isinstance(value, Mapping):
            yield from scalars(value, name)
        elif isinstance(value, list | tuple):
            if str(key).endswith("ci95") and len(value) == 2:
                yield f"{name}.low", value[0]
                yield f"{name}.high", value[1]
        elif value is None or isinstance(value, bool | int | float):
            yield name, value


def cooccurrence_deviation(train_cooccurrence: Mapping[str, Any]) -> float | None:
    """RMS over labels and groups of P(group | label) - P(group), the train split's measured co-occurrence."""
    conditional, shares = train_cooccurrence.get("p_group_given_label"), train_cooccurrence.get("group_shares")
    if not conditional or not shares:
        return None
    squares = [(by_group[group] - shares[group]) ** 2
               for by_group in conditional.values() for group in shares if by_group.get(group) is not None]
    return math.sqrt(sum(squares) / len(squares)) if squares else None


def report_columns(report: Mapping[str, Any]) -> dict[str, Any]:
    """The columns one fit's bias report gives."""
    row: dict[str, Any] = {"split": report.get("split"), "warnings": " | ".join(report.get("warnings") or [])}
    train = report.get("train_cooccurrence") or {}
    row["train.cooccurrence_deviation"] = cooccurrence_deviation(train)
    size = ((report.get("provenance") or {}).get("train_size") or {}).get("after_mitigation")
    row["train.size"] = size if size is not None else train.get("num_rows")
    row["num_examples"] = report.get("num_examples")
    for section in REPORT_SECTIONS:
        row.update(scalars(report.get(section), section))
    for section, content in report.items():
        if section == "evaluations":  # the evaluation sets' sections, by name: evaluations.<name>.<key>
            row.update(scalars(content, "evaluations"))
        elif section not in CORE_REPORT_KEYS:  # a mitigation's section
            row.update(scalars(content, f"evaluations.{section}"))
    return row


def intrinsic_columns(study_dir: Path, intrinsic_id: str | None) -> dict[str, Any]:
    """``intrinsic.*`` of the upstream model's evaluate-intrinsic cell, when it is done."""
    if not intrinsic_id:
        return {}
    directory = cell_dir(study_dir, "intrinsic", intrinsic_id)
    state = read_state(directory)
    if state["status"] != DONE:
        return {}
    measured = read_json(directory / state["outputs"]["intrinsic"]) or {}
    return dict(scalars(measured.get("measures"), "intrinsic"))


def result_rows(study_dir: Path) -> list[dict[str, Any]]:
    """One row per fit cell that is done or failed, from what the cell directories hold."""
    rows = []
    for cell in recorded_cells(study_dir):
        state = cell["state"]
        if cell["kind"] != "fit" or state["status"] not in (DONE, FAILED):
            continue
        row: dict[str, Any] = {"cell": cell["id"], "seed": cell["seed"], "status": state["status"],
                               "error": state.get("error") or "", "wall_seconds": state.get("wall_seconds")}
        row.update({f"axis.{axis}": value for axis, value in cell["axes"].items()})
        if state["status"] == DONE:
            outputs = state["outputs"]
            row["run_dir"] = str((cell["dir"] / outputs["run_dir"]).relative_to(study_dir))
            row.update(report_columns(read_json(cell["dir"] / outputs["bias_report"]) or {}))
        row.update(intrinsic_columns(study_dir, cell.get("intrinsic")))
        rows.append(row)
    return rows


def write_results(study_dir: Path) -> Path:
    """Rebuild ``results.csv`` and ``results.parquet`` (the same columns) from the cells; returns the CSV path."""
    import pandas as pd

    rows = result_rows(study_dir)
    columns = list(FIRST_COLUMNS)
    for row in rows:
        columns += [key for key in row if key not in columns]
    axis_columns = [c for c in columns if c.startswith("axis.")]
    ordered = [*FIRST_COLUMNS, *axis_columns, *[c for c in columns if c not in FIRST_COLUMNS and c not in axis_columns]]
    frame = pd.DataFrame(rows, columns=ordered)
    for column in ("cell", "status", "error", "warnings", "run_dir", "split", *axis_columns):
        frame[column] = frame[column].astype("string")
    frame["seed"] = frame["seed"].astype("Int64")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    csv_path = atomic_write_text(study_dir / "results.csv", buffer.getvalue())
    parquet_path = study_dir / "results.parquet"
    staging = study_dir / f".results.parquet.tmp.{os.getpid()}"
    try:
        frame.to_parquet(staging, index=False)
        os.replace(staging, parquet_path)
    finally:
        staging.unlink(missing_ok=True)
    return csv_path

