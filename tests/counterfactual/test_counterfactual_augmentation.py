"""``augment``: the one routine behind fine-tuning CDA, corpus CDA, scrubbing and counterfactual evaluation."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from datasets import Dataset

import lightning_bias.counterfactual
from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.counterfactual import augmentation as augmentation_module

TEXTS = ["He is a nurse.", "The report is late.", "She thanked her father.", "Mary codes."]
GROUPS = [0, 1, 1, 1]  # 0 = male, 1 = female
SWAPPED = ["She is a nurse.", "The report is late.", "He thanked his mother.", "John codes."]


@pytest.fixture(scope="module")
def gender() -> AttributeSwapper:
    return AttributeSwapper.builtin("gender")


def test_two_sided_adds_a_copy_after_every_row_with_words_and_moves_it_to_the_counterpart_group(gender):
    rows = augment(TEXTS, gender.swap_with_count, "two_sided", groups=GROUPS, counterpart=[1, 0])
    assert rows.texts == [TEXTS[0], SWAPPED[0], TEXTS[1], TEXTS[2], SWAPPED[2], TEXTS[3], SWAPPED[3]]
    assert rows.sources == [0, 0, 1, 2, 2, 3, 3]
    assert rows.groups == [0, 1, 1, 1, 0, 1, 0]
    assert rows.rewritten == [False, True, False, False, True, False, True]
    assert (rows.rows_with_words, rows.words_found, rows.words_rewritten) == (3, 5, 5)
    assert rows.rows_rewritten == rows.rows_changed == 3


def test_two_sided_filtered_keeps_only_rows_with_words_each_with_its_copy(gender):
    corpus = ["The sky is blue.", "his dog", "Rain.", "the queen"]
    rows = augment(corpus, gender.swap_with_count, "two_sided_filtered")
    assert rows.texts == ["his dog", "her dog", "the queen", "the king"]
    assert rows.groups is None and rows.sources == [1, 1, 3, 3]


def test_one_sided_copies_only_the_source_group_and_examines_only_it(gender):
    rows = augment(TEXTS, gender.swap_with_count, "one_sided", groups=GROUPS, counterpart=[1, 0], source_group=1)
    assert rows.texts == [TEXTS[0], TEXTS[1], TEXTS[2], SWAPPED[2], TEXTS[3], SWAPPED[3]]
    assert rows.groups == [0, 1, 1, 0, 1, 0]
    assert (rows.rows_with_words, rows.words_found) == (2, 4)  # row 0 (male) was not looked at


def test_substitution_replaces_rows_with_words_whose_draw_is_below_the_probability(gender):
    rows = augment(TEXTS, gender.swap_with_count, "substitution", groups=GROUPS, counterpart=[1, 0],
                   draws=[0.9, 0.0, 0.1, 0.4], probability=0.5)
    assert rows.texts == [TEXTS[0], TEXTS[1], SWAPPED[2], SWAPPED[3]]  # row 1 has no word: kept despite its draw
    assert rows.groups == [0, 1, 0, 0]
    assert rows.rewritten == [False, False, True, True]
    # every row is examined, only the substituted ones count as rewritten
    assert (rows.rows_with_words, rows.words_found, rows.words_rewritten) == (3, 5, 4)


def test_in_place_rewrites_every_row(gender):
    swapped = augment(TEXTS, gender.swap_with_count, "in_place")
    assert swapped.texts == SWAPPED and swapped.sources == [0, 1, 2, 3]
    scrubbed = augment(["Mr. Smith spoke.", *TEXTS], gender.neutralize_with_count, "in_place")
    assert scrubbed.texts == ["Smith spoke.", "They are a nurse.", "The report is late.", "They thanked their father.",
                              "_ codes."]
    assert scrubbed.rows_changed == 4  # a title alone changes a row too


def test_draws_come_from_the_caller(gender):
    draws = np.random.default_rng(3).random(200)
    texts = ["she said hi"] * 200
    first = augment(texts, gender.swap_with_count, "substitution", draws=draws, probability=0.5)
    again = augment(texts, gender.swap_with_count, "substitution", draws=draws, probability=0.5)
    assert first == again
    assert first.rewritten == list(draws < 0.5)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"mode": "both"}, "unknown mode 'both'"),
    ({"texts": ["he", None]}, "text of row 1 is NoneType, expected str"),
    ({"groups": [0]}, "1 group ids for 2 texts"),
    ({"counterpart": [1, 0]}, "a counterpart permutation needs the rows' group ids"),
    ({"mode": "one_sided", "groups": [0, 1]}, "mode one_sided needs groups and source_group"),
    ({"source_group": 0, "groups": [0, 1]}, "only it takes source_group"),
    ({"mode": "substitution"}, "mode substitution needs draws"),
    ({"draws": [0.1, 0.2]}, "only it takes them"),
    ({"mode": "substitution", "draws": [0.1]}, "1 draws for 2 texts"),
    ({"mode": "substitution", "draws": [0.1, 0.2], "probability": 1.5}, r"probability must be in \[0, 1\]"),
    ({"groups": [0, 2], "counterpart": [1, 0]}, r"group id 2 of row 1 is not in 0\.\.1"),
])
def test_bad_input_is_named(gender, kwargs, needle):
    arguments = {"texts": ["he", "she"], "rewrite": gender.swap_with_count, "mode": "two_sided", **kwargs}
    with pytest.raises(ValueError, match=needle):
        augment(**arguments)


def test_map_with_a_swapper_is_cacheable_and_deterministic():
    # datasets fingerprints the function and its arguments (pickling the swapper), as the plugins' maps do
    table = Dataset.from_dict({"text": TEXTS})

    def swap_texts(batch: dict, swapper: AttributeSwapper) -> dict:
        return {"text": augment(batch["text"], swapper.swap_with_count, "in_place").texts}

    first = table.map(swap_texts, batched=True, fn_kwargs={"swapper": AttributeSwapper.builtin("gender")})
    second = table.map(swap_texts, batched=True, fn_kwargs={"swapper": AttributeSwapper.builtin("gender")})
    assert first["text"] == second["text"] == SWAPPED
    assert first._fingerprint == second._fingerprint


@pytest.mark.parametrize("module", [lightning_bias.counterfactual, augmentation_module])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
