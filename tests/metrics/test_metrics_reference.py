"""Property tests: every group-fairness metric against a plain numpy re-implementation of the definitions.

Random inputs cover empty groups, classes absent from a group or from the data, single-example and
empty batches, and [N, C] scores mixed with [N] labels across updates.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_bias.metrics import (
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    EqualOpportunityRatio,
    FairnessMetrics,
    FPRGap,
    GroupAccuracy,
    TPRGap,
    WorstGroupAccuracy,
)

NAN = float("nan")
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ numpy reference


def reference_rates(pred: np.ndarray, target: np.ndarray, groups: np.ndarray, num_classes: int, num_groups: int):
    """TPR, FPR, selection rate ``[G, C]`` and accuracy ``[G]`` straight from the definitions."""
    tpr = np.full((num_groups, num_classes), NAN)
    fpr = np.full((num_groups, num_classes), NAN)
    selection = np.full((num_groups, num_classes), NAN)
    accuracy = np.full(num_groups, NAN)
    for g in range(num_groups):
        in_group = groups == g
        if in_group.sum() > 0:
            accuracy[g] = (pred[in_group] == target[in_group]).mean()
        for c in range(num_classes):
            positive = in_group & (target == c)
            negative = in_group & (target != c)
            if positive.sum() > 0:
                tpr[g, c] = (pred[positive] == c).sum() / positive.sum()
            if negative.sum() > 0:
                fpr[g, c] = (pred[negative] == c).sum() / negative.sum()
            if in_group.sum() > 0:
                selection[g, c] = (pred[in_group] == c).sum() / in_group.sum()
    return tpr, fpr, selection, accuracy


def reference_gap(rates: np.ndarray) -> np.ndarray:
    gaps = []
    for column in rates.T:
        defined = column[~np.isnan(column)]
        gaps.append(defined.max() - defined.min() if defined.size >= 2 else NAN)
    return np.array(gaps)


def reference_ratio(rates: np.ndarray) -> np.ndarray:
    ratios = []
    for column in rates.T:
        defined = column[~np.isnan(column)]
        ratios.append(defined.min() / defined.max() if defined.size >= 2 and defined.max() > 0 else NAN)
    return np.array(ratios)


def reference_equalized_odds(tpr_gap: np.ndarray, fpr_gap: np.ndarray) -> np.ndarray:
    result = []
    for a, b in zip(tpr_gap, fpr_gap, strict=True):
        defined = [value for value in (a, b) if not math.isnan(value)]
        result.append(max(defined) if defined else NAN)
    return np.array(result)


def reference_counts(pred, target, groups, num_classes: int, num_groups: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(successes, trials) ``[G, C]`` of TPR, FPR and selection rate, counted row by row."""
    shape = (num_groups, num_classes)
    tp, positives, fp, negatives, selected, sizes = (np.zeros(shape, np.int64) for _ in range(6))
    for p, y, g in zip(pred, target, groups, strict=True):
        for c in range(num_classes):
            positives[g, c] += y == c
            negatives[g, c] += y != c
            tp[g, c] += (y == c) and (p == c)
            fp[g, c] += (y != c) and (p == c)
            selected[g, c] += p == c
            sizes[g, c] += 1
    return {"tpr": (tp, positives), "fpr": (fp, negatives), "selection_rate": (selected, sizes)}


def reference_corrected_rms(successes: np.ndarray, trials: np.ndarray) -> float:
    """sqrt(max(0, mean over classes of gap**2 - v)), v the unbiased binomial variances of the extreme pair."""
    excess = []
    for k, n in zip(successes.T, trials.T, strict=True):
        defined = np.flatnonzero(n > 0)
        if defined.size < 2:
            continue
        rates, sizes = k[defined] / n[defined], n[defined]
        highest = int(np.argmax(rates))
        lowest = int(np.argmin(np.where(np.arange(rates.size) == highest, np.inf, rates)))
        pooled = k.sum() / n.sum()
        variances = [
            rates[i] * (1 - rates[i]) / (sizes[i] - 1) if sizes[i] > 1 else pooled * (1 - pooled) / sizes[i]
            for i in (highest, lowest)
        ]
        excess.append((rates[highest] - rates[lowest]) ** 2 - sum(variances))
    return math.sqrt(max(0.0, float(np.mean(excess)))) if excess else NAN


