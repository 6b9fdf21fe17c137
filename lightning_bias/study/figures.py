"""The study report's figures, drawn from the numbers :mod:`.analysis` computed, as PNG files.

Drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas: no pyplot, no display, no global
backend switch, and the same numbers always give the same bytes (no timestamp in the file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lightning_bias.study.analysis import Estimate, MitigationEffect, RegressionAnswer

_PNG_METADATA = {"Software": None}  # no matplotlib version in the file: the bytes depend on the numbers only


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110, metadata=_PNG_METADATA)
    return path


def _bounds(estimate: Estimate) -> tuple[float, float]:
    """The interval, or the value itself when there is none (one seed), so a band shows nothing."""
    return (estimate.low, estimate.high) if estimate.has_interval else (estimate.value, estimate.value)


def gap_against_cooccurrence(lines: Mapping[str, Sequence[tuple[str, Estimate]]], positions: Mapping[str, float],
                             x_label: str, y_label: str, path: Path) -> Path:
    """One line per upstream arm: the outcome at each co-occurrence level with its 95% band."""
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot()
    for arm, points in lines.items():
        x = np.array([positions[level] for level, _ in points])
        y = np.array([estimate.value for _, estimate in points])
        low, high = np.array([_bounds(estimate) for _, estimate in points]).T
        (line,) = axes.plot(x, y, marker="o", label=arm)
        axes.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_xticks(sorted(set(positions.values())))
    axes.set_xticklabels([name for name, _ in sorted(positions.items(), key=lambda item: item[1])])
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title("Extrinsic bias against fine-tuning co-occurrence (95% bands over seeds)")
    axes.legend(title="upstream arm", fontsize="small")
    return _save(figure, path)


def intrinsic_against_extrinsic(answer: RegressionAnswer, x_label: str, y_label: str, path: Path) -> Path:
    """Every regressed row: intrinsic bias of its upstream model against its extrinsic bias, by arm, with
    the least-squares line of the one against the other."""
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot()
    for arm in dict.fromkeys(answer.arms):
        chosen = np.array([a == arm for a in answer.arms])
        axes.scatter(answer.x[chosen], answer.y[chosen], label=arm or None, alpha=0.8)
    slope, intercept = np.polyfit(answer.x, answer.y, 1)
    grid = np.linspace(answer.x.min(), answer.x.max(), 50)
    axes.plot(grid, intercept + slope * grid, color="black", linewidth=1, label=f"fit: slope {slope:.3g}")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title("Intrinsic against extrinsic bias (one point per fine-tuned model)")
    axes.legend(fontsize="small")
    return _save(figure, path)


def mitigations_side_by_side(effects: Sequence[MitigationEffect], gap_label: str, path: Path) -> Path:
    """Two panels of bars: each mitigation's change of the gap and of accuracy against "none", with 95%
    intervals (no whisker where there is none)."""
    figure = Figure(figsize=(8.0, 3.8))
    shown = [effect for effect in effects if effect.gap.terms]
    names = [effect.name for effect in shown]
    for index, (title, pick) in enumerate(((f"change of {gap_label}", lambda e: e.gap),
                                           ("change of accuracy", lambda e: e.accuracy))):
        axes = figure.add_subplot(1, 2, index + 1)
        estimates = [pick(effect).estimate for effect in shown]
        values = np.array([e.value if e is not None else np.nan for e in estimates])
        low, high = np.array([_bounds(e) if e is not None else (np.nan, np.nan) for e in estimates]).T
        axes.bar(names, values, yerr=np.vstack([values - low, high - values]), capsize=4,
                 color=["tab:green" if v < 0 else "tab:red" for v in values] if index == 0 else "tab:blue")
        axes.axhline(0, color="black", linewidth=0.8)
        axes.set_title(f"{title}\nvs 'none' (95% intervals)", fontsize="medium")
        axes.tick_params(axis="x", labelrotation=30)
    return _save(figure, path)
