"""AttributeSwapper batch helpers used through datasets.Dataset.map(batched=True)."""

from __future__ import annotations

import pytest
from datasets import Dataset

from lightning_bias.counterfactual import AttributeSwapper


@pytest.fixture(scope="module")
def gender() -> AttributeSwapper:
    return AttributeSwapper.builtin("gender")


@pytest.fixture()
def table() -> Dataset:
    return Dataset.from_dict(
        {
            "text": ["He is a nurse.", "The report is late.", "She thanked her father.", "Mary codes."],
            "label": [0, 1, 0, 1],
            "group": [0, 1, 1, 1],  # 0 = male, 1 = female
        }
    )


def test_swap_batch_replaces_the_text_column(gender, table):
    swapped = table.map(gender.swap_batch, batched=True, batch_size=3)
    assert swapped["text"] == [
        "She is a nurse.",
        "The report is late.",
        "He thanked his mother.",
        "John codes.",
    ]
    assert swapped["label"] == table["label"]


def test_augment_batch_adds_counterfactual_copies_and_flips_groups(gender, table):
    augmented = table.map(
        gender.augment_batch,
        batched=True,
        batch_size=2,
        fn_kwargs={
            "group_column": "group",
            "group_names": ["male", "female"],
            "counterfactual_column": "is_cf",
        },
    )
    assert augmented["text"] == [
        "He is a nurse.",
        "She is a nurse.",
        "The report is late.",
        "She thanked her father.",
        "He thanked his mother.",
        "Mary codes.",
        "John codes.",
    ]
    assert augmented["label"] == [0, 0, 1, 0, 0, 1, 1]
    assert augmented["group"] == [0, 1, 1, 1, 0, 1, 0]
    assert augmented["is_cf"] == [False, True, False, False, True, False, True]


def test_two_sided_filtered_cda_drops_lines_without_attribute_words(gender):
    corpus = Dataset.from_dict({"text": ["The sky is blue.", "his dog", "Rain.", "the queen"]})
    augmented = corpus.map(gender.augment_batch, batched=True, fn_kwargs={"keep_unmatched": False})
    assert augmented["text"] == ["his dog", "her dog", "the queen", "the king"]


def test_neutralize_batch(gender, table):
    scrubbed = table.map(gender.neutralize_batch, batched=True)
    assert scrubbed["text"] == [
        "They is a nurse.",
        "The report is late.",
        "They thanked their father.",
        "_ codes.",
    ]


def test_batch_helpers_report_bad_input(gender):
    with pytest.raises(ValueError, match="no column 'text'"):
        gender.swap_batch({"sentence": ["he"]})
    with pytest.raises(ValueError, match="column 'text', row 1 of the batch is NoneType"):
        gender.swap_batch({"text": ["he", None]})
    with pytest.raises(ValueError, match="pass group_column and group_names together"):
        gender.augment_batch({"text": ["he"], "group": [0]}, group_column="group")
    with pytest.raises(ValueError, match=r"group id 2 is not in \[0, 1\]"):
        gender.augment_batch(
            {"text": ["he"], "group": [2]}, group_column="group", group_names=["male", "female"]
        )
    with pytest.raises(ValueError, match="already exists"):
        gender.augment_batch({"text": ["he"], "cf": [1]}, counterfactual_column="cf")


def test_map_with_swapper_is_cacheable_and_deterministic(gender, table, tmp_path):
    # datasets fingerprints the function (pickling the swapper); two identical swappers give the same result.
    first = table.map(AttributeSwapper.builtin("gender").swap_batch, batched=True)
    second = table.map(AttributeSwapper.builtin("gender").swap_batch, batched=True)
    assert first["text"] == second["text"]
    assert first._fingerprint == second._fingerprint