def reference_aggregate(values: np.ndarray, how: str):
    defined = values[~np.isnan(values)]
    if how == "none":
        return values
    if defined.size == 0:
        return NAN
    return {
        "rms": lambda: math.sqrt(float(np.mean(defined**2))),
        "max": lambda: float(defined.max()),
        "min": lambda: float(defined.min()),
        "mean": lambda: float(defined.mean()),
    }[how]()


def reference_wilson(k: int, n: int) -> list[float] | None:
    if n == 0:
        return None
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


# ---------------------------------------------------------------------------------------------- strategies


@st.composite
def grouped_batches(draw, max_rows: int = 12):
    """(num_classes, num_groups, batches) with each batch (preds, target, groups) as numpy arrays."""
    num_classes = draw(st.integers(2, 5))
    num_groups = draw(st.integers(2, 4))
    used_groups = draw(st.lists(st.integers(0, num_groups - 1), min_size=1, max_size=num_groups, unique=True))
    used_classes = draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=num_classes, unique=True))
    batches = []
    for _ in range(draw(st.integers(1, 4))):
        rows = draw(st.integers(0, max_rows))
        target = np.array(draw(st.lists(st.sampled_from(used_classes), min_size=rows, max_size=rows)), dtype=np.int64)
        groups = np.array(draw(st.lists(st.sampled_from(used_groups), min_size=rows, max_size=rows)), dtype=np.int64)
        if draw(st.booleans()):
            score = st.floats(-3.0, 3.0, allow_nan=False, width=32)
            rows_of_scores = draw(st.lists(st.lists(score, min_size=num_classes, max_size=num_classes), min_size=rows, max_size=rows))
            preds = np.array(rows_of_scores, dtype=np.float32).reshape(rows, num_classes)
        else:
            preds = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=rows, max_size=rows)), dtype=np.int64)
        batches.append((preds, target, groups))
    return num_classes, num_groups, batches


def concatenated_labels(batches, num_classes: int):
    preds = [p.argmax(axis=1) if p.ndim == 2 else p for p, _, _ in batches]
    return (
        np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64),
        np.concatenate([t for _, t, _ in batches]),
        np.concatenate([g for _, _, g in batches]),
    )


def feed(metric, batches) -> None:
    for preds, target, groups in batches:
        metric.update(torch.from_numpy(preds), torch.from_numpy(target), torch.from_numpy(groups))


def assert_matches(actual: torch.Tensor, expected) -> None:
    expected_tensor = torch.as_tensor(np.asarray(expected, dtype=np.float64), dtype=actual.dtype)
    torch.testing.assert_close(actual, expected_tensor, rtol=1e-6, atol=1e-6, equal_nan=True)


# ------------------------------------------------------------------------------------------------- tests


@PROPERTY_SETTINGS
@given(grouped_batches())
def test_gap_and_ratio_metrics_match_numpy_reference(case) -> None:
    num_classes, num_groups, batches = case
    pred, target, groups = concatenated_labels(batches, num_classes)
    tpr, fpr, selection, _ = reference_rates(pred, target, groups, num_classes, num_groups)
    tpr_gap, fpr_gap = reference_gap(tpr), reference_gap(fpr)
    expected_per_class = {
        TPRGap: tpr_gap,
        FPRGap: fpr_gap,
        DemographicParityDifference: reference_gap(selection),
        EqualizedOddsDifference: reference_equalized_odds(tpr_gap, fpr_gap),
        DemographicParityRatio: reference_ratio(selection),
        EqualOpportunityRatio: reference_ratio(tpr),
    }
    for metric_class, per_class in expected_per_class.items():
        for aggregate in metric_class.aggregate_choices:
            metric = metric_class(num_classes, num_groups, aggregate=aggregate)
            feed(metric, batches)
            assert_matches(metric.compute(), reference_aggregate(per_class, aggregate))


