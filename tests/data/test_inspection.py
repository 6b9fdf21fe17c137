"""``data inspect``'s statistics against an independent count of a small table."""

from __future__ import annotations

import math
from collections import Counter

import datasets
import pytest

from lightning_bias.data.inspection import inspect_splits
from lightning_bias.models.pretrained import load_tokenizer

LABELS, GROUPS = ["nurse", "surgeon", "chef"], ["male", "female"]
TRAIN = [  # (text, label, group)
    ("She is a nurse.", 0, 1), ("He is a nurse at the county hospital, on nights.", 0, 0),
    ("She is a nurse.", 0, 1), ("  She is a nurse. ", 1, 1),  # the same text (spaces aside), another label
    ("He operates.", 1, 0), ("He operates.", 1, 0), ("   ", 2, 0), ("A chef who bakes bread every morning.", 2, 1),
    ("Shared with test.", 2, 0),
]
TEST = [("Shared with test.", 2, 1), ("Shared with test.", 2, 0), ("He cooks.", 2, 0), ("She operates on hearts.", 1, 1)]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _table(rows):
    text, label, group = zip(*rows, strict=True)
    return datasets.Dataset.from_dict({"text": list(text), "label": list(label), "group": list(group)})


def _observed_percentile(values: list[int], q: float) -> int:
    """The smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


def test_counts_rates_lengths_and_duplicates_match_an_independent_count(tokenizer):
    result = inspect_splits({"train": _table(TRAIN), "test": _table(TEST)}, LABELS, GROUPS, tokenizer, max_length=10)
    train = result["splits"]["train"]
    pairs = Counter((LABELS[label], GROUPS[group]) for _, label, group in TRAIN)
    assert train["rows"] == len(TRAIN)
    assert train["counts"] == {label: {group: pairs[label, group] for group in GROUPS} for label in LABELS}
    for label in LABELS:
        label_rows = sum(pairs[label, group] for group in GROUPS)
        assert train["p_group_given_label"][label] == {group: pairs[label, group] / label_rows for group in GROUPS}
    for group in GROUPS:
        group_rows = sum(pairs[label, group] for label in LABELS)
        assert train["p_label_given_group"][group] == pytest.approx(
            {label: pairs[label, group] / group_rows for label in LABELS})
    assert train["group_counts"] == {"male": 5, "female": 4}
    assert train["empty_texts"] == 1
    # "She is a nurse." three times (once with another label), "He operates." twice
    assert train["duplicates"] == {"rows": 3, "texts": 2, "texts_with_several_labels": 1}
    lengths = [len(tokenizer(text)["input_ids"]) for text, _, _ in TRAIN]
    assert train["token_lengths"]["min"] == min(lengths) and train["token_lengths"]["max"] == max(lengths)
    assert [train["token_lengths"][f"p{q}"] for q in (50, 90, 95, 99)] == [
        _observed_percentile(lengths, q) for q in (50, 90, 95, 99)]
    assert train["token_lengths"]["mean"] == pytest.approx(sum(lengths) / len(lengths))
    assert train["token_lengths"]["over_max_length"] == sum(length > 10 for length in lengths) > 0
    assert result["shared_texts"] == [{"splits": ["train", "test"], "texts": 1, "rows": {"train": 1, "test": 2}}]


def test_a_label_or_group_without_rows_has_no_rate(tokenizer):
    result = inspect_splits({"test": _table(TEST)}, [*LABELS, "pilot"], [*GROUPS, "other"], tokenizer, max_length=64)
    test = result["splits"]["test"]
    assert test["p_group_given_label"]["pilot"] == {"male": None, "female": None, "other": None}
    assert test["p_label_given_group"]["other"] == {label: None for label in [*LABELS, "pilot"]}
    assert test["counts"]["nurse"] == {"male": 0, "female": 0, "other": 0}
    assert result["shared_texts"] == []


def test_nothing_to_inspect_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="no split to inspect"):
        inspect_splits({}, LABELS, GROUPS, tokenizer, max_length=64)
