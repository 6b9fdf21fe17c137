"""The measure suite: head-free measures for any encoder, masked-LM readings marked by where the head came from."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_MODEL_CONFIG
from transformers import AutoModelForMaskedLM

from lightning_bias.intrinsic.suite import (
    IntrinsicBiasOptions,
    headline_intervals,
    headline_numbers,
    measure_intrinsic_bias,
)
from lightning_bias.models.pretrained import build_config, load_tokenizer

FAST = {"templates": ["{target} is {article} {occupation}.", "{target} works as {article} {occupation}."]}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return AutoModelForMaskedLM.from_config(build_config(dict(TINY_MODEL_CONFIG))).eval()


def test_calibrated_head_readings_are_marked_as_probe_readings(tokenizer, tiny_model):
    result = measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(**FAST), head="calibrated")
    assert result["masked_lm_head"]["origin"] == "calibrated" and result["masked_lm_head"]["readings"] == "probe"
    assert "PROBE READINGS" in result["masked_lm_head"]["note"]
    assert result["log_probability_bias"]["reading"] == "probe"
    own = measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(**FAST))
    assert own["masked_lm_head"]["readings"] == "model" and own["log_probability_bias"]["reading"] == "model"
    assert own["association_test"] == result["association_test"]  # head-free: the head does not matter


def test_head_free_measures_alone_and_their_headline_numbers(tokenizer, tiny_model):
    options = IntrinsicBiasOptions(log_probability=False, **FAST)
    result = measure_intrinsic_bias(tiny_model, tokenizer, options, head="absent")
    assert set(result) == {"masked_lm_head", "association_test", "gender_probe"}
    numbers, intervals = headline_numbers(result), headline_intervals(result)
    assert numbers["gender_probe/accuracy"] == result["gender_probe"]["accuracy"]
    assert numbers["association_test/gender_terms_occupations/effect_size"] == (
        result["association_test"]["gender_terms_occupations"]["effect_size"])
    assert set(intervals) <= set(numbers) and "gender_probe/accuracy" in intervals
    assert measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(seed=0, **FAST), head="own")[
        "gender_probe"] != measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(seed=1, **FAST))[
        "gender_probe"]  # the seed reaches the probe's folds and bootstrap


def test_suite_errors(tokenizer, tiny_model):
    with pytest.raises(ValueError, match="no masked-LM head, so the masked-LM measures"):
        measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(), head="absent")
    with pytest.raises(ValueError, match="head must be one of"):
        measure_intrinsic_bias(tiny_model, tokenizer, IntrinsicBiasOptions(), head="borrowed")
