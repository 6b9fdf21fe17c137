"""Intervals of intrinsic bias over several training seeds: between-seed and probe-set variance together.

A single run's interval (a bootstrap over templates, words, frames or occupations) says how much
the number would move with another probe set; it says nothing about how much it moves with another
training seed, often the larger effect. Given the results of k runs that differ only in their seed
(``measure_intrinsic_bias`` results), ``interval_over_seeds`` reports for every headline number

- ``mean`` over seeds, ``between_seed_sd`` (sample sd of the k values);
- ``within_run_sd``: the mean over runs of (interval width / (2 x 1.96))², square-rooted — the
  probe-set sampling sd. Every seed is measured on the same probe set, so this error is shared by
  all runs and does not shrink by averaging seeds;
- ``ci95 = mean ± t(df) · sqrt(between_seed_sd² / k + within_run_sd²)``, with Welch–Satterthwaite
  degrees of freedom ``df = total² / ((between_seed_sd² / k)² / (k - 1))`` (the within-run part
  counted as known). Numbers without a per-run interval (CrowS-Pairs, StereoSet) get the
  between-seed part only. With one run the run's own interval is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from lightning_bias.intrinsic.suite import headline_intervals, headline_numbers

_Z975 = NormalDist().inv_cdf(0.975)


def student_t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile (in (0.5, 1)) of Student's t with ``df`` > 0 degrees of freedom
    (bisection on the CDF, its density integrated by Simpson's rule; accurate to about 1e-6)."""
    if not 0.5 < probability < 1.0 or not df > 0:
        raise ValueError(f"student_t_quantile needs 0.5 < probability < 1 and df > 0, got {probability}, {df}")
    if math.isinf(df):
        return NormalDist().inv_cdf(probability)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        grid = np.linspace(0.0, t, 4001)
        density = np.exp(log_norm - (df + 1) / 2 * np.log1p(grid**2 / df))
        simpson = density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum()
        return 0.5 + simpson * (grid[1] - grid[0]) / 3

    low, high = 0.0, 1.0
    while cdf(high) < probability:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


def combine(values: Sequence[float], intervals: Sequence[Sequence[float]] | None) -> dict[str, Any]:
    """One number over seeds (module docstring): mean, sds, 95% interval, degrees of freedom, k."""
    k = len(values)
    if k == 0:
        raise ValueError("no runs to combine; give the results of at least one seed")
    mean = float(np.mean(values))
    within = float(np.mean([((high - low) / (2 * _Z975)) ** 2 for low, high in intervals])) if intervals else 0.0
    if k == 1:
        return {"mean": mean, "ci95": list(intervals[0]) if intervals else None, "seeds": 1,
                "between_seed_sd": None, "within_run_sd": math.sqrt(within), "df": None}
    between_sd = float(np.std(values, ddof=1))
    between = between_sd**2 / k
    total = between + within
    df = math.inf if between == 0 else total**2 / (between**2 / (k - 1))
    half = student_t_quantile(0.975, df) * math.sqrt(total) if total > 0 else 0.0
    return {"mean": mean, "ci95": [mean - half, mean + half], "seeds": k, "between_seed_sd": between_sd,
            "within_run_sd": math.sqrt(within), "df": None if math.isinf(df) else df}


def interval_over_seeds(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every headline number the runs share, combined over the runs (``measure_intrinsic_bias`` results)."""
    numbers = [headline_numbers(dict(r)) for r in results]
    intervals = [headline_intervals(dict(r)) for r in results]
    shared = [key for key in numbers[0] if all(key in n for n in numbers)] if numbers else []
    return {
        key: combine(
            [n[key] for n in numbers],
            [i[key] for i in intervals] if all(key in i for i in intervals) else None,
        )
        for key in shared
    }
