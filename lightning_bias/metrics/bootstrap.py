"""Bootstrap replicates drawn from the count states alone, and percentile intervals over them.

Every statistic of :mod:`lightning_bias.metrics` is a function of a few integer counts, so resampling the
evaluation set example by example is equivalent to redrawing those counts from their sampling law:
no pass over the raw data, and a cost that depends on ``G`` and ``C`` (and the histogram bins), never on
the number of examples.

* :func:`bootstrap_margins` redraws the confusion margins, stratified by group x true class: the examples
  of each (group, class) stay as many as observed, and a resampled stratum's true positives are
  ``Binomial(#examples of the class, TPR)``. A group's false positives for class ``c`` come from the
  strata of the other classes; they are drawn as ``Binomial(#examples of other classes, FPR)``, whose
  variance is at least that of the exact law (a sum of binomials over those strata), so FPR and selection
  intervals err on the wide side. Counts of different classes are drawn independently, which drops the
  small negative covariance the multinomial puts between the cells of one row; per-class statistics, the
  TPR aggregates and group accuracies are unaffected by it.
* :func:`multinomial_replicates` redraws count vectors exactly (sequential binomials over the non-zero
  cells): used for the score histograms of the bias AUCs, stratified by group x label.
* :func:`pooled_rate_replicates` draws every group's rate from the rate pooled over groups: the sampling
  noise a gap shows when there is no true gap (the noise floor of
  :mod:`lightning_bias.metrics.noise_correction`).

Draws use a ``torch.Generator`` seeded by the caller, so the same counts always give the same intervals
(on every process of a distributed run too).
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_bias.metrics import functional as F

#: Replicates drawn for the report's bootstrap intervals unless configured otherwise.
DEFAULT_REPLICATES = 1000


def _binomial(trials: Tensor, probabilities: Tensor, replicates: int, generator: torch.Generator) -> Tensor:
    """``[replicates, *trials.shape]`` float64 draws of ``Binomial(trials, probabilities)`` (NaN rates -> 0)."""
    shape = (replicates, *trials.shape)
    count = trials.to(torch.float64).expand(shape).contiguous()
    probability = torch.nan_to_num(probabilities.to(torch.float64), nan=0.0).clamp(0.0, 1.0).expand(shape).contiguous()
    return torch.binomial(count, probability, generator=generator)


def bootstrap_margins(margins: F.ConfusionMargins, replicates: int, generator: torch.Generator) -> F.ConfusionMargins:
    """``replicates`` resampled :class:`~lightning_bias.metrics.functional.ConfusionMargins` of one ``[G, C, C]`` state.

    Stratified by group x true class (see the module docstring): ``positives`` and ``sizes`` are those
    observed, ``true_positives`` and ``predictions`` are redrawn; every tensor gains a leading
    ``[replicates]`` dimension (float64 counts).
    """
    rates = F.margin_rates(margins)
    true_positives = _binomial(margins.positives, rates["tpr"], replicates, generator)
    false_positives = _binomial(margins.negatives, rates["fpr"], replicates, generator)
    shape = (replicates, *margins.positives.shape)
    return F.ConfusionMargins(
        true_positives,
        true_positives + false_positives,
        margins.positives.to(torch.float64).expand(shape),
        margins.sizes.to(torch.float64).expand(shape[:-1]),
    )


def pooled_rate_replicates(
    successes: Tensor, trials: Tensor, replicates: int, generator: torch.Generator
) -> Tensor:
    """``[replicates, G, C]`` rates drawn with each group's trials and the rate pooled over groups.

    Args:
        successes: ``[G, C]`` observed numerators (only their sum over groups is used).
        trials: ``[G, C]`` denominators, kept as observed.

    Returns:
        float64 rates, NaN where a group has no trials.
    """
    pooled = F.safe_divide(successes.sum(dim=-2, keepdim=True), trials.sum(dim=-2, keepdim=True))
    draws = _binomial(trials, pooled.expand_as(trials), replicates, generator)
    return F.safe_divide(draws, trials.to(torch.float64).expand_as(draws))


def multinomial_replicates(counts: Tensor, replicates: int, generator: torch.Generator) -> Tensor:
    """``[replicates, ..., K]`` exact multinomial redraws of each count vector ``counts[..., :]``.

    Each vector keeps its total; cell ``k`` is drawn as ``Binomial(remaining, counts[k] / counts[k:].sum())``
    in turn, skipping cells that are zero in every vector. float64 counts.

    Example:
        >>> draws = multinomial_replicates(torch.tensor([[3, 0, 1], [0, 0, 5]]), 4, torch.Generator().manual_seed(0))
        >>> draws.shape, draws.sum(dim=-1).unique().tolist(), draws[..., 1].abs().sum().item()
        (torch.Size([4, 2, 3]), [4.0, 5.0], 0.0)
    """
    size = counts.shape[-1]
    rows = counts.reshape(-1, size).to(torch.float64)
    tails = rows.flip(-1).cumsum(-1).flip(-1)  # tails[:, k] = counts[:, k:].sum()
    remaining = tails[:, 0].expand(replicates, -1).clone()
    draws = torch.zeros(replicates, *rows.shape, dtype=torch.float64)
    for cell in torch.nonzero(rows.sum(dim=0)).flatten().tolist():
        probability = F.safe_divide(rows[:, cell], tails[:, cell]).nan_to_num(0.0).expand_as(remaining).contiguous()
        drawn = torch.binomial(remaining, probability, generator=generator)
        draws[:, :, cell] = drawn
        remaining -= drawn
    return draws.reshape(replicates, *counts.shape)


def percentile_interval(replicates: Tensor, level: float = 0.95) -> tuple[Tensor, Tensor]:
    """Percentile interval over the first dimension of ``replicates`` (NaN replicates ignored).

    Returns:
        ``(low, high)`` of shape ``replicates.shape[1:]``; NaN where every replicate is NaN.
    """
    tail = (1.0 - level) / 2.0
    quantiles = torch.tensor([tail, 1.0 - tail], dtype=replicates.dtype)
    low, high = torch.nanquantile(replicates, quantiles, dim=0)
    return low, high