@PROPERTY_SETTINGS
@given(grouped_batches())
def test_accuracy_metrics_match_numpy_reference(case) -> None:
    num_classes, num_groups, batches = case
    pred, target, groups = concatenated_labels(batches, num_classes)
    *_, accuracy = reference_rates(pred, target, groups, num_classes, num_groups)
    group_accuracy = GroupAccuracy(num_classes, num_groups)
    worst = WorstGroupAccuracy(num_classes, num_groups)
    feed(group_accuracy, batches)
    feed(worst, batches)
    assert_matches(group_accuracy.compute(), accuracy)
    assert_matches(worst.compute(), reference_aggregate(accuracy, "min"))


@PROPERTY_SETTINGS
@given(grouped_batches())
def test_fairness_metrics_compute_and_report_match_numpy_reference(case) -> None:
    num_classes, num_groups, batches = case
    pred, target, groups = concatenated_labels(batches, num_classes)
    tpr, fpr, selection, accuracy = reference_rates(pred, target, groups, num_classes, num_groups)
    tpr_gap, fpr_gap, dp = reference_gap(tpr), reference_gap(fpr), reference_gap(selection)
    eo = reference_equalized_odds(tpr_gap, fpr_gap)
    group_names = [f"group{g}" for g in range(num_groups)]
    class_names = [f"class{c}" for c in range(num_classes)]
    metric = FairnessMetrics(num_classes, num_groups, group_names=group_names, class_names=class_names)
    feed(metric, batches)

    overall_tpr = reference_rates(pred, target, np.zeros_like(groups), num_classes, 1)[0][0]
    counts = reference_counts(pred, target, groups, num_classes, num_groups)
    expected_flat = {
        "accuracy": float((pred == target).mean()) if pred.size else NAN,
        "macro_tpr": reference_aggregate(overall_tpr, "mean"),
        "worst_group_accuracy": reference_aggregate(accuracy, "min"),
        "tpr_gap_rms": reference_aggregate(tpr_gap, "rms"),
        "tpr_gap_max": reference_aggregate(tpr_gap, "max"),
        "fpr_gap_rms": reference_aggregate(fpr_gap, "rms"),
        "fpr_gap_max": reference_aggregate(fpr_gap, "max"),
        "dp_difference_rms": reference_aggregate(dp, "rms"),
        "dp_difference_max": reference_aggregate(dp, "max"),
        "eo_difference_rms": reference_aggregate(eo, "rms"),
        "eo_difference_max": reference_aggregate(eo, "max"),
        "dp_ratio_min": reference_aggregate(reference_ratio(selection), "min"),
        **{
            f"{gap}_rms_corrected": reference_corrected_rms(*counts[rate])
            for gap, rate in (("tpr_gap", "tpr"), ("fpr_gap", "fpr"), ("dp_difference", "selection_rate"))
        },
        "eo_ratio_min": reference_aggregate(reference_ratio(tpr), "min"),
        **{f"acc/{name}": accuracy[g] for g, name in enumerate(group_names)},
    }
    flat = metric.compute()
    assert set(flat) == set(expected_flat)
    for key, expected in expected_flat.items():
        assert flat[key].shape == torch.Size([]), key
        assert_matches(flat[key], expected)

    report = metric.report()
    json.dumps(report, allow_nan=False)  # plain JSON, NaN mapped to None
    assert report["num_examples"] == pred.size
    for g, name in enumerate(group_names):
        entry = report["by_group"][name]
        in_group = groups == g
        assert entry["n"] == int(in_group.sum())
        _assert_optional_close(entry["accuracy"], accuracy[g])
        _assert_interval_close(entry["accuracy_ci95"], reference_wilson(int((pred == target)[in_group].sum()), int(in_group.sum())))
        for c, class_name in enumerate(class_names):
            positive = in_group & (target == c)
            negative = in_group & (target != c)
            _assert_optional_close(entry["tpr"][class_name], tpr[g, c])
            _assert_optional_close(entry["fpr"][class_name], fpr[g, c])
            _assert_optional_close(entry["selection_rate"][class_name], selection[g, c])
            _assert_interval_close(entry["tpr_ci95"][class_name], reference_wilson(int((pred[positive] == c).sum()), int(positive.sum())))
            _assert_interval_close(entry["fpr_ci95"][class_name], reference_wilson(int((pred[negative] == c).sum()), int(negative.sum())))
    for key in ("tpr_gap_rms", "fpr_gap_max", "dp_difference_rms", "eo_difference_max", "worst_group_accuracy"):
        _assert_optional_close(report["gaps"][key], expected_flat[key])
    for key, values in (("tpr_gap_by_class", tpr_gap), ("fpr_gap_by_class", fpr_gap), ("dp_difference_by_class", dp)):
        for c, class_name in enumerate(class_names):
            _assert_optional_close(report["gaps"][key][class_name], values[c])
    _assert_optional_close(report["overall"]["accuracy"], expected_flat["accuracy"])
    _assert_optional_close(report["overall"]["macro_tpr"], expected_flat["macro_tpr"])
    assert report["empty_groups"] == [name for g, name in enumerate(group_names) if not (groups == g).any()]


