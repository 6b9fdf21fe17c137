"""A bias report sent to the wandb run of every ``WandbLogger`` a run has.

For each split's report (``val`` at the end of fit or validate, ``test`` at the end of test):

- **summary values** ``bias_report/<split>/<dotted.key>``: every number of the report that describes the
  split as a whole — ``num_examples``, ``overall.accuracy``, the scalar gaps (``gaps.tpr_gap_rms``...),
  the correlation ``gap_train_share_correlation.by_group.<g>.pearson_r``, and the numbers of plugin and
  evaluation sections — with each 95% interval as ``<key>_ci95.low`` / ``.high``; per-class, per-group and
  per-term values go to tables instead, and provenance, co-occurrence and interval methods stay in the JSON;
- a **table** ``bias_report/<split>/by_group``: one row per group and class, with the group's ``n`` and
  accuracy, the class's support in the group, and its TPR, FPR and selection rate with 95% intervals;
- a **table** ``bias_report/<split>/<section path>/per_term`` for every section with per-term rates (the
  shape ``reports.figures`` documents): one row per term, each of its numbers a column, intervals as
  ``<key>_low`` / ``<key>_high``;
- the report's **figures** (``reports.figures``) as images ``bias_report/<split>/<figure name>``.

Nothing happens for a run without a ``WandbLogger``; wandb is imported only by the logger itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, WandbLogger

from lightning_bias.reports.figures import PER_TERM_KEYS, per_term_sections

PREFIX = "bias_report"
# report keys whose numbers are per class, per group or about how the report was made: not summary values
NOT_SUMMARY = frozenset({
    "by_group", "train_cooccurrence", "evaluation_distribution", "provenance", "small_cells", "intervals",
    "mitigations", "runtime", "figures", "report_version", "num_classes", "num_groups",
})
RATES = ("tpr", "fpr", "selection_rate")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _interval(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2 and all(map(_finite, value))


def summary_values(report: Mapping[str, Any]) -> dict[str, float]:
    """The report's split-level numbers by dotted key (module docstring), intervals as ``.low`` / ``.high``."""
    def walk(section: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, float]]:
        for key, value in section.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                if key in ("signed_by_class", *PER_TERM_KEYS) or key.endswith(("by_class", "by_class_ci95")) or (
                        prefix == "overall." and key in RATES):
                    continue  # per class or per term: in a table or the JSON
                yield from walk(value, f"{name}.")
            elif _finite(value):
                yield name, float(value)
            elif _interval(value):
                yield f"{name}.low", float(value[0])
                yield f"{name}.high", float(value[1])

    kept = {key: value for key, value in report.items() if key not in NOT_SUMMARY}
    return dict(walk(kept, ""))


def by_group_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The per-group table: its columns and one row per (group, class)."""
    columns = ["group", "n", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high", "class", "support"]
    for rate in RATES:
        columns += [rate, f"{rate}_ci95_low", f"{rate}_ci95_high"]

    def with_interval(value: Any, interval: Any) -> list[Any]:
        bounds = list(interval) if _interval(interval) else [None, None]
        return [value if _finite(value) else None, *bounds]

    rows = []
    for group, entry in (report.get("by_group") or {}).items():
        head = [group, entry.get("n"), *with_interval(entry.get("accuracy"), entry.get("accuracy_ci95"))]
        for name in report.get("class_names") or list(entry.get("tpr") or {}):
            row = [*head, name, (entry.get("support") or {}).get(name)]
            for rate in RATES:
                row += with_interval((entry.get(rate) or {}).get(name), (entry.get(f"{rate}_ci95") or {}).get(name))
            rows.append(row)
    return columns, rows


def per_term_tables(report: Mapping[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """``{dotted section path: (columns, one row per term)}`` of every section with per-term rates."""
    tables = {}
    for key, value in report.items():
        if key in NOT_SUMMARY:
            continue
        for path, section in per_term_sections(value, (key,)):
            terms = next(section[name] for name in PER_TERM_KEYS if isinstance(section.get(name), Mapping))
            rows_in = list(terms.values())
            fields = [name for name in dict.fromkeys(field for row in rows_in for field in row)
                      if any(_finite(row.get(name)) or _interval(row.get(name)) for row in rows_in)]
            intervals = {name for name in fields if any(_interval(row.get(name)) for row in rows_in)}
            columns = ["term", *(column for name in fields
                                 for column in ([f"{name}_low", f"{name}_high"] if name in intervals else [name]))]
            rows = []
            for term, row in terms.items():
                cells: list[Any] = [term]
                for name in fields:
                    cell = row.get(name)
                    if name in intervals:
                        cells += list(cell) if _interval(cell) else [None, None]
                    else:
                        cells.append(cell if _finite(cell) else None)
                rows.append(cells)
            tables[".".join(path)] = (columns, rows)
    return tables


def log_bias_report(loggers: Sequence[Logger], report: Mapping[str, Any], directory: str | Path, step: int) -> None:
    """Send ``report`` (as ``bias_report.json`` holds it, its figures in ``directory``) to every
    ``WandbLogger`` among ``loggers``; call it on global rank zero."""
    wandb_loggers = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    if not wandb_loggers:
        return
    prefix = f"{PREFIX}/{report['split']}"
    summary = {f"{prefix}/{key}": value for key, value in summary_values(report).items()}
    columns, rows = by_group_rows(report)
    figures = {name: Path(directory) / figure["file"] for name, figure in (report.get("figures") or {}).items()}
    for logger in wandb_loggers:
        logger.experiment.summary.update(summary)
        logger.log_table(f"{prefix}/by_group", columns=columns, data=rows, step=step)
        for path, (term_columns, term_rows) in per_term_tables(report).items():
            logger.log_table(f"{prefix}/{path}/per_term", columns=term_columns, data=term_rows, step=step)
        for name, path in figures.items():
            logger.log_image(f"{prefix}/{name}", images=[str(path)], step=step,
                             caption=[(report.get("figures") or {})[name]["title"]])
