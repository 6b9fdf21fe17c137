"""Tests of the synthetic biographies generator (no model training here)."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter

import pytest

from lightning_bias.data.synthetic_bios import (
    FAMILIES,
    GROUP_NAMES,
    OCCUPATIONS,
    STEREOTYPICAL_FEMALE_RATE,
    bios_vocabulary,
    cooccurrence_table,
    family_cue_phrases,
    generate_bios,
    occupation_cue_phrases,
)

# Gender words listed independently of the module under test.
MALE_WORDS = {"he", "him", "his", "himself", "mr"}
FEMALE_WORDS = {"she", "her", "hers", "herself", "ms", "mrs"}


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z'-]*", text.lower())


@functools.cache
def phrase_pattern(phrase: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word occurrence (the substring test first, for speed)."""
    return phrase in text and phrase_pattern(phrase).search(text) is not None


@pytest.fixture(scope="module")
def first_names() -> dict[str, set[str]]:
    return {group: {n.lower() for n in names} for group, names in bios_vocabulary().first_names.items()}


@pytest.fixture(scope="module")
def large_sample():
    return generate_bios(6000, seed=7, female_rate="stereotypical", ambiguity=0.3)


# ----------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bios():
    first = generate_bios(500, seed=3, female_rate=0.4, ambiguity=0.5)
    second = generate_bios(500, seed=3, female_rate=0.4, ambiguity=0.5)
    assert first == second


def test_different_seeds_give_different_bios():
    first = generate_bios(500, seed=3)
    second = generate_bios(500, seed=4)
    assert first.texts != second.texts
    assert len(set(first.texts) & set(second.texts)) < 10  # not a reshuffle of the same bios


# ----------------------------------------------------------------------------------------- co-occurrence


def assert_exact_female_counts(bios, rates: dict[str, float]) -> None:
    per_label = Counter(bios.labels)
    female = Counter(label for label, group in zip(bios.labels, bios.groups, strict=True) if group == 1)
    for label, occupation in enumerate(bios.label_names):
        assert female[label] == round(rates[occupation] * per_label[label]), occupation


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5, 0.77, 1.0])
def test_float_female_rate_is_exact_per_occupation(rate):
    bios = generate_bios(1003, seed=1, female_rate=rate)
    assert_exact_female_counts(bios, dict.fromkeys(OCCUPATIONS, rate))


def test_mapping_female_rate_is_exact_per_occupation():
    rates = {occupation: (i % 7) / 7 for i, occupation in enumerate(OCCUPATIONS)}
    bios = generate_bios(2001, seed=2, female_rate=rates)
    assert_exact_female_counts(bios, rates)


def test_stereotypical_preset_is_exact_and_skews_each_family_both_ways():
    bios = generate_bios(3200, seed=5, female_rate="stereotypical")
    assert_exact_female_counts(bios, STEREOTYPICAL_FEMALE_RATE)
    realised = bios.cooccurrence()
    assert realised["nurse"]["female"] == pytest.approx(0.88) and realised["surgeon"][
        "female"
    ] == pytest.approx(0.25)
    # within every family gender carries information (rates differ); most families straddle 0.5
    straddling = 0
    for members in FAMILIES.values():
        low, high = sorted(STEREOTYPICAL_FEMALE_RATE[o] for o in members)
        assert high - low > 0.04
        straddling += low < 0.5 < high
    assert straddling >= 6


def test_balanced_preset_is_half_everywhere():
    bios = generate_bios(1600, seed=5, female_rate="balanced")
    assert_exact_female_counts(bios, dict.fromkeys(OCCUPATIONS, 0.5))
    assert all(row["female"] == 0.5 for row in bios.cooccurrence().values())


def test_occupations_are_uniform_by_default_and_follow_weights_exactly():
    uniform = Counter(generate_bios(1003, seed=0).labels)
    assert max(uniform.values()) - min(uniform.values()) <= 1 and sum(uniform.values()) == 1003

    chosen = ["nurse", "surgeon", "chef"]
    bios = generate_bios(
        1000, seed=0, occupations=chosen, occupation_weights={"nurse": 2, "surgeon": 1, "chef": 1}
    )
    assert bios.label_names == chosen
    assert Counter(bios.labels) == {0: 500, 1: 250, 2: 250}


def test_ambiguity_is_exact_per_occupation_and_gender_cell():
    bios = generate_bios(1600, seed=9, ambiguity=0.37)
    cells = Counter(zip(bios.labels, bios.groups, strict=True))
    lacking = Counter(
        (label, group)
        for label, group, cue in zip(bios.labels, bios.groups, bios.has_occupation_cue, strict=True)
        if not cue
    )
    for cell, size in cells.items():
        assert lacking[cell] == round(0.37 * size)


def test_cooccurrence_table_counts_and_rates():
    table = cooccurrence_table([0, 0, 0, 1], [1, 1, 0, 0], ["a", "b", "c"], ["male", "female"])
    assert table["a"] == {
        "male": pytest.approx(1 / 3),
        "female": pytest.approx(2 / 3),
        "count": 3,
        "count_male": 1,
        "count_female": 2,
    }
    assert table["b"]["male"] == 1.0 and table["b"]["count"] == 1
    assert math.isnan(table["c"]["female"]) and table["c"]["count"] == 0


