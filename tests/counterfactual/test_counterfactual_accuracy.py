"""Swap and scrub accuracy on real sentences (hand-annotated, read from ../shared/data), and the scorer itself.

The annotations (``swap_annotations.jsonl``, format in :mod:`lightning_bias.counterfactual.accuracy`) hold
locators, checksums and per-word corrections only, never the sentences. Conventions of the annotator:
every person's gendered words change (third parties too: the swapper's documented full swap); a first
name changes when it is a present-day given name of one gender (``*``: any counterpart, for names no list
holds; surnames, ancient or unisex names stay); gendered words inside the names of places, organisations
and works stay ("Duke University", "Office on Violence Against Women", "Men's Health"); pronouns of
ships change like any other; scrubbing drops titles, replaces first names by ``_`` and puts the verb
after a subject "they" in agreement, coordinated verbs included.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import SHARED_DATA, shared_data

from lightning_bias.counterfactual import AttributeSwapper
from lightning_bias.counterfactual.accuracy import (
    AnnotatedSentence,
    expected_text,
    read_annotations,
    score,
    sentence_sha1,
    split_sentences,
    tokenize,
)

ANNOTATIONS = Path(__file__).with_name("swap_annotations.jsonl")


@pytest.fixture(scope="module")
def gender() -> AttributeSwapper:
    return AttributeSwapper.builtin("gender")


@pytest.fixture(scope="module")
def real_sentences() -> list[AnnotatedSentence]:
    for folder in ("bias_in_bios_subset", "wikitext2_raw", "stereoset"):
        shared_data(folder)
    return read_annotations(ANNOTATIONS, SHARED_DATA)


def test_the_annotated_set_covers_three_real_datasets(real_sentences):
    sources = Counter(json.loads(line)["source"].split("/")[0] for line in ANNOTATIONS.read_text().splitlines())
    assert len(real_sentences) >= 300
    assert sources["bias_in_bios_subset"] >= 100 and sources["wikitext2_raw"] >= 100 and sources["stereoset"] >= 50
    assert sum(len(sentence.swap) for sentence in real_sentences) >= 900  # gendered words to change
    assert sum(sentence.scrub is not None for sentence in real_sentences) >= 100


def test_swap_word_accuracy_on_real_sentences_is_at_least_99_percent(gender, real_sentences):
    counts = score(real_sentences, lambda text: gender.swap_with_count(text)[0], "swap")
    accuracy = counts.words_right / counts.words
    report = "\n".join(f"{where}\n  want {want}\n  got  {got}" for where, want, got in counts.errors[:20])
    assert accuracy >= 0.99, f"word accuracy {accuracy:.4f} ({counts.words_right}/{counts.words})\n{report}"
    assert counts.kept_right / counts.words_to_keep >= 0.998  # words that must stay rarely change
    assert counts.changed_right / counts.words_to_change >= 0.93  # misses: first names no list holds
    assert counts.sentences_exact / counts.sentences >= 0.8


def test_scrub_word_accuracy_on_real_sentences(gender, real_sentences):
    counts = score(real_sentences, lambda text: gender.neutralize_with_count(text)[0], "scrub")
    assert counts.sentences >= 100
    assert counts.words_right / counts.words >= 0.985, counts.errors[:10]
    assert counts.kept_right / counts.words_to_keep >= 0.997


# ---------------------------------------------------------------- the scorer and the annotation format


def _dataset(tmp_path: Path) -> Path:
    (tmp_path / "texts.jsonl").write_text(
        json.dumps({"text": "Dr. Ada Byrne met him. She gave her notes to Mr. Lee."}) + "\n", encoding="utf-8"
    )
    return tmp_path


def _annotation(tmp_path: Path, **overrides) -> Path:
    sentence = "She gave her notes to Mr. Lee."
    record = {"source": "texts.jsonl", "row": 0, "sentence": 1, "sha1": sentence_sha1(sentence),
              "swap": [[0, "She", "He"], [2, "her", "his"], [5, "Mr", "Ms"]],
              "scrub": [[0, "She", "They"], [2, "her", "their"], [5, "Mr", ""]]}
    record.update(overrides)
    path = tmp_path / "annotations.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def test_sentences_split_after_full_stops_but_not_after_titles_or_initials():
    assert split_sentences("Dr. Ada Byrne met J. R. Lee. She left! Then? ok") == [
        "Dr. Ada Byrne met J. R. Lee.", "She left!", "Then? ok"]
    assert [match.group() for match in tokenize("the ladies' lounge, Mary's book")] == [
        "the", "ladies'", "lounge", "Mary's", "book"]


def test_annotations_read_the_sentence_from_the_dataset_and_score_it(tmp_path, gender):
    sentences = read_annotations(_annotation(tmp_path), _dataset(tmp_path))
    assert [sentence.text for sentence in sentences] == ["She gave her notes to Mr. Lee."]
    assert expected_text(sentences[0].text, sentences[0].scrub) == "They gave their notes to Lee."
    swap = score(sentences, lambda text: gender.swap_with_count(text)[0])
    assert (swap.words_to_change, swap.changed_right, swap.words_to_keep, swap.kept_right) == (3, 3, 4, 4)
    assert swap.sentences_exact == 1
    wrong = score(sentences, lambda text: text.replace("She", "He"))  # misses "her" and "Mr"
    assert (wrong.changed_right, wrong.kept_right, wrong.sentences_exact) == (1, 4, 0)
    assert wrong.errors == [(sentences[0].where, "He gave his notes to Ms. Lee.", "He gave her notes to Mr. Lee.")]
    scrub = score(sentences, lambda text: gender.neutralize_with_count(text)[0], "scrub")
    assert (scrub.changed_right, scrub.words_to_change, scrub.sentences_exact) == (3, 3, 1)


def test_a_star_accepts_any_other_word(tmp_path):
    path = _annotation(tmp_path, swap=[[6, "Lee", "*"]], scrub=None)
    sentences = read_annotations(path, _dataset(tmp_path))
    assert score(sentences, lambda text: text.replace("Lee", "Kim")).sentences_exact == 1
    assert score(sentences, lambda text: text).changed_right == 0


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sha1": "00000000"}, "has changed"),
    ({"row": 3}, "row 3 is outside"),
    ({"sentence": 5}, "sentence 5 is outside row 0"),
    ({"swap": [[2, "his", "her"]]}, "swap token 2 should be 'his' but the sentence has 'her' there"),
    ({"source": "missing.csv"}, "does not exist"),
])
def test_annotation_errors_name_the_line_and_the_problem(tmp_path, overrides, message):
    path = _annotation(tmp_path, **overrides)
    with pytest.raises(ValueError, match=message) as error:
        read_annotations(path, _dataset(tmp_path))
    assert f"{path}:1" in str(error.value)
