"""Binned per-group AUROC and bias AUCs (Borkan et al. 2019) against scikit-learn's exact roc_auc_score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_bias.metrics import BNSPAUC, BPSNAUC, BiasAUC, FairnessMetrics, GroupAUROC
from lightning_bias.metrics.functional import binned_auc, generalized_mean

roc_auc_score = pytest.importorskip("sklearn.metrics", reason="scikit-learn is a dev dependency").roc_auc_score

#: Scores restricted to these values fall one distinct value per bin, so the binned AUC must be exact.
GRID = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.5, 0.55, 0.7, 0.9, 1.0])


def exact_auc(target: np.ndarray, scores: np.ndarray, mask: np.ndarray) -> float:
    y = target[mask]
    if y.size == 0 or y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, scores[mask]))


def exact_bias_aucs(target: np.ndarray, scores: np.ndarray, groups: np.ndarray, num_groups: int):
    everything = np.ones_like(target, dtype=bool)
    per_group = {"subgroup_auc": [], "bpsn_auc": [], "bnsp_auc": []}
    for g in range(num_groups):
        inside = groups == g
        per_group["subgroup_auc"].append(exact_auc(target, scores, inside))
        per_group["bpsn_auc"].append(exact_auc(target, scores, (inside & (target == 0)) | (~inside & (target == 1))))
        per_group["bnsp_auc"].append(exact_auc(target, scores, (inside & (target == 1)) | (~inside & (target == 0))))
    return exact_auc(target, scores, everything), {key: np.array(values) for key, values in per_group.items()}


def reference_power_mean(values: np.ndarray, power: float = -5.0) -> float:
    defined = values[~np.isnan(values)]
    with np.errstate(divide="ignore"):  # an AUC of 0 makes the power mean 0, as intended
        return float(np.mean(defined**power) ** (1 / power)) if defined.size else math.nan


@st.composite
def grid_scored_batches(draw):
    num_groups = draw(st.integers(2, 4))
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(0, 15))
        indices = draw(st.lists(st.integers(0, len(GRID) - 1), min_size=rows, max_size=rows))
        target = draw(st.lists(st.integers(0, 1), min_size=rows, max_size=rows))
        groups = draw(st.lists(st.integers(0, num_groups - 1), min_size=rows, max_size=rows))
        batches.append(
            (
                GRID[torch.tensor(indices, dtype=torch.long)],
                torch.tensor(target, dtype=torch.long),
                torch.tensor(groups, dtype=torch.long),
            )
        )
    return num_groups, batches


def _close(actual: torch.Tensor, expected) -> None:
    torch.testing.assert_close(
        actual.double(), torch.as_tensor(np.asarray(expected, dtype=np.float64)), rtol=1e-6, atol=1e-6, equal_nan=True
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid_scored_batches())
def test_bias_aucs_are_exact_for_scores_on_the_thresholds(case) -> None:
    num_groups, batches = case
    scores = torch.cat([s for s, _, _ in batches]).numpy()
    target = torch.cat([t for _, t, _ in batches]).numpy()
    groups = torch.cat([g for _, _, g in batches]).numpy()
    overall, per_group = exact_bias_aucs(target, scores, groups, num_groups)

    metrics = {
        "bias": BiasAUC(num_groups, thresholds=GRID),
        "subgroup_auc": GroupAUROC(num_groups, thresholds=GRID),
        "bpsn_auc": BPSNAUC(num_groups, thresholds=GRID),
        "bnsp_auc": BNSPAUC(num_groups, thresholds=GRID),
    }
    for metric in metrics.values():
        for batch in batches:
            metric.update(*batch)
    result = metrics["bias"].compute()
    _close(result["overall_auc"], overall)
    for name, expected in per_group.items():
        _close(result[name], expected)
        _close(metrics[name].compute(), expected)
        _close(result[f"{name}_power_mean"], reference_power_mean(expected))
    expected_final = 0.25 * overall + 0.25 * sum(reference_power_mean(per_group[name]) for name in per_group)
    _close(result["final_score"], expected_final)


def test_binned_auc_equals_exact_auc_of_the_binned_scores_and_approximates_the_raw_one() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 2, 5000)
    scores = np.clip(rng.normal(0.4 + 0.2 * target, 0.2), 0, 1).astype(np.float32)
    thresholds = torch.linspace(0, 1, 200)
    bins = torch.bucketize(torch.from_numpy(scores), thresholds, right=True).numpy()
    positives = np.bincount(bins[target == 1], minlength=201)
    negatives = np.bincount(bins[target == 0], minlength=201)
    auc = float(binned_auc(torch.from_numpy(positives), torch.from_numpy(negatives)))
    assert auc == pytest.approx(roc_auc_score(target, bins), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(target, scores), abs=2e-3)


def test_trapezoid_over_binned_roc_curve_agrees() -> None:
    positives = torch.tensor([1, 0, 4, 2, 3])
    negatives = torch.tensor([3, 2, 2, 1, 0])
    # ROC points at "score >= bin k" for k = B..0, i.e. cumulative counts from the top bin down
    tpr = np.concatenate([[0.0], np.cumsum(positives.numpy()[::-1]) / positives.sum().item()])
    fpr = np.concatenate([[0.0], np.cumsum(negatives.numpy()[::-1]) / negatives.sum().item()])
    assert float(binned_auc(positives, negatives)) == pytest.approx(np.trapezoid(tpr, fpr))


def test_logits_and_two_column_scores_give_the_same_histograms() -> None:
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(64, 2))).float()
    target = torch.from_numpy(rng.integers(0, 2, 64))
    groups = torch.from_numpy(rng.integers(0, 3, 64))
    from_probabilities = BiasAUC(3, thresholds=50)
    from_probabilities.update(logits.softmax(1), target, groups)
    from_two_logits = BiasAUC(3, thresholds=50, from_logits=True)
    from_two_logits.update(logits, target, groups)
    from_one_logit = BiasAUC(3, thresholds=50, from_logits=True)
    from_one_logit.update(logits[:, 1] - logits[:, 0], target, groups)
    assert torch.equal(from_probabilities.histograms, from_two_logits.histograms)
    # sigmoid(l1 - l0) = softmax(l)[1] up to float rounding: at most a few scores move to a neighbouring bin
    assert (from_probabilities.histograms - from_one_logit.histograms).abs().sum() <= 4


def test_generalized_mean_matches_numpy_and_handles_zero_and_nan() -> None:
    values = torch.tensor([0.91, 0.55, float("nan"), 0.8], dtype=torch.float64)
    assert float(generalized_mean(values)) == pytest.approx(reference_power_mean(values.numpy()))
    assert float(generalized_mean(torch.tensor([0.0, 0.9]))) == 0.0
    assert math.isnan(float(generalized_mean(torch.tensor([float("nan")]))))
    assert float(generalized_mean(torch.tensor([0.25, 1.0]), power=1.0)) == pytest.approx(0.625)


def test_fairness_metrics_with_thresholds_reports_aucs() -> None:
    rng = np.random.default_rng(5)
    target = rng.integers(0, 2, 300)
    groups = rng.integers(0, 2, 300)
    probs = np.clip(0.35 * target + 0.2 * groups + 0.5 * rng.random(300), 0, 1)
    scores = torch.tensor(np.stack([1 - probs, probs], 1), dtype=torch.float32)
    metric = FairnessMetrics(2, 2, group_names=["a", "b"], class_names=["ok", "toxic"], thresholds=GRID)
    standalone = BiasAUC(2, thresholds=GRID)
    for start in range(0, 300, 64):
        rows = slice(start, start + 64)
        batch = (torch.from_numpy(target[rows]), torch.from_numpy(groups[rows]))
        metric.update(scores[rows], *batch)
        standalone.update(scores[rows], *batch)
    flat = metric.compute()
    expected = standalone.compute()
    assert flat["auc"] == expected["overall_auc"]
    assert flat["bpsn_auc/b"] == expected["bpsn_auc"][1]
    assert flat["bias_auc_final_score"] == expected["final_score"]
    auc = metric.report()["auc"]
    assert set(auc) >= {"overall_auc", "by_group", "subgroup_auc_power_mean", "bpsn_auc_power_mean", "final_score"}
    assert auc["by_group"]["a"]["positives"] + auc["by_group"]["a"]["negatives"] == int((groups == 0).sum())
    assert auc["by_group"]["b"]["bnsp_auc"] == pytest.approx(float(expected["bnsp_auc"][1]))


def test_fairness_metrics_auc_requires_scores_and_a_binary_task() -> None:
    with pytest.raises(ValueError, match="binary"):
        FairnessMetrics(3, 2, thresholds=10)
    metric = FairnessMetrics(2, 2, thresholds=10)
    with pytest.raises(ValueError, match=r"\[N, 2\] floating scores"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="from_logits=True"):
        metric.update(torch.tensor([[3.0, -2.0], [0.2, 0.8]]), torch.tensor([0, 1]), torch.tensor([0, 1]))


def test_state_size_does_not_grow_with_the_number_of_examples() -> None:
    metric = BiasAUC(4, thresholds=100)
    before = metric.histograms.shape
    for _ in range(5):
        metric.update(torch.rand(1000), torch.randint(0, 2, (1000,)), torch.randint(0, 4, (1000,)))
    assert metric.histograms.shape == before == (4, 2, 101)
    assert int(metric.histograms.sum()) == 5000
