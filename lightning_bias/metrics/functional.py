"""Arithmetic shared by the fairness metric classes: counting, rates, gaps, ratios, intervals and AUCs.

Every function here is pure (no state, no host synchronisation) and works on whatever device its inputs
live on. The metric classes keep only integer counts as state and call these functions in ``compute``.

Conventions used throughout:

* ``confusion`` is a ``[G, C, C]`` int64 tensor, ``confusion[g, y, p]`` = number of examples of group ``g``
  with true class ``y`` predicted as class ``p``.
* Rates are one-vs-rest per class ``c`` within a group ``g``:
  TPR = #(pred=c, y=c) / #(y=c), FPR = #(pred=c, y!=c) / #(y!=c), selection rate = #(pred=c) / #(group).
  A rate whose denominator is zero is undefined and represented by NaN.
* ``histograms`` is a ``[G, 2, B]`` int64 tensor of score counts: ``histograms[g, y, b]`` = number of
  examples of group ``g`` with binary label ``y`` whose positive-class score falls in bin ``b`` (bins in
  increasing score order).
* Floating results are computed in float64 (float32 on devices without float64 support, e.g. MPS).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

ClassAggregate = Literal["rms", "max", "min", "mean", "none"]

#: Two-sided 95% standard-normal quantile used by :func:`wilson_interval`.
Z_95 = 1.959963984540054

#: Power of the generalised mean of bias AUCs in the Jigsaw unintended-bias benchmark (Borkan et al. 2019).
JIGSAW_POWER = -5.0


def float_dtype_for(device: torch.device) -> torch.dtype:
    """Return the floating dtype used for rate arithmetic on ``device`` (float64 where supported)."""
    return torch.float32 if device.type == "mps" else torch.float64


def safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """Elementwise ``numerator / denominator`` in float, NaN where the denominator is zero."""
    dtype = float_dtype_for(numerator.device)
    num = numerator.to(dtype)
    den = denominator.to(dtype)
    nan = torch.full_like(num, float("nan"))
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), nan)


# ----------------------------------------------------------------------------------------------- counting


def group_confusion_counts(
    pred_labels: Tensor,
    target: Tensor,
    groups: Tensor,
    num_classes: int,
    num_groups: int,
    out: Tensor | None = None,
) -> Tensor:
    """Count ``(group, true class, predicted class)`` triples without any host synchronisation.

    Args:
        pred_labels: ``[N]`` integer predicted classes in ``0..C-1``.
        target: ``[N]`` integer true classes in ``0..C-1``.
        groups: ``[N]`` integer group ids in ``0..G-1``.
        num_classes: ``C``.
        num_groups: ``G``.
        out: optional contiguous ``[G, C, C]`` int64 tensor to add the counts to in place.

    Returns:
        ``[G, C, C]`` int64 tensor, ``[g, y, p]`` = count (``out`` when given). Values outside the ranges
        are the caller's responsibility (the metric classes validate them when ``validate_args=True``).

    Example:
        >>> group_confusion_counts(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0]), torch.tensor([0, 1, 1]), 2, 2)
        tensor([[[0, 0],
                 [0, 1]],
        <BLANKLINE>
                [[0, 1],
                 [1, 0]]])
    """
    flat_index = (groups.long() * num_classes + target.long()) * num_classes + pred_labels.long()
    if out is None:
        out = torch.zeros(num_groups, num_classes, num_classes, dtype=torch.int64, device=flat_index.device)
    out.view(-1).index_add_(0, flat_index, torch.ones_like(flat_index))
    return out


def score_bin_indices(scores: Tensor, thresholds: Tensor) -> Tensor:
    """Map scores to histogram bins delimited by ascending ``thresholds`` (``B`` thresholds -> ``B + 1`` bins).

    Bin 0 holds scores below ``thresholds[0]``; bin ``k`` (``1 <= k <= B``) holds scores ``s`` with
    ``thresholds[k-1] <= s < thresholds[k]`` (the last bin is open above). So "score >= thresholds[k]"
    is exactly "bin > k", and the binned ROC curve has one point per threshold.

    Args:
        scores: ``[N]`` floating scores.
        thresholds: ``[B]`` ascending floating thresholds.

    Returns:
        ``[N]`` int64 bin indices in ``0..B``.
    """
    return torch.bucketize(scores.to(thresholds.dtype).contiguous(), thresholds, right=True)


def group_score_histograms(
    bin_indices: Tensor,
    binary_target: Tensor,
    groups: Tensor,
    num_bins: int,
    num_groups: int,
    out: Tensor | None = None,
) -> Tensor:
    """Count ``(group, binary label, score bin)`` triples without any host synchronisation.

    Args:
        bin_indices: ``[N]`` int64 bins from :func:`score_bin_indices`, in ``0..num_bins-1``.
        binary_target: ``[N]`` labels in ``{0, 1}`` (1 = positive class).
        groups: ``[N]`` group ids in ``0..G-1``.
        num_bins: number of bins ``B`` (number of thresholds + 1).
        num_groups: ``G``.
        out: optional contiguous ``[G, 2, B]`` int64 tensor to add the counts to in place.

    Returns:
        ``[G, 2, B]`` int64 histogram (``out`` when given).
    """
    flat_index = (groups.long() * 2 + binary_target.long()) * num_bins + bin_indices.long()
    if out is None:
        out = torch.zeros(num_groups, 2, num_bins, dtype=torch.int64, device=flat_index.device)
    out.view(-1).index_add_(0, flat_index, torch.ones_like(flat_index))
    return out


# ------------------------------------------------------------------------------------ per-group statistics


def group_sizes(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G]`` number of examples per group (int64)."""
    return confusion.sum(dim=(1, 2))


