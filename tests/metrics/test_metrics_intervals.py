"""Intervals on every gap of the fairness report, computed from the count state alone, seeded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lightning_bias.metrics import FairnessMetrics, fairness_report
from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bootstrap import bootstrap_margins, multinomial_replicates

GAP_FAMILIES = ("tpr_gap", "fpr_gap", "dp_difference", "eo_difference", "dp_ratio", "eo_ratio")


def random_confusion(num_groups: int, num_classes: int, rows: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, (rows,), generator=generator)
    groups = torch.randint(0, num_groups, (rows,), generator=generator)
    right = torch.rand(rows, generator=generator) < 0.7
    pred = torch.where(right, target, torch.randint(0, num_classes, (rows,), generator=generator))
    return F.group_confusion_counts(pred, target, groups, num_classes, num_groups)


def test_every_gap_in_the_report_has_an_interval_and_its_method_is_named() -> None:
    confusion = random_confusion(3, 4, 400, seed=0)
    report = fairness_report(confusion, ["a", "b", "c"], ["w", "x", "y", "z"], bootstrap_replicates=200)
    json.dumps(report, allow_nan=False)
    gaps = report["gaps"]
    for key, value in gaps.items():
        if isinstance(value, float) and not key.endswith(("_ci95", "_noise_floor")):
            low, high = gaps[f"{key}_ci95"]
            assert low <= high, key
    for family in GAP_FAMILIES:
        assert set(gaps[f"{family}_by_class_ci95"]) == {"w", "x", "y", "z"}
    for key in ("tpr_gap_rms", "tpr_gap_max", "eo_difference_rms", "dp_difference_max"):
        assert gaps[f"{key}_ci95"][0] <= gaps[f"{key}_ci95"][1]
    for rate in ("tpr", "fpr", "selection_rate"):
        assert set(gaps["signed_by_class"][f"{rate}_ci95"]) == {"a - rest", "b - rest", "c - rest"}
    methods = report["intervals"]
    assert methods["level"] == 0.95 and methods["replicates"] == 200 and methods["seed"] == 0
    assert "bootstrap" in methods["gaps"] and "Newcombe" in methods["signed_by_class"] and "Wilson" in methods["by_group"]


def test_bias_aucs_have_intervals_from_the_histograms() -> None:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 2, (600,), generator=generator)
    groups = torch.randint(0, 2, (600,), generator=generator)
    positive = torch.sigmoid(torch.randn(600, generator=generator) + 1.5 * target)
    metric = FairnessMetrics(2, 2, group_names=["f", "m"], thresholds=50, bootstrap_replicates=300)
    metric.update(torch.stack([1 - positive, positive], dim=1), target, groups)
    auc = metric.report()["auc"]
    for key in ("overall_auc", "subgroup_auc_power_mean", "bpsn_auc_power_mean", "bnsp_auc_power_mean", "final_score"):
        low, high = auc[f"{key}_ci95"]
        assert low < auc[key] < high, key
    for group in ("f", "m"):
        for key in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
            low, high = auc["by_group"][group][f"{key}_ci95"]
            assert low < auc["by_group"][group][key] < high
    assert "histograms" in metric.report()["intervals"]["auc"]


def test_intervals_are_seeded_and_zero_replicates_leaves_the_bootstrap_out() -> None:
    confusion = random_confusion(2, 3, 300, seed=2)
    names = (["f", "m"], ["x", "y", "z"])
    first = fairness_report(confusion, *names, bootstrap_replicates=100, seed=5)
    assert fairness_report(confusion, *names, bootstrap_replicates=100, seed=5) == first
    assert fairness_report(confusion, *names, bootstrap_replicates=100, seed=6)["gaps"] != first["gaps"]
    without = fairness_report(confusion, *names, bootstrap_replicates=0)
    assert "tpr_gap_rms_ci95" not in without["gaps"] and without["intervals"]["gaps"] is None
    assert without["gaps"]["signed_by_class"] == first["gaps"]["signed_by_class"]  # analytic: always there


def test_bootstrap_redraws_keep_the_strata_and_the_expected_counts() -> None:
    confusion = random_confusion(2, 3, 500, seed=3)
    margins = F.confusion_margins(confusion)
    replicates = bootstrap_margins(margins, 4000, torch.Generator().manual_seed(0))
    assert torch.equal(replicates.positives[0], margins.positives.double())  # class supports held fixed
    torch.testing.assert_close(replicates.true_positives.mean(0), margins.true_positives.double(), rtol=0.03, atol=0.3)
    torch.testing.assert_close(replicates.predictions.mean(0), margins.predictions.double(), rtol=0.03, atol=0.3)
    draws = multinomial_replicates(confusion, 2000, torch.Generator().manual_seed(0))
    assert torch.equal(draws.sum(-1), confusion.sum(-1).double().expand_as(draws.sum(-1)))  # each row keeps its total
    torch.testing.assert_close(draws.mean(0), confusion.double(), rtol=0.05, atol=0.3)


def test_bootstrap_interval_of_the_corrected_gap_rms_covers_the_true_value() -> None:
    """Two groups, 5 classes, 60 examples per cell, TPR 0.85 vs 0.6: true GAP-RMS 0.25."""
    rng = np.random.default_rng(0)
    true_tpr = np.array([[0.85] * 5, [0.6] * 5])
    covered, trials = 0, 120
    for _ in range(trials):
        hits = rng.binomial(60, true_tpr)
        confusion = torch.zeros(2, 5, 5, dtype=torch.int64)
        for g in range(2):
            for c in range(5):
                confusion[g, c, c] = int(hits[g, c])
                confusion[g, c, (c + 1) % 5] = 60 - int(hits[g, c])
        low, high = fairness_report(confusion, ["a", "b"], list("vwxyz"), bootstrap_replicates=300)["gaps"][
            "tpr_gap_rms_corrected_ci95"
        ]
        covered += low <= 0.25 <= high
    assert covered / trials >= 0.88  # nominal 0.95; 120 trials


def test_report_sync_free_and_cheap_whatever_the_number_of_examples() -> None:
    """The bootstrap reads counts only: a million-fold larger count state costs no more to report."""
    small = random_confusion(2, 4, 200, seed=4)
    large = small * 1_000_000
    report_small = fairness_report(small, ["f", "m"], list("wxyz"), bootstrap_replicates=200)
    report_large = fairness_report(large, ["f", "m"], list("wxyz"), bootstrap_replicates=200)
    assert report_small["gaps"]["tpr_gap_rms"] == pytest.approx(report_large["gaps"]["tpr_gap_rms"])
    low, high = report_large["gaps"]["tpr_gap_rms_ci95"]
    assert high - low < 1e-3 < report_small["gaps"]["tpr_gap_rms_ci95"][1] - report_small["gaps"]["tpr_gap_rms_ci95"][0]
