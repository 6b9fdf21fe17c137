"""Intervals over training seeds: the t quantile, the combination of between-seed and probe-set variance, the runs."""

from __future__ import annotations

import math

import pytest

from lightning_bias.intrinsic.seed_variation import combine, interval_over_seeds, student_t_quantile


def test_student_t_quantile_matches_the_tables():
    for df, expected in [(1, 12.7062), (2, 4.3027), (5, 2.5706), (30, 2.0423), (math.inf, 1.9600)]:
        assert student_t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="0.5 < probability < 1 and df > 0"):
        student_t_quantile(0.975, 0)


def test_combine_without_run_intervals_is_the_t_interval_over_seeds():
    result = combine([1.0, 2.0, 3.0], None)
    half = 4.3027 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert result["ci95"] == pytest.approx([2 - half, 2 + half], abs=1e-3)
    assert (result["seeds"], result["between_seed_sd"], result["within_run_sd"], result["df"]) == (3, 1.0, 0.0, 2.0)


def test_combine_adds_the_shared_probe_set_variance():
    intervals = [[0.0, 2.0], [1.0, 3.0], [2.0, 4.0]]  # each run: +/- 1 around its value
    result = combine([1.0, 2.0, 3.0], intervals)
    within = 2.0 / (2 * 1.959964)
    assert result["within_run_sd"] == pytest.approx(within, rel=1e-6)
    total = 1 / 3 + within**2
    assert result["df"] == pytest.approx(total**2 / ((1 / 3) ** 2 / 2), rel=1e-6)
    half = student_t_quantile(0.975, result["df"]) * math.sqrt(total)
    assert result["ci95"] == pytest.approx([2 - half, 2 + half], rel=1e-6)
    seeds_only = combine([1.0, 2.0, 3.0], None)["ci95"]
    assert result["ci95"][1] - result["ci95"][0] > 2.0  # wider than any single run's interval
    assert result["ci95"][1] - result["ci95"][0] < seeds_only[1] - seeds_only[0]  # more df than 2
    same = combine([2.0, 2.0], [[1.0, 3.0], [1.5, 2.5]])  # no seed variation: the probe-set part alone
    assert same["df"] is None and same["between_seed_sd"] == 0.0
    sd = math.sqrt((1 / 1.959964**2 + 0.25 / 1.959964**2) / 2)
    assert same["ci95"] == pytest.approx([2 - 1.959964 * sd, 2 + 1.959964 * sd], rel=1e-6)
    single = combine([0.3], [[0.1, 0.5]])
    assert (single["ci95"], single["seeds"], single["df"]) == ([0.1, 0.5], 1, None)
    with pytest.raises(ValueError, match="no runs to combine"):
        combine([], None)


def _run(mean: float, interval: list[float], metric_score: float) -> dict:
    return {
        "log_probability_bias": {"mean": mean, "mean_ci95": interval, "mean_abs": abs(mean),
                                 "male_leaning_share": 0.5},
        "crows_pairs": {"metric_score": metric_score, "stereo_score": 50.0, "antistereo_score": 50.0},
    }


def test_interval_over_seeds_combines_every_shared_headline_number():
    runs = [_run(0.1, [0.0, 0.2], 55.0), _run(0.3, [0.2, 0.4], 57.0)]
    result = interval_over_seeds(runs)
    assert result["log_probability_bias/mean"] == combine([0.1, 0.3], [[0.0, 0.2], [0.2, 0.4]])
    assert result["crows_pairs/metric_score"] == combine([55.0, 57.0], None)
    assert set(result) == {"log_probability_bias/mean", "log_probability_bias/mean_abs",
                           "log_probability_bias/male_leaning_share", "crows_pairs/metric_score",
                           "crows_pairs/stereo_score", "crows_pairs/antistereo_score"}
    partial = interval_over_seeds([runs[0], {"log_probability_bias": runs[1]["log_probability_bias"]}])
    assert "crows_pairs/metric_score" not in partial  # only numbers every run has
