"""Parity with fairlearn (and torchmetrics' BinaryFairness) on the cases where their definitions coincide.

fairlearn reports a rate of 0 for a group where it is undefined (e.g. TPR of a group without positives)
while these metrics leave such a group out; so per class we compare whenever every group present in the
data defines the rate, and check the definition itself against numpy in test_metrics_reference.py.
Class ``c`` of a multiclass task is compared one-vs-rest: ``y == c`` against ``pred == c``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fairlearn", reason="fairlearn is a dev dependency: pip install -e .[dev]")
from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from lightning_bias.metrics import (  # noqa: E402
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    EqualOpportunityRatio,
    FairnessMetrics,
    FPRGap,
    TPRGap,
)


def ours_per_class(metric_class, num_classes: int, num_groups: int, batches) -> np.ndarray:
    metric = metric_class(num_classes, num_groups, aggregate="none")
    for preds, target, groups in batches:
        metric.update(preds, target, groups)
    return metric.compute().double().numpy()


def fairlearn_one_vs_rest(
    pred: np.ndarray, target: np.ndarray, groups: np.ndarray, c: int, scalar_functions: bool
) -> dict[str, float]:
    """fairlearn's values for class ``c``; from one MetricFrame, plus (``scalar_functions``) its scalar helpers."""
    y_true = (target == c).astype(int)
    y_pred = (pred == c).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "sel": selection_rate},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        difference, ratio = frame.difference(), frame.ratio()
        values = {
            "tpr_gap": float(difference["tpr"]),
            "fpr_gap": float(difference["fpr"]),
            "tpr_ratio": float(ratio["tpr"]),
            "dp_difference": float(difference["sel"]),
            "dp_ratio": float(ratio["sel"]),
            "eo_difference": max(float(difference["tpr"]), float(difference["fpr"])),
        }
        if scalar_functions:
            values["dp_difference"] = float(demographic_parity_difference(y_true, y_pred, sensitive_features=groups))
            values["dp_ratio"] = float(demographic_parity_ratio(y_true, y_pred, sensitive_features=groups))
            values["eo_difference"] = float(equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
        return values


def compare_with_fairlearn(num_classes: int, num_groups: int, batches, scalar_functions: bool = True) -> int:
    """Compare every per-class metric with fairlearn where defined alike; return the number of comparisons."""
    pred = np.concatenate([(p.argmax(1) if p.dim() == 2 else p).numpy() for p, _, _ in batches])
    target = np.concatenate([t.numpy() for _, t, _ in batches])
    groups = np.concatenate([g.numpy() for _, _, g in batches])
    present = np.unique(groups)
    ours = {
        "tpr_gap": ours_per_class(TPRGap, num_classes, num_groups, batches),
        "fpr_gap": ours_per_class(FPRGap, num_classes, num_groups, batches),
        "dp_difference": ours_per_class(DemographicParityDifference, num_classes, num_groups, batches),
        "eo_difference": ours_per_class(EqualizedOddsDifference, num_classes, num_groups, batches),
        "dp_ratio": ours_per_class(DemographicParityRatio, num_classes, num_groups, batches),
        "tpr_ratio": ours_per_class(EqualOpportunityRatio, num_classes, num_groups, batches),
    }
    comparisons = 0
    if present.size < 2:
        return comparisons
    for c in range(num_classes):
        every_group_has_positives = all(((groups == g) & (target == c)).any() for g in present)
        every_group_has_negatives = all(((groups == g) & (target != c)).any() for g in present)
        reference = fairlearn_one_vs_rest(pred, target, groups, c, scalar_functions)
        checks = ["dp_difference", "dp_ratio"]
        if every_group_has_positives:
            checks += ["tpr_gap", "tpr_ratio"]
        if every_group_has_negatives:
            checks.append("fpr_gap")
        if every_group_has_positives and every_group_has_negatives:
            checks.append("eo_difference")
        for name in checks:
            expected, actual = reference[name], float(ours[name][c])
            if math.isnan(expected):
                assert math.isnan(actual), (name, c)
            else:
                assert actual == pytest.approx(expected, abs=1e-6), (name, c, actual, expected)
            comparisons += 1
    return comparisons


@st.composite
def dense_batches(draw):
    num_classes = draw(st.integers(2, 4))
    num_groups = draw(st.integers(2, 4))
    used_groups = draw(st.lists(st.integers(0, num_groups - 1), min_size=2, max_size=num_groups, unique=True))
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(1, 25))
        target = draw(st.lists(st.integers(0, num_classes - 1), min_size=rows, max_size=rows))
        groups = draw(st.lists(st.sampled_from(used_groups), min_size=rows, max_size=rows))
        if draw(st.booleans()):
            scores = draw(
                st.lists(
                    st.lists(st.floats(0, 1, width=32), min_size=num_classes, max_size=num_classes),
                    min_size=rows,
                    max_size=rows,
                )
            )
            preds = torch.tensor(scores, dtype=torch.float32)
        else:
            preds = torch.tensor(draw(st.lists(st.integers(0, num_classes - 1), min_size=rows, max_size=rows)))
        batches.append((preds, torch.tensor(target), torch.tensor(groups)))
    return num_classes, num_groups, batches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_batches())
