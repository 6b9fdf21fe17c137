"""Turn synced count tensors into the flat logging dict and the JSON-ready fairness report.

Both are pure functions of the ``[G, C, C]`` confusion tensor (and, for binary tasks with AUC, the
``[G, 2, B]`` score histograms), so every number in them, intervals included, is reproducible from the
counts alone (the bootstrap is seeded).

What a gap means: for each class ``c`` and rate (TPR, FPR, selection rate), the *gap* is the range of the
rate over the groups (``max - min``; the absolute difference for two groups). The *signed* gap of a group
is its rate minus the rate of all other groups pooled: for two groups ``A`` and ``B`` (in the order of
``group_names``) that is ``A - B``, reported once under the name ``"A - B"``; for more groups every group
gets ``"<group> - rest"``, positive when the group's rate is above everyone else's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bias_auc import summarise_bias_aucs
from lightning_bias.metrics.bootstrap import (
    DEFAULT_REPLICATES,
    bootstrap_margins,
    multinomial_replicates,
    percentile_interval,
)
from lightning_bias.metrics.noise_correction import gap_sampling_variances, noise_corrected_rms, noise_floor

#: A group x class cell with fewer true examples than this is flagged in the report by default.
DEFAULT_MIN_SUPPORT = 10

#: Draws behind each noise floor: it is an expectation, not a tail quantile, so 200 draws leave a Monte
#: Carlo error of about 1% of the floor for 28 classes (about 5% for 2 classes).
NOISE_FLOOR_REPLICATES = 200

#: The per-class gaps that are differences of one rate, with that rate (and so a noise correction).
CORRECTED_GAPS = {"tpr_gap": "tpr", "fpr_gap": "fpr", "dp_difference": "selection_rate"}

_REPORTED_SUMMARIES = (
    "tpr_gap_rms",
    "tpr_gap_rms_corrected",
    "tpr_gap_max",
    "fpr_gap_rms",
    "fpr_gap_rms_corrected",
    "fpr_gap_max",
    "dp_difference_rms",
    "dp_difference_rms_corrected",
    "dp_difference_max",
    "eo_difference_rms",
    "eo_difference_max",
    "worst_group_accuracy",
    "dp_ratio_min",
    "eo_ratio_min",
)


def rate_counts(margins: F.ConfusionMargins) -> dict[str, tuple[Tensor, Tensor]]:
    """``{"tpr", "fpr", "selection_rate"}`` -> ``(successes, trials)``, each ``[..., G, C]``."""
    return {
        "tpr": (margins.true_positives, margins.positives),
        "fpr": (margins.false_positives, margins.negatives),
        "selection_rate": (margins.predictions, margins.sizes.unsqueeze(-1).expand_as(margins.predictions)),
    }


def per_class_from_margins(margins: F.ConfusionMargins) -> dict[str, Tensor]:
    """``[..., C]`` per-class gaps and ratios from the margins (see :func:`per_class_fairness`)."""
    rates = F.margin_rates(margins)
    tpr_gap = F.rate_gaps(rates["tpr"])
    fpr_gap = F.rate_gaps(rates["fpr"])
    return {
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "dp_difference": F.rate_gaps(rates["selection_rate"]),
        "eo_difference": F.equalized_odds_gaps(tpr_gap, fpr_gap),
        "dp_ratio": F.rate_ratios(rates["selection_rate"]),
        "eo_ratio": F.rate_ratios(rates["tpr"]),
    }


def per_class_fairness(confusion: Tensor) -> dict[str, Tensor]:
    """``[C]`` per-class gaps and ratios: ``tpr_gap``, ``fpr_gap``, ``dp_difference``, ``eo_difference``,
    ``dp_ratio``, ``eo_ratio`` (TPR ratio)."""
    return per_class_from_margins(F.confusion_margins(confusion))


def gap_summaries(margins: F.ConfusionMargins) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The summaries of the report's ``gaps`` (``[...]`` each) and the per-class values they come from.

    Works on observed margins and, with a leading dimension, on bootstrap replicates alike.
    """
    per_class = per_class_from_margins(margins)
    counts = rate_counts(margins)
    summaries: dict[str, Tensor] = {}
    for name in ("tpr_gap", "fpr_gap", "dp_difference", "eo_difference"):
        summaries[f"{name}_rms"] = F.aggregate_over_classes(per_class[name], "rms")
        summaries[f"{name}_max"] = F.aggregate_over_classes(per_class[name], "max")
    for name, rate in CORRECTED_GAPS.items():
        summaries[f"{name}_rms_corrected"] = noise_corrected_rms(per_class[name], gap_sampling_variances(*counts[rate]))
    accuracies = F.safe_divide(margins.true_positives.sum(dim=-1), margins.sizes)
    summaries["worst_group_accuracy"] = F.nan_aware_min(accuracies, dim=-1)
    summaries["dp_ratio_min"] = F.aggregate_over_classes(per_class["dp_ratio"], "min")
    summaries["eo_ratio_min"] = F.aggregate_over_classes(per_class["eo_ratio"], "min")
    return summaries, per_class


