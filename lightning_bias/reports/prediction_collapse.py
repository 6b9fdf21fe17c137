"""A warning for predictions that collapsed to one class: such a model learned nothing of the task.

A classifier whose training diverged or barely started predicts the same class for (almost) every
input. Its accuracy is then the share of that class, and its fairness gaps are near zero because it
treats every group alike — a report that reads as "fair" when the model is useless. The bias report
carries ``collapse_warnings`` in its ``warnings`` list and at the top of the markdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLLAPSE_SHARE = 0.95  # the most predicted class's share of all predictions from which they count as collapsed
CHANCE_MARGIN = 0.05  # macro TPR (balanced accuracy) at most this far above chance (1 / classes) is chance
COLLAPSE_WARNING = "predictions collapsed"  # how the warning starts (the study analysis leaves such rows out)


def predicted_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """``{class: how many examples were predicted as it}``, from each group's ``n`` and ``selection_rate``.

    Groups without rows (``n == 0``, rates ``None``) add nothing.
    """
    counts: dict[str, float] = {}
    for group in report["by_group"].values():
        for name, rate in group["selection_rate"].items():
            counts[name] = counts.get(name, 0.0) + (group["n"] * rate if rate is not None else 0.0)
    return {name: round(count) for name, count in counts.items()}


def collapse_warnings(report: Mapping[str, Any]) -> list[str]:
    """One warning when the most predicted class has ``COLLAPSE_SHARE`` or more of the predictions and the
    macro TPR (balanced accuracy) is within ``CHANCE_MARGIN`` of chance, else none. The second condition
    keeps an imbalanced task apart: a hate-speech classifier that predicts the majority class for 96% of
    inputs but finds a third of the hate (balanced accuracy 0.64 against chance 0.5) has learned something."""
    counts = predicted_counts(report)
    total = sum(counts.values())
    if total == 0:
        return []
    top_class, top = max(counts.items(), key=lambda item: item[1])
    macro_tpr = (report.get("overall") or {}).get("macro_tpr")
    if top / total < COLLAPSE_SHARE or (macro_tpr is not None and macro_tpr > 1 / len(counts) + CHANCE_MARGIN):
        return []
    predicted = sum(1 for count in counts.values() if count > 0)
    return [
        f"{COLLAPSE_WARNING}: {top / total:.0%} of the {total} examples are predicted {top_class!r} "
        f"({predicted} of {len(counts)} classes predicted at all); the model has not learned the task, so its "
        "accuracy is about chance and its small gaps mean nothing. Train longer or change the learning rate"
    ]
