"""Turn synced count tensors into the flat logging dict and the JSON-ready fairness report.

Both are pure functions of the ``[G, C, C]`` confusion tensor (and, for binary tasks with AUC, the
``[G, 2, B]`` score histograms), so every number in them is reproducible from the counts alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bias_auc import summarise_bias_aucs


def flat_fairness_metrics(
    confusion: Tensor,
    group_names: Sequence[str],
    histograms: Tensor | None = None,
    auc_power: float = F.JIGSAW_POWER,
) -> dict[str, Tensor]:
    """Scalar tensors for ``LightningModule.log_dict`` (float64; NaN where undefined).

    Keys: ``accuracy``, ``macro_tpr``, ``worst_group_accuracy``, ``{tpr_gap, fpr_gap, dp_difference,
    eo_difference}_{rms, max}``, ``dp_ratio_min``, ``eo_ratio_min`` (equal-opportunity, i.e. TPR, ratio),
    ``acc/<group>``; with histograms also ``auc``, ``{subgroup_auc, bpsn_auc, bnsp_auc}/<group>``,
    ``{subgroup_auc, bpsn_auc, bnsp_auc}_power_mean`` and ``bias_auc_final_score``.
    """
    per_class = per_class_fairness(confusion)
    result: dict[str, Tensor] = {
        "accuracy": F.overall_accuracy(confusion),
        "macro_tpr": F.macro_true_positive_rate(confusion),
        "worst_group_accuracy": F.worst_group_accuracy(confusion),
    }
    for name in ("tpr_gap", "fpr_gap", "dp_difference", "eo_difference"):
        result[f"{name}_rms"] = F.aggregate_over_classes(per_class[name], "rms")
        result[f"{name}_max"] = F.aggregate_over_classes(per_class[name], "max")
    result["dp_ratio_min"] = F.aggregate_over_classes(per_class["dp_ratio"], "min")
    result["eo_ratio_min"] = F.aggregate_over_classes(per_class["eo_ratio"], "min")
    for name, accuracy in zip(group_names, F.group_accuracies(confusion), strict=True):
        result[f"acc/{name}"] = accuracy
    if histograms is not None:
        aucs = summarise_bias_aucs(histograms, auc_power)
        result["auc"] = aucs["overall_auc"]
        for kind in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
            for name, value in zip(group_names, aucs[kind], strict=True):
                result[f"{kind}/{name}"] = value
            result[f"{kind}_power_mean"] = aucs[f"{kind}_power_mean"]
        result["bias_auc_final_score"] = aucs["final_score"]
    return result


def per_class_fairness(confusion: Tensor) -> dict[str, Tensor]:
    """``[C]`` per-class gaps and ratios: ``tpr_gap``, ``fpr_gap``, ``dp_difference``, ``eo_difference``,
    ``dp_ratio``, ``eo_ratio`` (TPR ratio)."""
    tpr = F.true_positive_rates(confusion)
    fpr = F.false_positive_rates(confusion)
    selection = F.selection_rates(confusion)
    tpr_gap = F.rate_gaps(tpr)
    fpr_gap = F.rate_gaps(fpr)
    return {
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "dp_difference": F.rate_gaps(selection),
        "eo_difference": F.equalized_odds_gaps(tpr_gap, fpr_gap),
        "dp_ratio": F.rate_ratios(selection),
        "eo_ratio": F.rate_ratios(tpr),
    }


_REPORTED_SUMMARIES = (
    "tpr_gap_rms",
    "tpr_gap_max",
    "fpr_gap_rms",
    "fpr_gap_max",
    "dp_difference_rms",
    "dp_difference_max",
    "eo_difference_rms",
    "eo_difference_max",
    "worst_group_accuracy",
    "dp_ratio_min",
    "eo_ratio_min",
)


def fairness_report(
    confusion: Tensor,
    group_names: Sequence[str],
    class_names: Sequence[str],
    histograms: Tensor | None = None,
    auc_power: float = F.JIGSAW_POWER,
) -> dict[str, Any]:
    """Plain JSON-serialisable report (Python ints/floats/lists/dicts; NaN -> ``None``).

    Structure::

        {"num_examples": int, "num_classes": int, "num_groups": int,
         "class_names": [...], "group_names": [...],
         "overall": {"accuracy", "accuracy_ci95": [lo, hi], "macro_tpr", "tpr": {class: f}},
         "by_group": {group: {"n", "accuracy", "accuracy_ci95", "support": {class: int},
                              "tpr", "tpr_ci95", "fpr", "fpr_ci95", "selection_rate", "selection_rate_ci95"}},
         "gaps": {"tpr_gap_rms", "tpr_gap_max", "fpr_gap_rms", "fpr_gap_max", "dp_difference_rms",
                  "dp_difference_max", "eo_difference_rms", "eo_difference_max", "worst_group_accuracy",
                  "dp_ratio_min", "eo_ratio_min",
                  "tpr_gap_by_class", "fpr_gap_by_class", "dp_difference_by_class", "eo_difference_by_class",
                  "dp_ratio_by_class", "eo_ratio_by_class"},
         "auc": {...},            # only with histograms (binary task, thresholds given)
         "empty_groups": [group names with n == 0]}

    Per-class entries are dicts keyed by class name; intervals are 95% Wilson score intervals from the
    counts (``None`` where the rate is undefined). ``eo_ratio`` is the equal-opportunity (TPR) ratio
    ``min/max`` over groups, ``eo_difference`` the equalized-odds difference ``max(TPR gap, FPR gap)``.
    """
    confusion = confusion.detach().cpu()
    group_names, class_names = list(group_names), list(class_names)
    sizes = F.group_sizes(confusion)
    correct = F.true_positive_counts(confusion).sum(dim=1)
    positives, negatives = F.class_positives(confusion), F.class_negatives(confusion)
    true_positives, false_positives = F.true_positive_counts(confusion), F.false_positive_counts(confusion)
    predicted = F.class_predictions(confusion)
    rates = {
        "tpr": (true_positives, positives),
        "fpr": (false_positives, negatives),
        "selection_rate": (predicted, sizes.unsqueeze(1).expand_as(predicted)),
    }

    by_group: dict[str, Any] = {}
    accuracy_low, accuracy_high = F.wilson_interval(correct, sizes)
    for g, group in enumerate(group_names):
        entry: dict[str, Any] = {
            "n": int(sizes[g]),
            "accuracy": _number(F.safe_divide(correct[g], sizes[g])),
            "accuracy_ci95": _interval(accuracy_low[g], accuracy_high[g]),
            "support": {name: int(positives[g, c]) for c, name in enumerate(class_names)},
        }
        for rate_name, (successes, trials) in rates.items():
            values = F.safe_divide(successes[g], trials[g])
            low, high = F.wilson_interval(successes[g], trials[g])
            entry[rate_name] = _by_class(values, class_names)
            entry[f"{rate_name}_ci95"] = {
                name: _interval(low[c], high[c]) for c, name in enumerate(class_names)
            }
        by_group[group] = entry

    pooled = confusion.sum(dim=0, keepdim=True)
    overall_low, overall_high = F.wilson_interval(correct.sum(), sizes.sum())
    per_class = per_class_fairness(confusion)
    flat = flat_fairness_metrics(confusion, group_names)
    gaps: dict[str, Any] = {
        key: _number(flat[key])
        for key in _REPORTED_SUMMARIES
    }
    for name, values in per_class.items():
        gaps[f"{name}_by_class"] = _by_class(values, class_names)

    report: dict[str, Any] = {
        "num_examples": int(sizes.sum()),
        "num_classes": len(class_names),
        "num_groups": len(group_names),
        "class_names": class_names,
        "group_names": group_names,
        "overall": {
            "accuracy": _number(flat["accuracy"]),
            "accuracy_ci95": _interval(overall_low, overall_high),
            "macro_tpr": _number(flat["macro_tpr"]),
            "tpr": _by_class(F.true_positive_rates(pooled)[0], class_names),
        },
        "by_group": by_group,
        "gaps": gaps,
    }
    if histograms is not None:
        report["auc"] = _auc_report(histograms.detach().cpu(), group_names, auc_power)
    report["empty_groups"] = [group for g, group in enumerate(group_names) if int(sizes[g]) == 0]
    return report


def _auc_report(histograms: Tensor, group_names: list[str], power: float) -> dict[str, Any]:
    aucs = summarise_bias_aucs(histograms, power)
    return {
        "num_thresholds": histograms.shape[-1] - 1,
        "power": power,
        "overall_auc": _number(aucs["overall_auc"]),
        "subgroup_auc_power_mean": _number(aucs["subgroup_auc_power_mean"]),
        "bpsn_auc_power_mean": _number(aucs["bpsn_auc_power_mean"]),
        "bnsp_auc_power_mean": _number(aucs["bnsp_auc_power_mean"]),
        "final_score": _number(aucs["final_score"]),
        "by_group": {
            group: {
                "positives": int(histograms[g, 1].sum()),
                "negatives": int(histograms[g, 0].sum()),
                "subgroup_auc": _number(aucs["subgroup_auc"][g]),
                "bpsn_auc": _number(aucs["bpsn_auc"][g]),
                "bnsp_auc": _number(aucs["bnsp_auc"][g]),
            }
            for g, group in enumerate(group_names)
        },
    }


def _number(value: Tensor | float) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _interval(low: Tensor, high: Tensor) -> list[float] | None:
    low_value, high_value = _number(low), _number(high)
    return None if low_value is None or high_value is None else [low_value, high_value]


def _by_class(values: Tensor, class_names: Sequence[str]) -> dict[str, float | None]:
    return {name: _number(values[c]) for c, name in enumerate(class_names)}

