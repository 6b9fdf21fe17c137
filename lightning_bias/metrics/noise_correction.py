"""GAP-RMS without its sampling-noise bias, and the noise floor it would show with no true gap.

A per-class gap estimated from ``n`` examples per group is the true gap plus noise, so its square is
biased upward by the noise variance: ``E[gap_hat**2] = gap**2 + Var(gap_hat)``. Over 28 classes and a few
hundred rows that bias dominates (TPR 0.8 in every group and about 5 examples per group and class give a
GAP-RMS of about 0.2 with no gap at all). Hence:

* **corrected GAP-RMS** ``sqrt(max(0, mean_c(gap_c**2 - v_c)))`` with ``v_c`` the estimated sampling variance
  of class ``c``'s gap: the binomial variance of the difference of the two groups at the extremes, each
  ``p(1 - p) / (n - 1)`` (unbiased; a group with one example uses the rate pooled over groups). For two
  groups ``gap_c**2 - v_c`` is unbiased for the true ``gap_c**2``, so the mean over classes is too; the
  floor at 0 is taken after the mean (flooring each class would keep about half of the noise,
  ``E[max(0, chi2_1 - 1)] = 0.48``). With more than two groups the gap is the range over groups, whose
  choice of extremes adds a bias this correction does not remove: compare with the noise floor.
* **noise floor** ``sqrt(E[mean_c gap_c**2])`` when every group has the rate pooled over groups, i.e. the
  GAP-RMS expected from sampling alone with the observed group and class sizes, estimated from
  :func:`~lightning_bias.metrics.bootstrap.pooled_rate_replicates` draws.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bootstrap import pooled_rate_replicates


def gap_sampling_variances(successes: Tensor, trials: Tensor) -> Tensor:
    """Estimated sampling variance of each class's gap (range over groups) of the rate ``successes / trials``.

    Args:
        successes: ``[..., G, C]`` numerators.
        trials: ``[..., G, C]`` denominators.

    Returns:
        ``[..., C]`` variances: the sum of the two extreme groups' unbiased binomial variances
        ``p (1 - p) / (n - 1)`` (pooled rate ``p (1 - p) / n`` for a group of one); NaN where the gap is.

    Example:
        >>> gap_sampling_variances(torch.tensor([[4], [2]]), torch.tensor([[5], [5]]))  # 0.8*0.2/4 + 0.4*0.6/4
        tensor([0.1000], dtype=torch.float64)
    """
    rates = F.safe_divide(successes, trials)
    pooled = F.safe_divide(successes.sum(dim=-2, keepdim=True), trials.sum(dim=-2, keepdim=True))
    n = trials.to(rates.dtype)
    unbiased = rates * (1.0 - rates) / torch.where(n > 1, n - 1.0, torch.ones_like(n))
    variances = torch.where(n > 1, unbiased, pooled * (1.0 - pooled) / n)  # n = 0 -> NaN (0/0 or rate NaN)
    # groups last and contiguous: arg-reductions over a middle dimension are several times slower
    by_class = rates.transpose(-1, -2).contiguous()
    undefined = torch.isnan(by_class)
    highest = torch.where(undefined, -float("inf"), by_class).argmax(dim=-1, keepdim=True)
    lowest = torch.where(undefined, float("inf"), by_class).scatter(-1, highest, float("inf")).argmin(dim=-1, keepdim=True)
    by_class_variances = variances.transpose(-1, -2)
    pair = (by_class_variances.gather(-1, highest) + by_class_variances.gather(-1, lowest)).squeeze(-1)
    return torch.where((~undefined).sum(dim=-1) >= 2, pair, torch.nan)  # a gap needs two groups


def noise_corrected_rms(gaps: Tensor, variances: Tensor) -> Tensor:
    """``sqrt(max(0, mean_c(gap_c**2 - v_c)))`` over the classes whose gap is defined; NaN when none is.

    Args:
        gaps: ``[..., C]`` per-class gaps (NaN where undefined).
        variances: ``[..., C]`` their estimated sampling variances (:func:`gap_sampling_variances`).

    Example:
        >>> noise_corrected_rms(torch.tensor([0.3, 0.1, float("nan")]), torch.tensor([0.01, 0.01, 0.01]))
        tensor(0.2000)
    """
    excess = torch.where(torch.isnan(gaps), torch.nan, gaps.square() - variances)
    return torch.sqrt(torch.nanmean(excess, dim=-1).clamp(min=0.0))


def noise_floor(successes: Tensor, trials: Tensor, replicates: int, generator: torch.Generator) -> Tensor:
    """Expected GAP-RMS of the rate ``successes / trials`` when every group has the pooled rate (scalar).

    ``sqrt`` of the mean, over ``replicates`` draws of :func:`~lightning_bias.metrics.bootstrap.pooled_rate_replicates`,
    of the mean squared gap over the classes whose gap is defined. NaN when no gap is defined.
    """
    gaps = F.rate_gaps(pooled_rate_replicates(successes, trials, replicates, generator))
    return torch.sqrt(torch.nanmean(torch.nanmean(gaps.square(), dim=-1)))