def flat_fairness_metrics(
    confusion: Tensor,
    group_names: Sequence[str],
    histograms: Tensor | None = None,
    auc_power: float = F.JIGSAW_POWER,
) -> dict[str, Tensor]:
    """Scalar tensors for ``LightningModule.log_dict`` (float64; NaN where undefined).

    Keys: ``accuracy``, ``macro_tpr``, ``worst_group_accuracy``, ``{tpr_gap, fpr_gap, dp_difference,
    eo_difference}_{rms, max}``, ``{tpr_gap, fpr_gap, dp_difference}_rms_corrected`` (the noise-corrected
    GAP-RMS of :mod:`lightning_bias.metrics.noise_correction`, the one to compare across runs),
    ``dp_ratio_min``, ``eo_ratio_min`` (equal-opportunity, i.e. TPR, ratio), ``acc/<group>``; with
    histograms also ``auc``, ``{subgroup_auc, bpsn_auc, bnsp_auc}/<group>``,
    ``{subgroup_auc, bpsn_auc, bnsp_auc}_power_mean`` and ``bias_auc_final_score``.
    """
    margins = F.confusion_margins(confusion)
    summaries, _ = gap_summaries(margins)
    result: dict[str, Tensor] = {
        "accuracy": F.overall_accuracy(confusion),
        "macro_tpr": F.macro_true_positive_rate(confusion),
        **summaries,
    }
    accuracies = F.safe_divide(margins.true_positives.sum(dim=-1), margins.sizes)
    for name, accuracy in zip(group_names, accuracies, strict=True):
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