def test_per_class_metrics_match_fairlearn_on_random_inputs(case) -> None:
    # MetricFrame only here for speed; the scalar helpers are exercised on the dense data below
    compare_with_fairlearn(*case, scalar_functions=False)


def test_multiclass_one_vs_rest_matches_fairlearn_on_dense_data() -> None:
    rng = np.random.default_rng(7)
    num_classes, num_groups, rows = 5, 3, 3000
    target = rng.integers(0, num_classes, rows)
    groups = rng.integers(0, num_groups, rows)
    # predictions that are right more often for group 0, so the gaps are far from zero
    correct = rng.random(rows) < np.where(groups == 0, 0.8, 0.55)
    pred = np.where(correct, target, rng.integers(0, num_classes, rows))
    batches = [
        (torch.from_numpy(pred[i : i + 256]), torch.from_numpy(target[i : i + 256]), torch.from_numpy(groups[i : i + 256]))
        for i in range(0, rows, 256)
    ]
    assert compare_with_fairlearn(num_classes, num_groups, batches) == num_classes * 6


def test_binary_entry_one_is_fairlearns_scalar() -> None:
    rng = np.random.default_rng(3)
    target = rng.integers(0, 2, 500)
    groups = rng.integers(0, 3, 500)
    probs = np.clip(0.5 * target + 0.3 * (groups == 1) + 0.4 * rng.random(500), 0, 1)
    scores = torch.tensor(np.stack([1 - probs, probs], axis=1), dtype=torch.float32)
    pred = (probs > 0.5).astype(int)
    metric = FairnessMetrics(2, 3)
    metric.update(scores, torch.from_numpy(target), torch.from_numpy(groups))
    report = metric.report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=true_positive_rate, y_true=target, y_pred=pred, sensitive_features=groups)
        assert report["gaps"]["tpr_gap_by_class"]["1"] == pytest.approx(frame.difference())
        assert report["gaps"]["dp_difference_by_class"]["1"] == pytest.approx(
            demographic_parity_difference(target, pred, sensitive_features=groups)
        )
        eo = equalized_odds_difference(target, pred, sensitive_features=groups)
    assert max(report["gaps"]["tpr_gap_by_class"]["1"], report["gaps"]["fpr_gap_by_class"]["1"]) == pytest.approx(eo)


def test_ratios_match_torchmetrics_binary_fairness() -> None:
    from torchmetrics.classification import BinaryFairness

    rng = np.random.default_rng(11)
    target = torch.from_numpy(rng.integers(0, 2, 400))
    groups = torch.from_numpy(rng.integers(0, 2, 400))
    probs = torch.from_numpy(np.clip(0.45 * target.numpy() + 0.2 * groups.numpy() + 0.5 * rng.random(400), 0, 1)).float()
    theirs = BinaryFairness(num_groups=2, task="all")
    theirs.update(probs, target, groups)
    their_values = theirs.compute()
    dp_ratio = DemographicParityRatio(2, 2, aggregate="none")
    eo_ratio = EqualOpportunityRatio(2, 2, aggregate="none")
    labels = (probs > 0.5).long()
    for metric in (dp_ratio, eo_ratio):
        metric.update(labels, target, groups)
    (dp_key,) = [key for key in their_values if key.startswith("DP")]
    (eo_key,) = [key for key in their_values if key.startswith("EO")]
    assert float(dp_ratio.compute()[1]) == pytest.approx(float(their_values[dp_key]), abs=1e-6)
    assert float(eo_ratio.compute()[1]) == pytest.approx(float(their_values[eo_key]), abs=1e-6)
