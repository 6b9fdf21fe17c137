"""Bad arguments raise ValueError saying what was expected and what came."""

from __future__ import annotations

import pytest
import torch

from lightning_bias.metrics import (
    BiasAUC,
    CounterfactualFlipRate,
    DemographicParityRatio,
    FairnessMetrics,
    GroupAccuracy,
    TPRGap,
)

LABELS = torch.tensor([0, 1, 2, 1])
GROUPS = torch.tensor([0, 1, 1, 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 3, "num_groups": 1}, r"num_groups.*>= 2; got 1"),
        ({"num_classes": 1, "num_groups": 2}, r"num_classes.*>= 2; got 1"),
        ({"num_classes": 3.0, "num_groups": 2}, r"num_classes.*int.*got 3.0"),
        ({"num_classes": 3, "num_groups": 2, "aggregate": "mean"}, r"aggregate.*'rms', 'max', 'none'.*got 'mean'"),
    ],
)
def test_constructor_arguments_are_checked(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        TPRGap(**kwargs)


def test_ratio_aggregate_choices_are_min_mean_none() -> None:
    with pytest.raises(ValueError, match=r"'min', 'mean', 'none'.*got 'rms'"):
        DemographicParityRatio(3, 2, aggregate="rms")


@pytest.mark.parametrize(
    ("preds", "target", "groups", "message"),
    [
        (LABELS, LABELS, torch.tensor([0, 1, 2, 0]), r"`groups` must hold values in \[0, 1\]; got values in \[0, 2\]"),
        (LABELS, torch.tensor([0, -1, 2, 1]), GROUPS, r"`target` must hold values in \[0, 2\]; got values in \[-1, 2\]"),
        (torch.tensor([0, 1, 3, 1]), LABELS, GROUPS, r"`preds` must hold values in \[0, 2\]; got values in \[0, 3\]"),
        (LABELS, LABELS, torch.tensor([0, 1, 1]), r"same number of rows N; `preds` has 4, `target` has 4, `groups` has 3"),
        (torch.rand(4, 2), LABELS, GROUPS, r"C = num_classes = 3 columns; got shape \[4, 2\]"),
        (torch.rand(4), LABELS, GROUPS, r"\[N\] must hold integer class labels; got dtype torch.float32"),
        (torch.rand(4, 3, 1), LABELS, GROUPS, r"\[N, 3\] scores or \[N\] integer labels; got shape \[4, 3, 1\]"),
        (LABELS, LABELS.float(), GROUPS, r"`target` must be a 1-D integer tensor.*torch.float32"),
        (LABELS, LABELS, [0, 1, 1, 0], r"`groups` must be a torch.Tensor.*got list"),
        (torch.tensor([[0.1, float("nan"), 0.3]] * 4), LABELS, GROUPS, r"`preds` contains NaN or infinite values"),
    ],
)
def test_update_arguments_are_checked(preds, target, groups, message) -> None:
    metric = GroupAccuracy(num_classes=3, num_groups=2)
    with pytest.raises(ValueError, match=message):
        metric.update(preds, target, groups)
    assert int(metric.confusion.sum()) == 0  # nothing was counted from the rejected batch


def test_validate_args_false_skips_value_checks_but_keeps_shape_checks() -> None:
    metric = GroupAccuracy(num_classes=3, num_groups=2, validate_args=False)
    metric.update(LABELS, LABELS, GROUPS)
    with pytest.raises(ValueError, match="same number of rows"):
        metric.update(LABELS, LABELS, GROUPS[:2])


def test_fairness_metrics_names_are_checked() -> None:
    with pytest.raises(ValueError, match=r"group_names.*one entry per id \(3\); got 2"):
        FairnessMetrics(2, 3, group_names=["a", "b"])
    with pytest.raises(ValueError, match="class_names.*unique"):
        FairnessMetrics(2, 2, class_names=["x", "x"])


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="strictly ascending"):
        BiasAUC(2, thresholds=[0.1, 0.5, 0.3])
    with pytest.raises(ValueError, match=">= 2"):
        BiasAUC(2, thresholds=1)
    metric = BiasAUC(2, thresholds=5)
    with pytest.raises(ValueError, match=r"`target` must hold values in \[0, 1\]"):
        metric.update(torch.tensor([0.2, 0.4]), torch.tensor([0, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"`scores` must hold values in \[0, 1\].*from_logits=True"):
        metric.update(torch.tensor([-0.2, 0.4]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        metric.update(torch.tensor([float("nan"), 0.4]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer labels carry no ranking"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1]))


def test_counterfactual_flip_rate_arguments_are_checked() -> None:
    metric = CounterfactualFlipRate()
    with pytest.raises(ValueError, match=r"same shape \[N, C\]; got \[2, 2\] and \[3, 2\]"):
        metric.update(torch.rand(2, 2), torch.rand(3, 2))
    with pytest.raises(ValueError, match=r"`probs_counterfactual` must hold values in \[0, 1\].*softmax"):
        metric.update(torch.rand(2, 2), torch.rand(2, 2) + 1)
    with pytest.raises(ValueError, match=r"floating \[N, C\]"):
        metric.update(torch.tensor([0, 1]), torch.tensor([1, 0]))