def fairness_report(
    confusion: Tensor,
    group_names: Sequence[str],
    class_names: Sequence[str],
    histograms: Tensor | None = None,
    auc_power: float = F.JIGSAW_POWER,
    min_support: int = DEFAULT_MIN_SUPPORT,
    bootstrap_replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, Any]:
    """Plain JSON-serialisable report (Python ints/floats/lists/dicts; NaN -> ``None``).

    Structure::

        {"num_examples": int, "num_classes": int, "num_groups": int,
         "class_names": [...], "group_names": [...],
         "overall": {"accuracy", "accuracy_ci95": [lo, hi], "macro_tpr", "tpr": {class: f}},
         "by_group": {group: {"n", "accuracy", "accuracy_ci95", "support": {class: int},
                              "tpr", "tpr_ci95", "fpr", "fpr_ci95", "selection_rate", "selection_rate_ci95"}},
         "gaps": {"tpr_gap_rms", "tpr_gap_rms_corrected", "tpr_gap_rms_noise_floor", "tpr_gap_max",
                  (the same for fpr_gap and dp_difference), "eo_difference_rms", "eo_difference_max",
                  "worst_group_accuracy", "dp_ratio_min", "eo_ratio_min",
                  "<each of those but the noise floors>_ci95": [lo, hi],
                  "tpr_gap_by_class", "fpr_gap_by_class", "dp_difference_by_class", "eo_difference_by_class",
                  "dp_ratio_by_class", "eo_ratio_by_class", "<each>_by_class_ci95": {class: [lo, hi]},
                  "signed_by_class": {"definition", "pairs": [name, ...],
                                      "tpr" | "fpr" | "selection_rate": {pair: {class: f}},
                                      "<rate>_ci95": {pair: {class: [lo, hi]}}}},
         "auc": {...},            # only with histograms (binary task, thresholds given), with *_ci95 too
         "small_cells": {"min_support": int, "cells": [{"group", "class", "support"}, ...]},
         "intervals": {"level": 0.95, "by_group", "signed_by_class", "gaps", "auc", "noise_floor",
                       "replicates", "seed"},   # how each kind of interval was computed
         "empty_groups": [group names with n == 0]}

    Per-group rates carry 95% Wilson score intervals; signed differences Newcombe hybrid score intervals;
    with two groups the per-class TPR/FPR/selection gaps (``|A - B|``) the image of that Newcombe interval;
    every other gap, ratio and AUC a 95% percentile interval over ``bootstrap_replicates`` replicates
    drawn from the counts (:mod:`lightning_bias.metrics.bootstrap`, seeded with ``seed``; ``0``
    replicates leaves those intervals out). ``*_rms_corrected`` is the noise-corrected GAP-RMS and
    ``*_rms_noise_floor`` the GAP-RMS expected from sampling noise alone
    (:mod:`lightning_bias.metrics.noise_correction`): read the raw ``*_rms`` against the floor, and compare
    runs on the corrected one. A cell of ``small_cells`` has fewer than ``min_support`` examples of the
    class in the group: its TPR (and its share of a gap) rests on too few rows to read on its own.
    Intervals are ``None`` where the value is. ``eo_ratio`` is the equal-opportunity (TPR) ratio
    ``min/max`` over groups, ``eo_difference`` the equalized-odds difference ``max(TPR gap, FPR gap)``.
    """
    confusion = confusion.detach().cpu()
    group_names, class_names = list(group_names), list(class_names)
    margins = F.confusion_margins(confusion)
    sizes = margins.sizes
    correct = margins.true_positives.sum(dim=-1)
    counts = rate_counts(margins)
    generator = torch.Generator().manual_seed(seed)

    by_group: dict[str, Any] = {}
    accuracy_low, accuracy_high = F.wilson_interval(correct, sizes)
    for g, group in enumerate(group_names):
        entry: dict[str, Any] = {
            "n": int(sizes[g]),
            "accuracy": _number(F.safe_divide(correct[g], sizes[g])),
            "accuracy_ci95": _interval(accuracy_low[g], accuracy_high[g]),
            "support": {name: int(margins.positives[g, c]) for c, name in enumerate(class_names)},
        }
        for rate_name, (successes, trials) in counts.items():
            values = F.safe_divide(successes[g], trials[g])
            low, high = F.wilson_interval(successes[g], trials[g])
            entry[rate_name] = _by_class(values, class_names)
            entry[f"{rate_name}_ci95"] = _intervals_by_class(low, high, class_names)
        by_group[group] = entry

    pooled = confusion.sum(dim=0, keepdim=True)
    overall_low, overall_high = F.wilson_interval(correct.sum(), sizes.sum())
    summaries, per_class = gap_summaries(margins)
    gaps: dict[str, Any] = {key: _number(summaries[key]) for key in _REPORTED_SUMMARIES}
    for name, rate in CORRECTED_GAPS.items():
        gaps[f"{name}_rms_noise_floor"] = _number(noise_floor(*counts[rate], NOISE_FLOOR_REPLICATES, generator))
    for name, values in per_class.items():
        gaps[f"{name}_by_class"] = _by_class(values, class_names)
    if bootstrap_replicates > 0:
        replicate_summaries, replicate_per_class = gap_summaries(
            bootstrap_margins(margins, bootstrap_replicates, generator)
        )
        # one quantile call over every statistic: [replicates, summaries + families * classes]
        stacked = torch.cat(
            [torch.stack([replicate_summaries[key] for key in _REPORTED_SUMMARIES], dim=-1)]
            + [replicate_per_class[name] for name in per_class],
            dim=-1,
        )
        observed = torch.cat([torch.stack([summaries[key] for key in _REPORTED_SUMMARIES])] + list(per_class.values()))
        low, high = (torch.where(torch.isnan(observed), torch.nan, bound) for bound in percentile_interval(stacked))
        summary_count = len(_REPORTED_SUMMARIES)
        for index, key in enumerate(_REPORTED_SUMMARIES):
            gaps[f"{key}_ci95"] = _interval(low[index], high[index])
        for index, name in enumerate(per_class):
            columns = slice(summary_count + index * len(class_names), summary_count + (index + 1) * len(class_names))
            gaps[f"{name}_by_class_ci95"] = _intervals_by_class(low[columns], high[columns], class_names)
    if len(group_names) == 2:  # the gap is |A - B|: its interval is the image of the Newcombe one
        for name, rate in CORRECTED_GAPS.items():
            _, low, high = F.group_minus_rest(*counts[rate])
            gaps[f"{name}_by_class_ci95"] = _intervals_by_class(*absolute_interval(low[0], high[0]), class_names)
    gaps["signed_by_class"] = _signed_by_class(counts, group_names, class_names)

    report: dict[str, Any] = {
        "num_examples": int(sizes.sum()),
        "num_classes": len(class_names),
        "num_groups": len(group_names),
        "class_names": class_names,
        "group_names": group_names,
        "overall": {
            "accuracy": _number(F.overall_accuracy(confusion)),
            "accuracy_ci95": _interval(overall_low, overall_high),
            "macro_tpr": _number(F.macro_true_positive_rate(confusion)),
            "tpr": _by_class(F.true_positive_rates(pooled)[0], class_names),
        },
        "by_group": by_group,
        "gaps": gaps,
    }
    if histograms is not None:
        report["auc"] = _auc_report(histograms.detach().cpu(), group_names, auc_power, bootstrap_replicates, generator)
    report["small_cells"] = {
        "min_support": min_support,
        "cells": [
            {"group": group, "class": name, "support": int(margins.positives[g, c])}
            for g, group in enumerate(group_names)
            for c, name in enumerate(class_names)
            if int(margins.positives[g, c]) < min_support
        ],
    }
    report["intervals"] = _interval_methods(bootstrap_replicates, seed, histograms is not None)
    report["empty_groups"] = [group for g, group in enumerate(group_names) if int(sizes[g]) == 0]
    return report