def _assert_optional_close(actual, expected) -> None:
    if math.isnan(expected):
        assert actual is None
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)


def _assert_interval_close(actual, expected) -> None:
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_report_has_the_documented_structure() -> None:
    metric = FairnessMetrics(3, 3, group_names=["f", "m", "x"], class_names=["nurse", "surgeon", "teacher"])
    metric.update(torch.tensor([0, 1, 2, 1, 0]), torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 0, 1, 1, 0]))
    report = metric.report()
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["num_examples"] == 5 and isinstance(report["num_examples"], int)
    assert set(report["overall"]) >= {"accuracy", "macro_tpr"}
    assert set(report["by_group"]) == {"f", "m", "x"}
    group_keys = {"n", "accuracy", "accuracy_ci95", "tpr", "tpr_ci95", "fpr", "selection_rate"}
    assert set(report["by_group"]["f"]) >= group_keys
    assert set(report["by_group"]["f"]["tpr"]) == {"nurse", "surgeon", "teacher"}
    assert report["by_group"]["x"] == {
        **report["by_group"]["x"],
        "n": 0,
        "accuracy": None,
        "accuracy_ci95": None,
        "tpr": {"nurse": None, "surgeon": None, "teacher": None},
    }
    assert report["by_group"]["m"]["tpr"] == {"nurse": None, "surgeon": None, "teacher": 0.5}
    expected_gaps = {
        "tpr_gap_rms", "tpr_gap_max", "fpr_gap_rms", "fpr_gap_max", "dp_difference_rms", "dp_difference_max",
        "eo_difference_rms", "eo_difference_max", "worst_group_accuracy", "dp_ratio_min", "eo_ratio_min",
        "tpr_gap_by_class", "fpr_gap_by_class", "dp_difference_by_class",
    }  # fmt: skip
    assert set(report["gaps"]) >= expected_gaps
    assert "auc" not in report
    assert report["empty_groups"] == ["x"]
    # by hand: f rows (pred, y) = (0, 0), (1, 1), (0, 1) -> accuracy 2/3; m rows (2, 2), (1, 2) -> 1/2
    assert report["by_group"]["f"]["accuracy"] == pytest.approx(2 / 3)
    assert report["gaps"]["worst_group_accuracy"] == pytest.approx(0.5)


def test_nothing_seen_gives_nan_and_empty_report() -> None:
    metric = FairnessMetrics(2, 2)
    metric.update(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    flat = metric.compute()
    assert all(torch.isnan(value) for value in flat.values())
    report = metric.report()
    assert report["num_examples"] == 0
    assert report["empty_groups"] == ["0", "1"]
    assert report["overall"]["accuracy"] is None


def test_known_binary_values_by_hand() -> None:
    # group 0: y = 1 1 0 0, pred = 1 0 0 1 -> TPR 1/2, FPR 1/2; group 1: y = 1 0 0, pred = 1 0 0 -> TPR 1, FPR 0
    preds = torch.tensor([1, 0, 0, 1, 1, 0, 0])
    target = torch.tensor([1, 1, 0, 0, 1, 0, 0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    tpr_gap = TPRGap(2, 2, aggregate="none")
    tpr_gap.update(preds, target, groups)
    fpr_gap = FPRGap(2, 2, aggregate="none")
    fpr_gap.update(preds, target, groups)
    torch.testing.assert_close(tpr_gap.compute(), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(fpr_gap.compute(), torch.tensor([0.5, 0.5]))
    eo = EqualizedOddsDifference(2, 2, aggregate="max")
    eo.update(preds, target, groups)
    torch.testing.assert_close(eo.compute(), torch.tensor(0.5))
