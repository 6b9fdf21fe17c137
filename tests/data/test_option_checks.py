"""Numeric options are checked where they enter, with the option's name and its range in the message."""

from __future__ import annotations

import math

import pytest

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.option_checks import check_number
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions, SyntheticBiosSource


@pytest.mark.parametrize(("value", "bounds", "message"), [
    (0, {"above": 0}, "x must be a number > 0, got 0"),
    (-1e-3, {"above": 0}, "x must be a number > 0, got -0.001"),
    (1.0, {"at_least": 0, "below": 1}, "x must be a number >= 0 and < 1, got 1.0"),
    (2.5, {"at_least": 1, "integer": True}, "x must be an integer >= 1, got 2.5"),
    (True, {"integer": True}, "x must be an integer, got True"),
    (math.nan, {}, "x must be a number, got nan"),
    (math.inf, {"at_least": 0}, "x must be a number >= 0, got inf"),
    ("3", {}, "x must be a number, got '3'"),
    (None, {"at_least": 1, "integer": True}, "x must be an integer >= 1, got None"),
    (0, {"at_least": 1, "integer": True, "optional": True}, "x must be an integer >= 1 or null, got 0"),
])
def test_bad_values_are_named_with_their_range(value, bounds, message):
    with pytest.raises(ValueError) as err:
        check_number("x", value, **bounds)
    assert str(err.value) == message


def test_good_values_pass():
    check_number("x", 1e-5, above=0)
    check_number("x", 0, at_least=0, below=1)
    check_number("x", 1.0, at_most=1)
    check_number("x", None, at_least=1, integer=True, optional=True)
    check_number("x", 3, at_least=1, integer=True)


@pytest.mark.parametrize(("option", "value", "words"), [
    ("batch_size", 0, "data.batch_size must be an integer >= 1"),
    ("eval_batch_size", 0, "data.eval_batch_size must be an integer >= 1 or null"),
    ("max_length", 0, "data.max_length must be an integer >= 1"),
    ("max_length", -1, "data.max_length must be an integer >= 1"),
    ("num_workers", -1, "data.num_workers must be an integer >= 0"),
    ("split_seed", -1, "data.split_seed must be an integer >= 0"),
    ("test_fraction", -0.1, "data.test_fraction must be a number >= 0 and < 1"),
])
def test_bias_data_module_options(option, value, words):
    with pytest.raises(ValueError, match=words):
        BiasDataModule(**{option: value})


@pytest.mark.parametrize(("option", "value", "words"), [
    ("block_size", 0, "data.block_size must be an integer >= 1"),
    ("batch_size", 0, "data.batch_size must be an integer >= 1"),
    ("max_lines", 0, "data.max_lines must be an integer >= 1 or null"),
    ("mlm_probability", 0.0, r"data.mlm_probability must be a number > 0 and < 1"),
    ("num_workers", -2, "data.num_workers must be an integer >= 0"),
])
def test_corpus_data_module_options(option, value, words):
    with pytest.raises(ValueError, match=words):
        CorpusDataModule(**{option: value})


@pytest.mark.parametrize(("options", "words"), [
    ({"num_examples": 0}, r"data\.synthetic_bios\.num_examples must be an integer >= 1"),
    ({"num_examples": 60}, r"num_examples=60 gives the val split 9 bios, fewer than the 16 occupations"),
    ({"num_examples": 60, "occupations": ["nurse", "surgeon"]}, None),
    ({"ambiguity": -0.1}, r"data\.synthetic_bios\.ambiguity=-0\.1: must be a number in \[0, 1\]"),
    ({"female_rate": "skewed"}, r"data\.synthetic_bios\.female_rate='skewed': unknown preset"),
    ({"eval_female_rate": 2.0}, r"data\.synthetic_bios\.eval_female_rate=2\.0: must be a number in \[0, 1\]"),
    ({"occupations": ["nurse", "astronaut"]}, r"data\.synthetic_bios\.occupations: unknown occupations \['astronaut'\]"),
])
def test_synthetic_bios_options_are_checked_before_generating(options, words):
    if words is None:
        SyntheticBiosSource(SyntheticBiosOptions(**options))
        return
    with pytest.raises(ValueError, match=words):
        SyntheticBiosSource(SyntheticBiosOptions(**options))


def test_a_split_of_zero_rows_is_not_too_small():
    source = SyntheticBiosSource(SyntheticBiosOptions(num_examples=20), val_fraction=0.0, test_fraction=0.0)
    assert source.split_sizes() == {"train": 20, "val": 0, "test": 0}
    assert set(source.load().tables) == {"train"}
