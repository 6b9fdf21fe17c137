"""Arithmetic shared by the fairness metric classes: counting, rates, gaps, ratios, intervals and AUCs.

Every function here is pure (no state, no host synchronisation) and works on whatever device its inputs
live on. The metric classes keep only integer counts as state and call these functions in ``compute``.

Conventions used throughout:

* ``confusion`` is a ``[G, C, C]`` int64 tensor, ``confusion[g, y, p]`` = number of examples of group ``g``
  with true class ``y`` predicted as class ``p``. Every function of a confusion tensor or of its margins
  (:class:`ConfusionMargins`) also accepts leading batch dimensions (``[..., G, C, C]``), which is how the
  bootstrap replicates of :mod:`lightning_bias.metrics.intervals` are evaluated in one go.
* Rates are one-vs-rest per class ``c`` within a group ``g``:
  TPR = #(pred=c, y=c) / #(y=c), FPR = #(pred=c, y!=c) / #(y!=c), selection rate = #(pred=c) / #(group).
  A rate whose denominator is zero is undefined and represented by NaN.
* ``histograms`` is a ``[G, 2, B]`` int64 tensor of score counts: ``histograms[g, y, b]`` = number of
  examples of group ``g`` with binary label ``y`` whose positive-class score falls in bin ``b`` (bins in
  increasing score order).
* Floating results are computed in float64 (float32 on devices without float64 support, e.g. MPS).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

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
    den = denominator.to(dtype)
    return torch.where(den > 0, numerator.to(dtype) / den, torch.nan)  # x/0 is computed, then replaced


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
    # (groups * C + target) * C + pred in two fused multiply-adds
    flat_index = torch.add(pred_labels, torch.add(target, groups.long(), alpha=num_classes), alpha=num_classes)
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
    return confusion.sum(dim=(-2, -1))


def class_positives(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples whose true class is ``c`` (int64)."""
    return confusion.sum(dim=-1)


