"""benchmarks/gpu/token_lengths.py: the bios it reads from the shared subset, and its summary statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "gpu"))

import token_lengths  # noqa: E402


def test_the_summary_gives_each_statistic_with_an_interval_around_it():
    lengths = np.array([10] * 90 + [200] * 10)
    summary = token_lengths.length_summary(lengths, max_length=128, resamples=500, seed=0)
    assert (summary["n"], summary["max"], summary["mean"]) == (100, 200, 29.0)
    assert summary["median"] == [10.0, 10.0, 10.0]
    share, low, high = summary["share_over_128"]
    assert share == 0.1 and low < share < high
    assert summary["p95"][0] == 200.0


def test_the_subset_gives_its_339_gold_bios_and_every_distinct_bio():
    bios = token_lengths.read_bios(shared_data("bias_in_bios_subset"))
    assert len(bios["gold"]) == 339
    assert set(bios["gold"]) <= set(bios["all"]) and len(set(bios["all"])) == len(bios["all"]) > 339


def test_a_missing_subset_is_one_error_naming_the_option(tmp_path):
    with pytest.raises(ValueError, match="biosbias.csv is missing: pass --data-root"):
        token_lengths.read_bios(tmp_path)
