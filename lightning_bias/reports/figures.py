"""The pictures of a bias report and of ``data inspect``, drawn with matplotlib (Agg, no display needed).

Every bias report gets, beside ``bias_report.md`` and embedded in it (``write_report_figures``):

- ``<stem>_tpr_gap_vs_train_share.png`` — De-Arteaga et al.'s (2019) figure: one point per class, the
  signed TPR gap of a group (``gaps.signed_by_class``, with its 95% Newcombe interval) against that group's
  train share ``P(group | class)`` (``train_cooccurrence``), the least-squares line, and the report's Pearson
  ``r`` with its interval (``gap_train_share_correlation``); one panel per group the correlation names (the
  first of two groups, each group of more). Left out when the report has no train co-occurrence or fewer
  than 3 classes (a binary task: no correlation over classes to show).
- ``<stem>_group_rates.png`` — each group's accuracy and per-class TPR with their 95% Wilson intervals.
- ``<stem>_<section>_per_term.png`` — per-term FPR and FNR bars with 95% intervals, for every section of
  the report (a plugin's, or one under ``evaluations``) that holds per-term rates in this shape, at any
  depth::

      {"per_term": {"gay": {"fpr": 0.31, "fpr_ci95": [0.27, 0.35], "fnr": 0.05, "fnr_ci95": [0.03, 0.08]},
                    "straight": {...}},
       "overall": {"fpr": 0.12, "fnr": 0.07}}   # optional: drawn as reference lines

  The per-term mapping may be named ``per_term`` or ``by_term``; a term needs ``fpr`` or ``fnr`` (a rate
  or ``None``), the ``*_ci95`` intervals are optional; the reference rates are read from an ``overall``
  mapping beside it, or from ``fpr``/``fnr`` numbers beside it.

``data inspect --output`` gets ``cooccurrence_heatmap``: P(group | label) per split, with the counts.

matplotlib is imported only when a figure is drawn (the command line starts without it), and figures are
drawn on ``matplotlib.figure.Figure`` directly, without pyplot: no backend or global state is touched.
PNG files are written atomically (``reports.artifacts``).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_bias.reports.artifacts import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PER_TERM_KEYS = ("per_term", "by_term")
MAX_ROWS = 60  # classes or terms drawn in one figure; the rest are named in its title
DPI = 110


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low, high = _number(value[0]), _number(value[1])
        if low is not None and high is not None:
            return low, high
    return None


def _error_bars(values: Sequence[float | None], intervals: Sequence[tuple[float, float] | None]) -> list[list[float]]:
    """matplotlib's ``xerr``/``yerr``: distances from each value to its interval's bounds (0 without one)."""
    below, above = [], []
    for value, interval in zip(values, intervals, strict=True):
        if value is None or interval is None:
            below.append(0.0)
            above.append(0.0)
        else:
            below.append(max(value - interval[0], 0.0))
            above.append(max(interval[1] - value, 0.0))
    return [below, above]


def _new_figure(width: float, height: float, columns: int = 1, width_ratios: Sequence[float] | None = None
                ) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False, gridspec_kw={"width_ratios": width_ratios} if width_ratios
                           else None)[0]
    return figure, axes


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` as a PNG, atomically."""
    return atomic_write_bytes(path, png_bytes(figure))


# --- the TPR gap against the train share ------------------------------------------------------------