def class_predictions(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples predicted as class ``c`` (int64)."""
    return confusion.sum(dim=-2)


def true_positive_counts(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples with ``pred = y = c`` (int64)."""
    return torch.diagonal(confusion, dim1=-2, dim2=-1)


def false_positive_counts(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples with ``pred = c != y`` (int64)."""
    return class_predictions(confusion) - true_positive_counts(confusion)


def class_negatives(confusion: Tensor) -> Tensor:
    """``[G, C, C]`` confusion -> ``[G, C]`` number of examples whose true class is not ``c`` (int64)."""
    return group_sizes(confusion).unsqueeze(-1) - class_positives(confusion)


class ConfusionMargins(NamedTuple):
    """The margins of a ``[..., G, C, C]`` confusion tensor that every rate and gap is a function of.

    ``true_positives``, ``predictions`` and ``positives`` are ``[..., G, C]`` counts (``pred = y = c``,
    ``pred = c``, ``y = c``), ``sizes`` the ``[..., G]`` group sizes. A bootstrap replicate only has to
    redraw ``true_positives`` and ``predictions``: ``positives`` and ``sizes`` stay fixed when resampling
    within group x true-class strata.
    """

    true_positives: Tensor
    predictions: Tensor
    positives: Tensor
    sizes: Tensor

    @property
    def false_positives(self) -> Tensor:
        """``[..., G, C]`` examples predicted as ``c`` whose true class is another."""
        return self.predictions - self.true_positives

    @property
    def negatives(self) -> Tensor:
        """``[..., G, C]`` examples whose true class is not ``c``."""
        return self.sizes.unsqueeze(-1) - self.positives


def confusion_margins(confusion: Tensor) -> ConfusionMargins:
    """The :class:`ConfusionMargins` of a ``[..., G, C, C]`` confusion tensor."""
    return ConfusionMargins(
        true_positive_counts(confusion), class_predictions(confusion), class_positives(confusion), group_sizes(confusion)
    )


def margin_rates(margins: ConfusionMargins) -> dict[str, Tensor]:
    """``{"tpr", "fpr", "selection_rate"}``: ``[..., G, C]`` rates from the margins (NaN where undefined)."""
    return {
        "tpr": safe_divide(margins.true_positives, margins.positives),
        "fpr": safe_divide(margins.false_positives, margins.negatives),
        "selection_rate": safe_divide(margins.predictions, margins.sizes.unsqueeze(-1)),
    }


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
    return safe_divide(class_predictions(confusion), group_sizes(confusion).unsqueeze(-1))


def group_accuracies(confusion: Tensor) -> Tensor:
    """Accuracy within each group: ``[G, C, C]`` -> ``[G]``, NaN for an empty group."""
    return safe_divide(true_positive_counts(confusion).sum(dim=-1), group_sizes(confusion))


def overall_accuracy(confusion: Tensor) -> Tensor:
    """Accuracy over all examples: ``[G, C, C]`` -> scalar, NaN when there are no examples."""
    return safe_divide(true_positive_counts(confusion).sum(dim=(-2, -1)), confusion.sum(dim=(-3, -2, -1)))


def macro_true_positive_rate(confusion: Tensor) -> Tensor:
    """Mean over classes present in the targets of the overall (all groups pooled) TPR; a.k.a. balanced accuracy.

    ``[G, C, C]`` -> scalar, NaN when there are no examples.
    """
    pooled = confusion.sum(dim=0, keepdim=True)
    return torch.nanmean(true_positive_rates(pooled)[0])


def worst_group_accuracy(confusion: Tensor) -> Tensor:
    """Lowest accuracy over the non-empty groups: ``[G, C, C]`` -> scalar, NaN when all groups are empty."""
    return nan_aware_min(group_accuracies(confusion), dim=-1)


# ------------------------------------------------------------------------------------------ gaps, ratios


def nan_aware_max(values: Tensor, dim: int) -> Tensor:
    """Largest defined (non-NaN) value along ``dim``; NaN where none is defined."""
    defined = ~torch.isnan(values)
    largest = torch.where(defined, values, torch.full_like(values, -float("inf"))).amax(dim=dim)
    return torch.where(defined.any(dim=dim), largest, torch.full_like(largest, float("nan")))


def nan_aware_min(values: Tensor, dim: int) -> Tensor:
    """Smallest defined (non-NaN) value along ``dim``; NaN where none is defined."""
    defined = ~torch.isnan(values)
    smallest = torch.where(defined, values, torch.full_like(values, float("inf"))).amin(dim=dim)
    return torch.where(defined.any(dim=dim), smallest, torch.full_like(smallest, float("nan")))


def rate_gaps(rates: Tensor) -> Tensor:
    """Per-class gap ``max - min`` over the groups where the rate is defined.

    Args:
        rates: ``[..., G, C]`` rates, NaN where undefined.

    Returns:
        ``[..., C]`` gaps, NaN for a class defined in fewer than two groups.

    Example:
        >>> rate_gaps(torch.tensor([[0.9, 0.2, float("nan")], [0.6, float("nan"), 0.1], [0.7, 0.5, float("nan")]]))
        tensor([0.3000, 0.3000,    nan])
    """
    defined_groups = (~torch.isnan(rates)).sum(dim=-2)
    gaps = nan_aware_max(rates, dim=-2) - nan_aware_min(rates, dim=-2)
    return torch.where(defined_groups >= 2, gaps, torch.full_like(gaps, float("nan")))


def rate_ratios(rates: Tensor) -> Tensor:
    """Per-class ratio ``min / max`` over the groups where the rate is defined (1 = parity, lower = worse).

    Args:
        rates: ``[..., G, C]`` rates, NaN where undefined.

    Returns:
        ``[..., C]`` ratios, NaN for a class defined in fewer than two groups or whose largest rate is 0
        (0/0, as fairlearn's ``MetricFrame.ratio``).
    """
    defined_groups = (~torch.isnan(rates)).sum(dim=-2)
    largest = nan_aware_max(rates, dim=-2)
    smallest = nan_aware_min(rates, dim=-2)
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
    """Reduce per-class values ``[..., C]`` over the classes (last dimension) where they are defined (not NaN).

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
        return torch.sqrt(torch.nanmean(values.square(), dim=-1))
    if aggregate == "mean":
        return torch.nanmean(values, dim=-1)
    if aggregate == "max":
        return nan_aware_max(values, dim=-1)
    if aggregate == "min":
        return nan_aware_min(values, dim=-1)
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


def newcombe_interval(
    successes_a: Tensor, trials_a: Tensor, successes_b: Tensor, trials_b: Tensor, z: float = Z_95
) -> tuple[Tensor, Tensor]:
    """Newcombe's hybrid score interval for the difference of two independent proportions ``p_a - p_b``.

    Method 10 of Newcombe (1998, Statistics in Medicine 17:873): it combines the two Wilson intervals
    ``[l_a, u_a]``, ``[l_b, u_b]`` as ``d - sqrt((p_a - l_a)**2 + (u_b - p_b)**2)`` and
    ``d + sqrt((u_a - p_a)**2 + (p_b - l_b)**2)``. Unlike a bootstrap or Wald interval it keeps a sensible
    width when a rate is 0 or 1 or rests on a handful of examples. Elementwise; NaN where a trial count is 0.

    Example:
        >>> low, high = newcombe_interval(torch.tensor(56), torch.tensor(70), torch.tensor(48), torch.tensor(80))
        >>> round(float(low), 4), round(float(high), 4)  # Newcombe's example: 0.0524 to 0.3339
        (0.0524, 0.3339)
    """
    p_a, p_b = safe_divide(successes_a, trials_a), safe_divide(successes_b, trials_b)
    low_a, high_a = wilson_interval(successes_a, trials_a, z)
    low_b, high_b = wilson_interval(successes_b, trials_b, z)
    difference = p_a - p_b
    low = difference - torch.sqrt((p_a - low_a).square() + (high_b - p_b).square())
    high = difference + torch.sqrt((high_a - p_a).square() + (p_b - low_b).square())
    return low, high


def group_minus_rest(successes: Tensor, trials: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Signed per-class difference of each group's rate and the rate of all other groups pooled.

    With two groups, row 0 is "group 0 minus group 1" (row 1 is its negative). With more, row ``g`` says
    how far group ``g`` sits above (> 0) or below (< 0) everyone else for that class.

    Args:
        successes: ``[G, C]`` numerators of a rate (e.g. true positives).
        trials: ``[G, C]`` denominators (e.g. examples of the class).

    Returns:
        ``(difference, low, high)``, each ``[G, C]``: the difference and its 95% Newcombe interval
        (:func:`newcombe_interval`), NaN where either side has no trials.

    Example:
        >>> difference, low, high = group_minus_rest(torch.tensor([[8], [2]]), torch.tensor([[10], [4]]))
        >>> difference.squeeze(1)
        tensor([ 0.3000, -0.3000], dtype=torch.float64)
    """
    rest_successes = successes.sum(dim=-2, keepdim=True) - successes
    rest_trials = trials.sum(dim=-2, keepdim=True) - trials
    difference = safe_divide(successes, trials) - safe_divide(rest_successes, rest_trials)
    low, high = newcombe_interval(successes, trials, rest_successes, rest_trials)
    return difference, low, high


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
    """Overall AUROC and the bias AUCs of Borkan et al. (2019) from ``[..., G, 2, B]`` score histograms.

    For each group ``g`` (the "subgroup"), the background is every other group:

    * ``subgroup_auc[g]``: AUROC on the subgroup's examples only (= per-group AUROC);
    * ``bpsn_auc[g]``: background positives vs subgroup negatives;
    * ``bnsp_auc[g]``: background negatives vs subgroup positives.

    Returns:
        dict with ``"overall_auc"`` (scalar) and ``"subgroup_auc"``, ``"bpsn_auc"``, ``"bnsp_auc"`` (each
        ``[G]``, NaN where the needed positives or negatives are absent).
    """
    negatives = histograms[..., 0, :]
    positives = histograms[..., 1, :]
    total_negatives = negatives.sum(dim=-2, keepdim=True)
    total_positives = positives.sum(dim=-2, keepdim=True)
    return {
        "overall_auc": binned_auc(total_positives, total_negatives).squeeze(-1),
        "subgroup_auc": binned_auc(positives, negatives),
        "bpsn_auc": binned_auc(total_positives - positives, negatives),
        "bnsp_auc": binned_auc(positives, total_negatives - negatives),
    }


def generalized_mean(values: Tensor, power: float = JIGSAW_POWER) -> Tensor:
    """Power mean ``(mean(v ** p)) ** (1 / p)`` over the defined (non-NaN) entries of ``[..., K]`` values.

    With ``p = -5`` (the Jigsaw default) it is pulled towards the smallest value. NaN when no entry is
    defined; 0 when any defined entry is 0 and ``p < 0``.

    Example:
        >>> generalized_mean(torch.tensor([0.9, 0.8, float("nan")]))
        tensor(0.8413)
    """
    if power == 0:
        return torch.exp(torch.nanmean(torch.log(values), dim=-1))
    return torch.nanmean(values.pow(power), dim=-1).pow(1.0 / power)


def jigsaw_final_score(overall_auc: Tensor, bias_auc_means: Tensor, overall_weight: float = 0.25) -> Tensor:
    """Jigsaw unintended-bias final score: ``w0 * overall_auc + (1 - w0) * mean(bias_auc_means)``.

    Args:
        overall_auc: scalar overall AUROC.
        bias_auc_means: ``[..., 3]`` generalised means of subgroup, BPSN and BNSP AUCs.
        overall_weight: ``w0`` (0.25 in the benchmark, giving each bias AUC mean weight 0.25 too).
    """
    return overall_weight * overall_auc + (1.0 - overall_weight) * bias_auc_means.mean(dim=-1)


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
