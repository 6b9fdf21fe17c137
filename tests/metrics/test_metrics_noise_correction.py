"""Noise-corrected GAP-RMS and the noise floor: sampling noise alone must not read as a gap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_bias.metrics import FairnessMetrics

NUM_CLASSES = 28


def sampled_run(rows: int, tpr: tuple[float, float], seed: int) -> tuple[dict, dict]:
    """A validation set of ``rows`` over 28 classes and 2 groups, right with probability ``tpr[group]``."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, NUM_CLASSES, rows)
    groups = rng.integers(0, 2, rows)
    right = rng.random(rows) < np.asarray(tpr)[groups]
    wrong = (target + rng.integers(1, NUM_CLASSES, rows)) % NUM_CLASSES
    pred = np.where(right, target, wrong)
    metric = FairnessMetrics(NUM_CLASSES, 2, group_names=["female", "male"], bootstrap_replicates=0)
    metric.update(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(groups))
    return {key: float(value) for key, value in metric.compute().items()}, metric.report()["gaps"]


def test_errors_independent_of_group_give_a_raw_gap_but_no_corrected_gap() -> None:
    """TPR 0.8 in both groups, 300 rows over 28 classes (the quickstart's validation set), 40 draws."""
    runs = [sampled_run(300, (0.8, 0.8), seed) for seed in range(40)]
    raw = np.mean([flat["tpr_gap_rms"] for flat, _ in runs])
    corrected = np.mean([flat["tpr_gap_rms_corrected"] for flat, _ in runs])
    floor = np.mean([gaps["tpr_gap_rms_noise_floor"] for _, gaps in runs])
    assert 0.17 < raw < 0.3  # about 0.22: sampling noise alone
    assert corrected < 0.08  # near 0; floored at 0 in about half the runs
    assert floor == pytest.approx(raw, rel=0.15)  # the floor is what noise alone gives
    assert all(gaps["tpr_gap_rms_corrected"] == pytest.approx(flat["tpr_gap_rms_corrected"], abs=1e-6) for flat, gaps in runs)


def test_a_true_gap_is_recovered_by_the_corrected_gap_rms() -> None:
    """TPR 0.9 vs 0.6 in every class, about 14 examples per group and class: the true GAP-RMS is 0.3."""
    runs = [sampled_run(800, (0.9, 0.6), seed)[0] for seed in range(20)]
    corrected = np.mean([flat["tpr_gap_rms_corrected"] for flat in runs])
    raw = np.mean([flat["tpr_gap_rms"] for flat in runs])
    assert corrected == pytest.approx(0.3, abs=0.025)
    assert raw > corrected + 0.03


def test_corrected_gap_rms_is_a_flat_metric_of_every_rate() -> None:
    flat, gaps = sampled_run(500, (0.8, 0.7), seed=0)
    for name in ("tpr_gap", "fpr_gap", "dp_difference"):
        assert 0.0 <= flat[f"{name}_rms_corrected"] <= flat[f"{name}_rms"]
        assert gaps[f"{name}_rms_noise_floor"] > 0
