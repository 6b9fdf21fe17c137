"""Signed per-class gaps (group A minus group B, named), small cells, and the De-Arteaga correlation."""

from __future__ import annotations

import pytest
import torch

from lightning_bias.metrics import FairnessMetrics, gap_train_share_correlation

# nurse: 10 female nurses all found, 2 male nurses, one found -> the quickstart's "1.00 vs 0.50"
PREDS = torch.tensor([0] * 10 + [0, 1] + [1] * 12 + [1] * 12)
TARGET = torch.tensor([0] * 10 + [0, 0] + [1] * 12 + [1] * 12)
GROUPS = torch.tensor([0] * 10 + [1, 1] + [0] * 12 + [1] * 12)


def nurse_report(**kwargs) -> dict:
    metric = FairnessMetrics(2, 2, group_names=["female", "male"], class_names=["nurse", "surgeon"], **kwargs)
    metric.update(PREDS, TARGET, GROUPS)
    return metric.report()


def test_signed_gap_is_group_a_minus_group_b_with_a_newcombe_interval() -> None:
    signed = nurse_report()["gaps"]["signed_by_class"]
    assert signed["pairs"] == ["female - male"]
    assert signed["tpr"]["female - male"] == {"nurse": 0.5, "surgeon": 0.0}
    low, high = signed["tpr_ci95"]["female - male"]["nurse"]
    assert 0.0 < low < 0.5 < high < 1.0  # wide: 2 male nurses
    assert "female" in signed["definition"] and "male" in signed["definition"]


def test_more_than_two_groups_get_each_group_minus_the_rest() -> None:
    metric = FairnessMetrics(2, 3, group_names=["a", "b", "c"])
    metric.update(torch.tensor([1, 1, 0, 1, 0, 0]), torch.tensor([1, 1, 1, 1, 1, 1]), torch.tensor([0, 0, 1, 1, 2, 2]))
    signed = metric.report()["gaps"]["signed_by_class"]
    assert signed["pairs"] == ["a - rest", "b - rest", "c - rest"]
    assert signed["tpr"]["a - rest"]["1"] == pytest.approx(1.0 - 1 / 4)
    assert signed["tpr"]["c - rest"]["1"] == pytest.approx(0.0 - 3 / 4)


def test_cells_under_the_minimum_support_are_flagged_and_the_minimum_is_configurable() -> None:
    cells = nurse_report()["small_cells"]
    assert cells == {"min_support": 10, "cells": [{"group": "male", "class": "nurse", "support": 2}]}
    assert nurse_report(min_support=2)["small_cells"]["cells"] == []
    flagged = nurse_report(min_support=13)["small_cells"]["cells"]
    assert {(cell["group"], cell["class"]) for cell in flagged} == {
        ("female", "nurse"), ("male", "nurse"), ("female", "surgeon"), ("male", "surgeon")
    }
    with pytest.raises(ValueError, match="min_support"):
        FairnessMetrics(2, 2, min_support=0)


def test_correlation_of_signed_gap_with_train_share_matches_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    classes = [f"job{c}" for c in range(8)]
    shares = [0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.9]
    gaps = [-0.2, -0.05, -0.1, 0.0, 0.05, 0.02, 0.2, 0.3]
    report = {
        "group_names": ["female", "male"],
        "class_names": classes,
        "gaps": {"signed_by_class": {"pairs": ["female - male"], "tpr": {"female - male": dict(zip(classes, gaps, strict=True))}}},
    }
    table = {name: {"female": share, "male": 1 - share} for name, share in zip(classes, shares, strict=True)}
    entry = gap_train_share_correlation(report, table)["by_group"]["female"]
    expected = scipy_stats.pearsonr(shares, gaps)
    assert entry["pearson_r"] == pytest.approx(expected.statistic)
    assert entry["ci95"] == pytest.approx(list(expected.confidence_interval()))
    assert entry["num_classes"] == 8 and entry["pair"] == "female - male"
    with pytest.raises(ValueError, match="signed_by_class"):
        gap_train_share_correlation({"gaps": {}}, table)


def test_two_group_gap_interval_is_the_newcombe_interval_taken_to_the_absolute_value() -> None:
    gaps = nurse_report()["gaps"]
    low, high = gaps["signed_by_class"]["tpr_ci95"]["female - male"]["nurse"]
    assert gaps["tpr_gap_by_class_ci95"]["nurse"] == pytest.approx([low, high])  # wholly above 0
    surgeon_low, surgeon_high = gaps["signed_by_class"]["tpr_ci95"]["female - male"]["surgeon"]
    assert surgeon_low < 0 < surgeon_high
    # a gap of 0 gets [0, ...], not a bootstrap interval lying above the observed value
    assert gaps["tpr_gap_by_class_ci95"]["surgeon"] == pytest.approx([0.0, max(-surgeon_low, surgeon_high)])