def tpr_gap_vs_train_share(report: Mapping[str, Any]) -> Figure | None:
    """De-Arteaga et al.'s figure for one report, or ``None`` when the report lacks what it needs
    (``gap_train_share_correlation``, ``gaps.signed_by_class`` and ``train_cooccurrence``) or has fewer
    than 3 classes."""
    correlation = (report.get("gap_train_share_correlation") or {}).get("by_group") or {}
    signed = (report.get("gaps") or {}).get("signed_by_class") or {}
    shares = (report.get("train_cooccurrence") or {}).get("p_group_given_label") or {}
    if not correlation or "tpr" not in signed or not shares or len(report.get("class_names") or shares) < 3:
        return None
    figure, axes = _new_figure(5.2 * len(correlation), 4.4, columns=len(correlation))
    for axis, (group, entry) in zip(axes, correlation.items(), strict=True):
        pair = entry["pair"]
        points = []
        for name in report.get("class_names") or list(shares):
            share = _number((shares.get(name) or {}).get(group))
            gap = _number(signed["tpr"].get(pair, {}).get(name))
            if share is not None and gap is not None:
                points.append((name, share, gap, _interval(signed.get("tpr_ci95", {}).get(pair, {}).get(name))))
        xs, ys = [p[1] for p in points], [p[2] for p in points]
        axis.errorbar(xs, ys, yerr=_error_bars(ys, [p[3] for p in points]), fmt="o", color="tab:blue",
                      ecolor="tab:blue", alpha=0.8, elinewidth=0.8, capsize=2, markersize=4)
        for name, x, y, _ in points:
            axis.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        if len(points) >= 2 and max(xs) > min(xs):
            mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mean_x) ** 2 for x in xs)
            line_x = [min(xs), max(xs)]
            axis.plot(line_x, [mean_y + slope * (x - mean_x) for x in line_x], color="tab:red", linewidth=1)
        axis.axhline(0.0, color="grey", linewidth=0.6)
        r, interval = _number(entry.get("pearson_r")), _interval(entry.get("ci95"))
        r_text = "r undefined" if r is None else f"r = {r:+.2f}" + (
            f" [{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else "")
        axis.set_title(f"{r_text}, {entry.get('num_classes', len(points))} classes", fontsize=9)
        axis.set_xlabel(f"train share P({group} | class)")
        axis.set_ylabel(f"TPR gap ({pair}), 95% interval")
    figure.suptitle(f"Per-class TPR gap vs train share — {report.get('split', '')} split", fontsize=10)
    return figure


# --- per-group rates ------------------------------------------------------------------------------


def group_rates(report: Mapping[str, Any]) -> Figure | None:
    """Each group's accuracy (left) and per-class TPR (right), with their 95% intervals; ``None`` without groups."""
    by_group = {name: row for name, row in (report.get("by_group") or {}).items() if row.get("n")}
    if not by_group:
        return None
    classes = list(report.get("class_names") or next(iter(by_group.values())).get("tpr", {}))
    shown = classes[:MAX_ROWS]
    groups = list(by_group)
    height = max(2.8, 0.9 + 0.22 * len(shown) * max(1.0, len(groups) / 2))
    figure, (left, right) = _new_figure(9.5, height, columns=2, width_ratios=[1, 2.6])
    colours = [f"C{i % 10}" for i in range(len(groups))]
    accuracies = [_number(by_group[g].get("accuracy")) for g in groups]
    positions = list(range(len(groups)))
    left.barh(positions, [a or 0.0 for a in accuracies], color=colours, alpha=0.75,
              xerr=_error_bars(accuracies, [_interval(by_group[g].get("accuracy_ci95")) for g in groups]),
              error_kw={"elinewidth": 0.8, "capsize": 2})
    left.set_yticks(positions, [f"{g} (n={by_group[g]['n']})" for g in groups], fontsize=8)
    left.invert_yaxis()
    left.set_xlim(0, 1)
    left.set_xlabel("accuracy, 95% interval")
    offset = 0.8 / len(groups)
    for i, group in enumerate(groups):
        tpr = by_group[group].get("tpr") or {}
        intervals = by_group[group].get("tpr_ci95") or {}
        values = [_number(tpr.get(name)) for name in shown]
        ys = [row - 0.4 + offset * (i + 0.5) for row in range(len(shown))]
        kept = [(v, y, _interval(intervals.get(name))) for v, y, name in zip(values, ys, shown, strict=True)
                if v is not None]
        if kept:
            right.errorbar([k[0] for k in kept], [k[1] for k in kept],
                           xerr=_error_bars([k[0] for k in kept], [k[2] for k in kept]), fmt="o", markersize=3.5,
                           color=colours[i], elinewidth=0.8, capsize=1.5, label=group)
    right.set_yticks(range(len(shown)), shown, fontsize=7)
    right.invert_yaxis()
    right.set_xlim(-0.02, 1.02)
    right.set_xlabel("TPR per class, 95% interval")
    right.legend(fontsize=7, loc="lower right")
    left_out = f" (first {MAX_ROWS} of {len(classes)} classes)" if len(classes) > MAX_ROWS else ""
    figure.suptitle(f"Per-group rates — {report.get('split', '')} split{left_out}", fontsize=10)
    return figure


# --- per-term rates of an evaluation set ----------------------------------------------------------


def _is_per_term(value: Any) -> bool:
    return (isinstance(value, Mapping) and bool(value)
            and all(isinstance(v, Mapping) and ("fpr" in v or "fnr" in v) for v in value.values()))


def per_term_sections(section: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """``(path, mapping)`` of every mapping at any depth of ``section`` that holds a per-term rate table."""
    if not isinstance(section, Mapping):
        return
    if any(_is_per_term(section.get(key)) for key in PER_TERM_KEYS):
        yield path, section
        return
    for key, value in section.items():
        yield from per_term_sections(value, (*path, str(key)))


def per_term_rates(title: str, section: Mapping[str, Any]) -> Figure:
    """FPR and FNR per term as horizontal bars with 95% intervals, the overall rates as dashed lines."""
    table = next(section[key] for key in PER_TERM_KEYS if _is_per_term(section.get(key)))
    terms = list(table)[:MAX_ROWS]
    overall = section.get("overall") if isinstance(section.get("overall"), Mapping) else section
    height = max(2.6, 0.9 + 0.2 * len(terms))
    figure, axes = _new_figure(9.0, height, columns=2)
    for axis, rate, colour in zip(axes, ("fpr", "fnr"), ("tab:red", "tab:blue"), strict=True):
        values = [_number(table[t].get(rate)) for t in terms]
        intervals = [_interval(table[t].get(f"{rate}_ci95")) for t in terms]
        axis.barh(range(len(terms)), [v or 0.0 for v in values], color=colour, alpha=0.7,
                  xerr=_error_bars(values, intervals), error_kw={"elinewidth": 0.8, "capsize": 1.5})
        reference = _number(overall.get(rate))
        if reference is not None:
            axis.axvline(reference, color="black", linestyle="--", linewidth=0.8, label=f"overall {reference:.3f}")
            axis.legend(fontsize=7, loc="lower right")
        axis.set_yticks(range(len(terms)), [t + (" (no rows)" if v is None else "") for t, v in zip(terms, values,
                                                                                                     strict=True)],
                        fontsize=7)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_xlabel(f"{rate.upper()} per term, 95% interval")
    left_out = f" (first {MAX_ROWS} of {len(table)} terms)" if len(table) > MAX_ROWS else ""
    figure.suptitle(f"{title}: per-term FPR and FNR{left_out}", fontsize=10)
    return figure


# --- writing a report's figures -------------------------------------------------------------------


def _slug(parts: Sequence[str]) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").lower() or "section"


def write_report_figures(report: Mapping[str, Any], directory: str | Path, stem: str,
                         sections: Sequence[str]) -> dict[str, dict[str, str]]:
    """Draw a bias report's figures into ``directory`` as ``<stem>_<name>.png``.

    Args:
        report: the bias report (as ``bias_report.json`` holds it).
        directory: where ``bias_report.md`` goes.
        stem: the report's file stem (``bias_report`` or ``bias_report_test``).
        sections: the report's keys that are plugin or evaluation sections (searched for per-term rates).

    Returns ``{name: {"file": file name, "section": the report key it belongs to, "title": caption}}`` of the
    figures written, in the order the markdown shows them.
    """
    directory = Path(directory)
    drawn: list[tuple[str, str, str, Figure | None]] = [
        ("group_rates", "by_group", "Per-group accuracy and per-class TPR, 95% intervals", group_rates(report)),
        ("tpr_gap_vs_train_share", "gap_train_share_correlation", "Per-class TPR gap vs train share",
         tpr_gap_vs_train_share(report)),
    ]
    for key in sections:
        for path, section in per_term_sections(report.get(key), (key,)):
            title = ".".join(path)
            drawn.append((f"{_slug(path)}_per_term", key, f"{title}: per-term FPR and FNR",
                          per_term_rates(title, section)))
    written: dict[str, dict[str, str]] = {}
    for name, section, title, figure in drawn:
        if figure is None:
            continue
        file = f"{stem}_{name}.png"
        save_png(figure, directory / file)
        written[name] = {"file": file, "section": section, "title": title}
    return written


# --- data inspect ---------------------------------------------------------------------------------


def cooccurrence_heatmap(inspection: Mapping[str, Any]) -> Figure:
    """P(group | label) per split as heat maps side by side, each cell annotated with its rate and count.

    ``inspection`` is what ``lightning_bias.data.inspection.inspect_splits`` returns.
    """
    splits = inspection["splits"]
    labels, groups = list(inspection["label_names"]), list(inspection["group_names"])
    shown = labels[:MAX_ROWS]
    height = max(2.8, 1.2 + 0.28 * len(shown))
    figure, axes = _new_figure(max(4.0, 1.2 + 0.9 * len(groups)) * len(splits) + 1.5, height, columns=len(splits))
    image = None
    for axis, (split, stats) in zip(axes, splits.items(), strict=True):
        rates = [[_number(stats["p_group_given_label"][label][group]) for group in groups] for label in shown]
        grid = [[math.nan if rate is None else rate for rate in row] for row in rates]
        image = axis.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        for i, label in enumerate(shown):
            for j, group in enumerate(groups):
                count = stats["counts"][label][group]
                rate = rates[i][j]
                text = "—" if rate is None else f"{rate:.2f}\n{count}"
                axis.text(j, i, text, ha="center", va="center", fontsize=6,
                          color="black" if rate is not None and rate > 0.6 else "white")
        axis.set_xticks(range(len(groups)), groups, fontsize=7, rotation=30, ha="right")
        axis.set_yticks(range(len(shown)), shown, fontsize=7)
        axis.set_title(f"{split} ({stats['rows']} rows)", fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=list(axes), label="P(group | label)", shrink=0.8)
    left_out = f" (first {MAX_ROWS} of {len(labels)} labels)" if len(labels) > MAX_ROWS else ""
    figure.suptitle(f"Co-occurrence of label and group{left_out}; each cell: rate, rows", fontsize=10)
    return figure