@pytest.mark.parametrize(
    ("labels", "groups", "match"),
    [
        ([0, 1], [0], "row-aligned"),
        ([0, 3], [0, 1], "row 1 has label 3"),
        ([0, 1], [0, 2], "row 1 has group 2"),
    ],
)
def test_cooccurrence_table_rejects_bad_rows(labels, groups, match):
    with pytest.raises(ValueError, match=match):
        cooccurrence_table(labels, groups, ["a", "b"], ["male", "female"])


# ----------------------------------------------------------------------------------------- texts


def test_at_least_forty_templates_are_used(large_sample):
    assert len(bios_vocabulary().templates) >= 40
    assert len(set(large_sample.template_ids)) >= 40


def test_templates_have_one_to_three_sentences():
    for template in bios_vocabulary().templates:
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", template.text)) <= 3, template.text


def test_every_bio_signals_its_gender_and_never_the_other(large_sample, first_names):
    own_words = {0: MALE_WORDS | first_names["male"], 1: FEMALE_WORDS | first_names["female"]}
    for text, group in zip(large_sample.texts, large_sample.groups, strict=True):
        words = set(tokens(text))
        assert words & own_words[group], f"no gender signal in {text!r}"
        assert not words & own_words[1 - group], f"signal of the other gender in {text!r}"


def test_some_bios_carry_gender_only_through_pronouns_or_only_through_the_first_name(
    large_sample, first_names
):
    """Dr./Prof. are neutral: there must be bios where the name form alone hides the gender, and bios
    where nothing but the first name shows it."""
    all_first = first_names["male"] | first_names["female"]
    only_pronouns = only_first_name = 0
    for text in large_sample.texts:
        words = set(tokens(text))
        has_pronoun = bool(words & {"he", "him", "his", "himself", "she", "her", "herself"})
        has_honorific = bool(words & {"mr", "ms", "mrs"})
        has_first = bool(words & all_first)
        only_pronouns += has_pronoun and not has_honorific and not has_first
        only_first_name += has_first and not has_pronoun and not has_honorific
    assert only_pronouns > 30 and only_first_name > 30


def test_names_and_gender_words_never_collide_with_the_vocabulary(first_names):
    vocabulary = bios_vocabulary()
    assert (
        len(first_names["male"]) >= 60 and len(first_names["female"]) >= 60 and len(vocabulary.surnames) >= 60
    )
    assert not first_names["male"] & first_names["female"]
    phrases = (
        [t.text for t in vocabulary.templates]
        + [p for f in FAMILIES for p in family_cue_phrases(f)]
        + [p for o in OCCUPATIONS for p in occupation_cue_phrases(o)]
    )
    phrases += list(vocabulary.cities + vocabulary.schools + vocabulary.hobbies)
    vocabulary_words = {w for phrase in phrases for w in tokens(re.sub(r"\{\w+\}", " ", phrase))}
    names = first_names["male"] | first_names["female"] | {s.lower() for s in vocabulary.surnames}
    assert not vocabulary_words & names
    assert not vocabulary_words & (MALE_WORDS | FEMALE_WORDS)


# ----------------------------------------------------------------------------------------- cues


def test_ambiguity_zero_every_bio_has_its_occupation_cue():
    bios = generate_bios(1600, seed=11, ambiguity=0.0)
    assert all(bios.has_occupation_cue)
    for text, label in zip(bios.texts, bios.labels, strict=True):
        own = occupation_cue_phrases(bios.label_names[label])
        assert any(contains_phrase(text, phrase) for phrase in own), text


def test_ambiguity_one_no_bio_has_any_occupation_cue():
    bios = generate_bios(3200, seed=11, ambiguity=1.0)
    assert not any(bios.has_occupation_cue)
    every_cue = [phrase for occupation in OCCUPATIONS for phrase in occupation_cue_phrases(occupation)]
    for text in bios.texts:
        found = [phrase for phrase in every_cue if contains_phrase(text, phrase)]
        assert not found, f"{found} in {text!r}"


def test_every_bio_carries_its_family_cue(large_sample):
    family_of = {o: f for f, members in FAMILIES.items() for o in members}
    for text, label in zip(large_sample.texts, large_sample.labels, strict=True):
        family = family_of[large_sample.label_names[label]]
        assert any(contains_phrase(text, phrase) for phrase in family_cue_phrases(family)), text


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_without_cue_both_occupations_of_a_family_use_the_same_family_phrases(family):
    first, second = FAMILIES[family]
    bios = generate_bios(2000, seed=13, ambiguity=1.0, occupations=[first, second], female_rate=0.5)
    used = {0: set(), 1: set()}
    for text, label in zip(bios.texts, bios.labels, strict=True):
        used[label] |= {phrase for phrase in family_cue_phrases(family) if contains_phrase(text, phrase)}
    assert used[0] == used[1]
    assert len(used[0]) >= len(family_cue_phrases(family)) - 1  # nearly every phrase shows up


