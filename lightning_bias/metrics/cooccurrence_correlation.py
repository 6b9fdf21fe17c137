"""How the per-class gap follows the training data's group imbalance (De-Arteaga et al. 2019).

De-Arteaga et al. found that an occupation's TPR gender gap rises with the share of women in that
occupation's training data. :func:`gap_train_share_correlation` measures that relation for one run: the
Pearson correlation, over classes, between a group's signed gap (its rate minus the other groups', from
``report["gaps"]["signed_by_class"]``) and its train share ``P(group | class)``, with a 95% interval from
Fisher's z transform. The interval treats each class as one observation and does not include the
sampling noise of the gaps themselves, which pulls ``r`` towards 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lightning_bias.metrics.functional import Z_95


def pearson_with_interval(xs: list[float], ys: list[float]) -> tuple[float | None, list[float] | None]:
    """Pearson ``r`` of paired values and its 95% Fisher-z interval ``tanh(atanh(r) +- 1.96 / sqrt(n - 3))``.

    ``r`` is ``None`` with fewer than 3 pairs or a constant side; the interval is ``None`` with fewer than
    4 pairs (or ``|r| = 1``).

    Example:
        >>> r, interval = pearson_with_interval([0.1, 0.3, 0.5, 0.7, 0.9], [0.0, 0.1, 0.1, 0.3, 0.4])
        >>> round(r, 4), [round(bound, 4) for bound in interval]
        (0.9623, [0.5296, 0.9976])
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"pearson_with_interval: {n} x values but {len(ys)} y values; pass pairs")
    if n < 3:
        return None, None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None, None
    r = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)
    r = max(-1.0, min(1.0, r))
    if n < 4 or abs(r) == 1.0:
        return r, None
    z, half_width = math.atanh(r), Z_95 / math.sqrt(n - 3)
    return r, [math.tanh(z - half_width), math.tanh(z + half_width)]


def gap_train_share_correlation(
    report: Mapping[str, Any], p_group_given_label: Mapping[str, Mapping[str, float | None]], rate: str = "tpr"
) -> dict[str, Any]:
    """Correlation over classes of each group's signed ``rate`` gap with its train share ``P(group | class)``.

    Args:
        report: a fairness report (:func:`~lightning_bias.metrics.fairness_report.fairness_report`, or the
            bias report built on it) with ``gaps.signed_by_class``.
        p_group_given_label: ``{class: {group: P(group | class)}}`` of the train split (the bias report's
            ``train_cooccurrence.p_group_given_label``); classes missing from it are left out.
        rate: ``"tpr"``, ``"fpr"`` or ``"selection_rate"``.

    Returns:
        ``{"rate", "method", "by_group": {group: {"pair", "pearson_r", "ci95", "num_classes"}}}``: one
        entry for the first group when there are two (the second's is the same), one per group otherwise.
        ``num_classes`` counts the classes where both the gap and the share are defined.
    """
    signed = report.get("gaps", {}).get("signed_by_class")
    if signed is None or rate not in signed:
        raise ValueError(
            f"gap_train_share_correlation: the report has no gaps.signed_by_class.{rate}; build it with "
            "lightning_bias.metrics.fairness_report (rate is one of 'tpr', 'fpr', 'selection_rate')"
        )
    groups = list(report["group_names"])
    subjects = groups[:1] if len(groups) == 2 else groups
    by_group: dict[str, Any] = {}
    for group, pair in zip(subjects, signed["pairs"], strict=True):
        xs, ys = [], []
        for name in report["class_names"]:
            share = (p_group_given_label.get(name) or {}).get(group)
            gap = signed[rate][pair].get(name)
            if share is not None and gap is not None and not math.isnan(share) and not math.isnan(gap):
                xs.append(float(share))
                ys.append(float(gap))
        r, interval = pearson_with_interval(xs, ys)
        by_group[group] = {"pair": pair, "pearson_r": r, "ci95": interval, "num_classes": len(xs)}
    return {
        "rate": rate,
        "method": "Pearson r over classes of the signed gap and the train share P(group | class); 95% Fisher z",
        "by_group": by_group,
    }
