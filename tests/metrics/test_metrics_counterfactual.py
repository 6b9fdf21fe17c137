"""CounterfactualFlipRate against a direct numpy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_bias.metrics import CounterfactualFlipRate


def _probabilities(rng: np.random.Generator, rows: int, classes: int) -> np.ndarray:
    logits = rng.normal(size=(rows, classes))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 9), min_size=1, max_size=4), st.integers(2, 5))
def test_matches_numpy_definition(seed, batch_sizes, classes) -> None:
    rng = np.random.default_rng(seed)
    original = _probabilities(rng, sum(batch_sizes), classes)
    # the counterfactual moves some rows a little and some a lot
    counterfactual = np.where(rng.random((len(original), 1)) < 0.5, original, _probabilities(rng, len(original), classes))
    metric = CounterfactualFlipRate()
    start = 0
    for size in batch_sizes:
        metric.update(torch.from_numpy(original[start : start + size]), torch.from_numpy(counterfactual[start : start + size]))
        start += size
    result = metric.compute()
    if len(original) == 0:
        assert all(math.isnan(float(value)) for value in result.values())
        return
    predicted = original.argmax(axis=1)
    rows = np.arange(len(original))
    expected_flip_rate = np.mean(counterfactual.argmax(axis=1) != predicted)
    expected_change = np.mean(np.abs(counterfactual[rows, predicted] - original[rows, predicted]))
    assert float(result["flip_rate"]) == pytest.approx(expected_flip_rate, abs=1e-6)
    assert float(result["mean_abs_prob_change"]) == pytest.approx(expected_change, abs=1e-6)


def test_identical_inputs_never_flip() -> None:
    probs = torch.softmax(torch.randn(50, 3), dim=1)
    metric = CounterfactualFlipRate(validate_args=False)
    metric.update(probs, probs.clone())
    assert metric.compute() == {"flip_rate": torch.tensor(0.0), "mean_abs_prob_change": torch.tensor(0.0)}