def non_gender_document_frequency(bios, label: int, gender_words: set[str]) -> dict[str, float]:
    texts = [t for t, y in zip(bios.texts, bios.labels, strict=True) if y == label]
    counts = Counter(w for text in texts for w in set(tokens(text)) - gender_words)
    return {word: count / len(texts) for word, count in counts.items()}


def largest_frequency_difference(bios, gender_words: set[str]) -> float:
    first = non_gender_document_frequency(bios, 0, gender_words)
    second = non_gender_document_frequency(bios, 1, gender_words)
    return max(abs(first.get(w, 0.0) - second.get(w, 0.0)) for w in first.keys() | second.keys())


def test_without_cue_only_gender_tells_nurse_from_surgeon(first_names):
    """Bag of non-gender words: same distribution for nurse and surgeon once the occupation cue is gone."""
    gender_words = MALE_WORDS | FEMALE_WORDS | first_names["male"] | first_names["female"]
    ambiguous = generate_bios(6000, seed=17, ambiguity=1.0, occupations=["nurse", "surgeon"])
    assert largest_frequency_difference(ambiguous, gender_words) < 0.05
    # the same measurement separates them when the cue is there, so the check has power
    cued = generate_bios(6000, seed=17, ambiguity=0.0, occupations=["nurse", "surgeon"])
    assert largest_frequency_difference(cued, gender_words) > 0.3
    # and with stereotypical rates the gender words themselves do differ
    gender_frequency = non_gender_document_frequency(ambiguous, 0, set()).get("she", 0.0)
    assert gender_frequency > non_gender_document_frequency(ambiguous, 1, set()).get("she", 0.0) + 0.3


# ----------------------------------------------------------------------------------------- dataset


def test_to_dataset_has_the_contract_columns():
    bios = generate_bios(64, seed=0, occupations=["teacher", "professor"])
    table = bios.to_dataset()
    assert table.column_names == ["text", "label", "group", "has_occupation_cue"]
    assert table.features["label"].names == ["teacher", "professor"]
    assert table.features["group"].names == list(GROUP_NAMES)
    assert table["text"] == bios.texts and table["label"] == bios.labels and table["group"] == bios.groups
    assert table["has_occupation_cue"] == bios.has_occupation_cue


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"female_rate": 1.2}, r"female_rate=1\.2.*\[0, 1\]"),
        ({"female_rate": -0.1}, r"female_rate=-0\.1"),
        ({"female_rate": True}, "female_rate=True"),
        ({"female_rate": "skewed"}, "unknown preset.*balanced.*stereotypical"),
        ({"female_rate": {**STEREOTYPICAL_FEMALE_RATE, "nurse": 1.5}}, r"female_rate\['nurse'\]=1\.5"),
        ({"female_rate": {"nurse": 0.5}}, r"no rate for \['surgeon'"),
        (
            {"female_rate": {**STEREOTYPICAL_FEMALE_RATE, "astronaut": 0.5}},
            "unknown occupations.*astronaut.*nurse",
        ),
        (
            {"occupations": ["nurse", "astronaut"]},
            r"unknown occupations \['astronaut'\]; valid occupations are.*chef",
        ),
        ({"occupations": "nurse"}, r"list of occupation names, e\.g\. \['nurse'\]"),
        ({"occupations": []}, "occupations is empty"),
        ({"occupations": ["nurse", "nurse"]}, "more than once"),
        ({"ambiguity": 1.5}, r"ambiguity=1\.5.*\[0, 1\]"),
        ({"ambiguity": -0.2}, r"ambiguity=-0\.2"),
        ({"occupation_weights": {"nurse": 1.0}}, r"no weight for \['surgeon'"),
        ({"occupation_weights": dict.fromkeys(OCCUPATIONS, 0.0)}, "positive finite number"),
        (
            {"occupation_weights": {**dict.fromkeys(OCCUPATIONS, 1.0), "pilot": 1.0}},
            "unknown occupations.*pilot",
        ),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_bad_arguments_raise_actionable_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_bios(100, **kwargs)


@pytest.mark.parametrize("num_examples", [0, 15, 2.5])
def test_too_few_examples_for_the_occupations(num_examples):
    with pytest.raises(
        ValueError, match=r"num_examples=.*at least 16.*raise num_examples or pass fewer occupations"
    ):
        generate_bios(num_examples)


def test_weights_that_starve_an_occupation_are_rejected():
    weights = {**dict.fromkeys(OCCUPATIONS, 100.0), "chef": 0.01}
    with pytest.raises(ValueError, match="leave 'chef' with no bio"):
        generate_bios(100, occupation_weights=weights)


def test_unknown_family_and_occupation_in_cue_lookups():
    with pytest.raises(ValueError, match="family 'sports' is unknown"):
        family_cue_phrases("sports")
    with pytest.raises(ValueError, match="astronaut"):
        occupation_cue_phrases("astronaut")