def absolute_interval(low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """Interval of ``|d|`` from an interval ``[low, high]`` of ``d``: ``[0, max(-low, high)]`` when it spans 0.

    Example:
        >>> absolute_interval(torch.tensor([-0.1, 0.2, -0.5]), torch.tensor([0.3, 0.4, -0.2]))
        (tensor([0.0000, 0.2000, 0.2000]), tensor([0.3000, 0.4000, 0.5000]))
    """
    spans_zero = (low <= 0) & (high >= 0)
    near = torch.minimum(low.abs(), high.abs())
    return torch.where(spans_zero, torch.zeros_like(low), near), torch.maximum(low.abs(), high.abs())


def signed_pair_names(group_names: Sequence[str]) -> list[str]:
    """Names of the signed differences: ``["A - B"]`` for two groups, ``["<g> - rest", ...]`` for more."""
    if len(group_names) == 2:
        return [f"{group_names[0]} - {group_names[1]}"]
    return [f"{group} - rest" for group in group_names]


def _signed_by_class(
    counts: dict[str, tuple[Tensor, Tensor]], group_names: list[str], class_names: list[str]
) -> dict[str, Any]:
    pairs = signed_pair_names(group_names)
    section: dict[str, Any] = {
        "definition": (
            f"{group_names[0]}'s rate minus {group_names[1]}'s, per class"
            if len(group_names) == 2
            else "each group's rate minus the rate of all other groups pooled, per class"
        ),
        "pairs": pairs,
    }
    for rate_name, (successes, trials) in counts.items():
        difference, low, high = F.group_minus_rest(successes, trials)
        section[rate_name] = {pair: _by_class(difference[g], class_names) for g, pair in enumerate(pairs)}
        section[f"{rate_name}_ci95"] = {
            pair: _intervals_by_class(low[g], high[g], class_names) for g, pair in enumerate(pairs)
        }
    return section


def _interval_methods(replicates: int, seed: int, with_auc: bool) -> dict[str, Any]:
    bootstrap = (
        f"percentile interval over {replicates} bootstrap replicates drawn from the counts, stratified by "
        "group x true class (true positives Binomial(class examples, TPR), false positives Binomial(other "
        "examples, FPR) per group and class; lightning_bias.metrics.bootstrap)"
        if replicates > 0
        else None
    )
    return {
        "level": 0.95,
        "by_group": "Wilson score interval",
        "signed_by_class": "Newcombe hybrid score interval (Newcombe 1998, method 10)",
        "gaps": bootstrap,
        "gaps_by_class_two_groups": (
            "TPR/FPR/selection gaps per class with two groups: the Newcombe interval of A - B taken to |A - B| "
            "([0, max] when it spans 0)"
        ),
        "auc": (
            f"percentile interval over {replicates} multinomial redraws of the score histograms, stratified "
            "by group x label"
            if with_auc and replicates > 0
            else None
        ),
        "noise_floor": (
            f"root of the mean squared gap over {NOISE_FLOOR_REPLICATES} draws with every group at the rate "
            "pooled over groups"
        ),
        "replicates": replicates,
        "seed": seed,
    }


def _auc_report(
    histograms: Tensor, group_names: list[str], power: float, replicates: int, generator: torch.Generator
) -> dict[str, Any]:
    aucs = summarise_bias_aucs(histograms, power)
    summary_keys = ("overall_auc", "subgroup_auc_power_mean", "bpsn_auc_power_mean", "bnsp_auc_power_mean", "final_score")
    group_keys = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
    report: dict[str, Any] = {"num_thresholds": histograms.shape[-1] - 1, "power": power}
    report.update({key: _number(aucs[key]) for key in summary_keys})
    by_group: dict[str, Any] = {
        group: {
            "positives": int(histograms[g, 1].sum()),
            "negatives": int(histograms[g, 0].sum()),
            **{key: _number(aucs[key][g]) for key in group_keys},
        }
        for g, group in enumerate(group_names)
    }
    if replicates > 0:
        replicate_aucs = summarise_bias_aucs(multinomial_replicates(histograms, replicates, generator), power)
        for key in summary_keys:
            report[f"{key}_ci95"] = _percentile_interval(aucs[key], replicate_aucs[key])
        for key in group_keys:
            low, high = percentile_interval(replicate_aucs[key])
            for g, group in enumerate(group_names):
                defined = not math.isnan(float(aucs[key][g]))
                by_group[group][f"{key}_ci95"] = _interval(low[g], high[g]) if defined else None
    report["by_group"] = by_group
    return report


def _percentile_interval(observed: Tensor, replicates: Tensor) -> list[float] | None:
    if math.isnan(float(observed)):
        return None
    return _interval(*percentile_interval(replicates))


def _number(value: Tensor | float) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _interval(low: Tensor, high: Tensor) -> list[float] | None:
    low_value, high_value = _number(low), _number(high)
    return None if low_value is None or high_value is None else [low_value, high_value]


def _by_class(values: Tensor, class_names: Sequence[str]) -> dict[str, float | None]:
    return {name: _number(value) for name, value in zip(class_names, values.tolist(), strict=True)}


def _intervals_by_class(low: Tensor, high: Tensor, class_names: Sequence[str]) -> dict[str, list[float] | None]:
    return {
        name: _interval(lo, hi) for name, lo, hi in zip(class_names, low.tolist(), high.tolist(), strict=True)
    }