def class_positives(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples whose true class is ``c`` (int64)."""
    return confusion.sum(dim=2)


def class_predictions(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples predicted as class ``c`` (int64)."""
    return confusion.sum(dim=1)


def true_positive_counts(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples with ``pred = y = c`` (int64)."""
    return torch.diagonal(confusion, dim1=1, dim2=2)


def false_positive_counts(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples with ``pred = c != y`` (int64)."""
    return class_predictions(confusion) - true_positive_counts(confusion)


def class_negatives(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples whose true class is not ``c`` (int64)."""
    return group_sizes(confusion).unsqueeze(1) - class_positives(confusion)


def true_positive_rates(confusion: Tensor) -> Tensor:
    """One-vs-rest TPR (recall) per group and class: ``[G, C, C]`` -> ``[G, C]``, NaN where ``#(y=c) = 0``.

    Example:
        >>> confusion = torch.tensor([[[3, 1], [1, 1]], [[2, 0], [0, 0]]])
        >>> true_positive_rates(confusion)
        tensor([[0.7500, 0.5000],
                [1.0000,    nan]], dtype=torch.float64)
    """
    return safe_divide(true_positive_counts(confusion), class_positives(confusion))


def false_positive_rates(confusion: Tensor) -> Tensor:
    """One-vs-rest FPR per group and class: ``[G, C, C]`` -> ``[G, C]``, NaN where ``#(y!=c) = 0``."""
    return safe_divide(false_positive_counts(confusion), class_negatives(confusion))


def selection_rates(confusion: Tensor) -> Tensor:
    """Share of each group predicted as each class: ``[G, C, C]`` -> ``[G, C]``, NaN for an empty group."""
    return safe_divide(class_predictions(confusion), group_sizes(confusion).unsqueeze(1))


def group_accuracies(confusion: Tensor) -> Tensor:
    """Accuracy within each group: ``[G, C, C]`` -> ``[G]``, NaN for an empty group."""
    return safe_divide(true_positive_counts(confusion).sum(dim=1), group_sizes(confusion))


def overall_accuracy(confusion: Tensor) -> Tensor:
    """Accuracy over all examples: ``[G, C, C]`` -> scalar, NaN when there are no examples."""
    return safe_divide(torch.diagonal(confusion, dim1=1, dim2=2).sum(), confusion.sum())


def macro_true_positive_rate(confusion: Tensor) -> Tensor:
    """Mean over classes present in the targets of the overall (all groups pooled) TPR; a.k.a. balanced accuracy.

    ``[G, C, C]`` -> scalar, NaN when there are no examples.
    """
    pooled = confusion.sum(dim=0, keepdim=True)
    return torch.nanmean(true_positive_rates(pooled)[0])


def worst_group_accuracy(confusion: Tensor) -> Tensor:
    """Lowest accuracy over the non-empty groups: ``[G, C, C]`` -> scalar, NaN when all groups are empty."""
    return _nan_aware_min(group_accuracies(confusion), dim=0)


# ------------------------------------------------------------------------------------------ gaps, ratios


def _nan_aware_max(values: Tensor, dim: int) -> Tensor:
    defined = ~torch.isnan(values)
    largest = torch.where(defined, values, torch.full_like(values, -float("inf"))).amax(dim=dim)
    return torch.where(defined.any(dim=dim), largest, torch.full_like(largest, float("nan")))


def _nan_aware_min(values: Tensor, dim: int) -> Tensor:
    defined = ~torch.isnan(values)
    smallest = torch.where(defined, values, torch.full_like(values, float("inf"))).amin(dim=dim)
    return torch.where(defined.any(dim=dim), smallest, torch.full_like(smallest, float("nan")))


def rate_gaps(rates: Tensor) -> Tensor:
    """Per-class gap ``max - min`` over the groups where the rate is defined.

    Args:
        rates: ``[G, C]`` rates, NaN where undefined.

    Returns:
        ``[C]`` gaps, NaN for a class defined in fewer than two groups.

    Example:
        >>> rate_gaps(torch.tensor([[0.9, 0.2, float("nan")], [0.6, float("nan"), 0.1], [0.7, 0.5, float("nan")]]))
        tensor([0.3000, 0.3000,    nan])
    """
    defined_groups = (~torch.isnan(rates)).sum(dim=0)
    gaps = _nan_aware_max(rates, dim=0) - _nan_aware_min(rates, dim=0)
    return torch.where(defined_groups >= 2, gaps, torch.full_like(gaps, float("nan")))


def rate_ratios(rates: Tensor) -> Tensor:
    """Per-class ratio ``min / max`` over the groups where the rate is defined (1 = parity, lower = worse).

    Args:
        rates: ``[G, C]`` rates, NaN where undefined.

    Returns:
        ``[C]`` ratios, NaN for a class defined in fewer than two groups or whose largest rate is 0
        (0/0, as fairlearn's ``MetricFrame.ratio``).
    """
    defined_groups = (~torch.isnan(rates)).sum(dim=0)
    largest = _nan_aware_max(rates, dim=0)
    smallest = _nan_aware_min(rates, dim=0)
    ratios = safe_divide(smallest, largest)
    return torch.where(defined_groups >= 2, ratios, torch.full_like(ratios, float("nan")))


def equalized_odds_gaps(tpr_gaps: Tensor, fpr_gaps: Tensor) -> Tensor:
    """Per-class ``max(TPR gap, FPR gap)``, or the defined one when only one is; NaN when neither is.

    Example:
        >>> nan = float("nan")
        >>> equalized_odds_gaps(torch.tensor([0.1, nan, nan]), torch.tensor([0.3, 0.2, nan]))
        tensor([0.3000, 0.2000,    nan])
    """
    return torch.fmax(tpr_gaps, fpr_gaps)


def aggregate_over_classes(values: Tensor, aggregate: ClassAggregate) -> Tensor:
    """Reduce per-class values ``[C]`` over the classes where they are defined (not NaN).

    ``"rms"``: ``sqrt(mean(v**2))`` (GAP-RMS of De-Arteaga et al. 2019); ``"max"``/``"min"``/``"mean"``: as
    named; ``"none"``: ``values`` unchanged. The reduced value is NaN when no class is defined.

    Example:
        >>> gaps = torch.tensor([0.3, float("nan"), 0.4])
        >>> aggregate_over_classes(gaps, "rms"), aggregate_over_classes(gaps, "max")
        (tensor(0.3536), tensor(0.4000))
    """
    if aggregate == "none":
        return values
    if aggregate == "rms":
        return torch.sqrt(torch.nanmean(values.square()))
    if aggregate == "mean":
        return torch.nanmean(values)
    if aggregate == "max":
        return _nan_aware_max(values, dim=0)
    if aggregate == "min":
        return _nan_aware_min(values, dim=0)
    raise ValueError(f"aggregate must be one of 'rms', 'max', 'min', 'mean', 'none'; got {aggregate!r}.")


# ----------------------------------------------------------------------------------------------- intervals


def wilson_interval(successes: Tensor, trials: Tensor, z: float = Z_95) -> tuple[Tensor, Tensor]:
    """Wilson score interval for a binomial proportion, elementwise.

    Args:
        successes: integer counts ``k`` (any shape).
        trials: integer counts ``n`` (same shape), ``n >= k``.
        z: standard-normal quantile (default: two-sided 95%).

    Returns:
        ``(low, high)`` tensors of the same shape, NaN where ``n = 0``.

    Example:
        >>> low, high = wilson_interval(torch.tensor([8, 0]), torch.tensor([10, 0]))
        >>> low.round(decimals=4), high.round(decimals=4)
        (tensor([0.4902,    nan], dtype=torch.float64), tensor([0.9433,    nan], dtype=torch.float64))
    """
    proportion = safe_divide(successes, trials)
    n = trials.to(proportion.dtype)
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (proportion + z2 / (2.0 * n)) / denominator
    half_width = z * torch.sqrt(proportion * (1.0 - proportion) / n + z2 / (4.0 * n * n)) / denominator
    low = (centre - half_width).clamp(0.0, 1.0)
    high = (centre + half_width).clamp(0.0, 1.0)
    return low, high


# ------------------------------------------------------------------------------------------------- AUCs


def binned_auc(positive_histogram: Tensor, negative_histogram: Tensor) -> Tensor:
    """Area under the ROC curve from score histograms of positives and negatives over the same bins.

    The result equals the trapezoidal area under the ROC curve traced at the bin edges, which is the
    Mann-Whitney statistic of the binned scores: P(positive bin > negative bin) + 0.5 P(same bin).

    Args:
        positive_histogram: ``[..., B]`` counts of positive examples per bin (ascending scores).
        negative_histogram: ``[..., B]`` counts of negative examples per bin.

    Returns:
        ``[...]`` AUCs, NaN where there are no positives or no negatives.

    Example:
        >>> binned_auc(torch.tensor([0, 1, 3]), torch.tensor([2, 1, 0]))
        tensor(0.9583, dtype=torch.float64)
    """
    dtype = float_dtype_for(positive_histogram.device)
    positives = positive_histogram.to(dtype)
    negatives = negative_histogram.to(dtype)
    negatives_below = torch.cumsum(negatives, dim=-1) - negatives
    concordant = (positives * (negatives_below + 0.5 * negatives)).sum(dim=-1)
    pairs = positives.sum(dim=-1) * negatives.sum(dim=-1)
    return safe_divide(concordant, pairs)


def bias_aucs(histograms: Tensor) -> dict[str, Tensor]:
    """Overall AUROC and the bias AUCs of Borkan et al. (2019) from ``[G, 2, B]`` score histograms.

    For each group ``g`` (the "subgroup"), the background is every other group:

    * ``subgroup_auc[g]``: AUROC on the subgroup's examples only (= per-group AUROC);
    * ``bpsn_auc[g]``: background positives vs subgroup negatives;
    * ``bnsp_auc[g]``: background negatives vs subgroup positives.

    Returns:
        dict with ``"overall_auc"`` (scalar) and ``"subgroup_auc"``, ``"bpsn_auc"``, ``"bnsp_auc"`` (each
        ``[G]``, NaN where the needed positives or negatives are absent).
    """
    negatives = histograms[:, 0, :]
    positives = histograms[:, 1, :]
    total_negatives = negatives.sum(dim=0, keepdim=True)
    total_positives = positives.sum(dim=0, keepdim=True)
    return {
        "overall_auc": binned_auc(total_positives[0], total_negatives[0]),
        "subgroup_auc": binned_auc(positives, negatives),
        "bpsn_auc": binned_auc(total_positives - positives, negatives),
        "bnsp_auc": binned_auc(positives, total_negatives - negatives),
    }


def generalized_mean(values: Tensor, power: float = JIGSAW_POWER) -> Tensor:
    """Power mean ``(mean(v ** p)) ** (1 / p)`` over the defined (non-NaN) entries of ``[K]`` values.

    With ``p = -5`` (the Jigsaw default) it is pulled towards the smallest value. NaN when no entry is
    defined; 0 when any defined entry is 0 and ``p < 0``.

    Example:
        >>> generalized_mean(torch.tensor([0.9, 0.8, float("nan")]))
        tensor(0.8413)
    """
    if power == 0:
        return torch.exp(torch.nanmean(torch.log(values)))
    return torch.nanmean(values.pow(power)).pow(1.0 / power)


def jigsaw_final_score(overall_auc: Tensor, bias_auc_means: Tensor, overall_weight: float = 0.25) -> Tensor:
    """Jigsaw unintended-bias final score: ``w0 * overall_auc + (1 - w0) * mean(bias_auc_means)``.

    Args:
        overall_auc: scalar overall AUROC.
        bias_auc_means: ``[3]`` generalised means of subgroup, BPSN and BNSP AUCs.
        overall_weight: ``w0`` (0.25 in the benchmark, giving each bias AUC mean weight 0.25 too).
    """
    return overall_weight * overall_auc + (1.0 - overall_weight) * bias_auc_means.mean()


# ------------------------------------------------------------------------------------------ counterfactual


def counterfactual_flip_statistics(probs_original: Tensor, probs_counterfactual: Tensor) -> tuple[Tensor, Tensor]:
    """Per-batch sums for the counterfactual flip rate.

    Let ``c_i = argmax_k probs_original[i, k]``. An example *flips* when
    ``argmax_k probs_counterfactual[i, k] != c_i``; its *probability change* is
    ``|probs_counterfactual[i, c_i] - probs_original[i, c_i]|``.

    Args:
        probs_original: ``[N, C]`` class probabilities on the original inputs.
        probs_counterfactual: ``[N, C]`` class probabilities on the counterfactual inputs, row-aligned.

    Returns:
        ``(number_of_flips, sum_of_probability_changes)``: an int64 scalar and a float scalar.
    """
    predicted = probs_original.argmax(dim=1, keepdim=True)
    flips = (probs_counterfactual.argmax(dim=1, keepdim=True) != predicted).sum()
    dtype = float_dtype_for(probs_original.device)
    change = probs_counterfactual.gather(1, predicted).to(dtype) - probs_original.gather(1, predicted).to(dtype)
    return flips.to(torch.int64), change.abs().sum()
