"""The SEAT-style association test: Cohen's d by hand, a planted association found (and reversed), seeding, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL_CONFIG
from planted_encoder import planted_encoder
from transformers import AutoModelForMaskedLM

from lightning_bias.intrinsic.association_test import association_test, association_tests, effect_size
from lightning_bias.intrinsic.association_words import (
    ASSOCIATION_FRAMES,
    CAREER_WORDS,
    FEMALE_TERMS,
    HOME_WORDS,
    MALE_TERMS,
    AssociationTest,
    default_association_tests,
    skewed_occupations,
)
from lightning_bias.intrinsic.encoder_states import sentence_embeddings
from lightning_bias.models.pretrained import build_config, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


GENDER_CAREER = AssociationTest("planted", MALE_TERMS, FEMALE_TERMS, CAREER_WORDS, HOME_WORDS)
# the tokens of the four sets that only one set uses ("the", "his", "her", "a" are shared and stay neutral)
MALE_ONLY = ["man", "boy", "father", "son", "brother", "husband", "uncle", "gentleman", "grandfather", "nephew"]
FEMALE_ONLY = ["woman", "girl", "mother", "daughter", "sister", "wife", "aunt", "lady", "grandmother", "niece"]
CAREER_ONLY = ["salary", "office", "promotion", "business meeting", "contract", "clients", "deadline", "manager",
               "profession", "company budget"]
HOME_ONLY = ["home", "children", "wedding", "relatives", "household", "marriage", "family dinner", "nursery",
             "cousins", "birthday party"]


def _plant(x_sign: float) -> dict[str, float]:
    return {**dict.fromkeys(MALE_ONLY, x_sign), **dict.fromkeys(FEMALE_ONLY, -x_sign),
            **dict.fromkeys(CAREER_ONLY, 1.0), **dict.fromkeys(HOME_ONLY, -1.0)}


def test_effect_size_is_cohens_d_of_the_cosine_associations():
    generator = np.random.default_rng(0)
    x, y, a, b = (generator.normal(size=(n, 5)) for n in (4, 3, 6, 5))
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x, y, a, b)]

    def cos(u, v):
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    def s(w):
        return np.mean([cos(w, ai) for ai in a]) - np.mean([cos(w, bi) for bi in b])

    s_x, s_y = [s(w) for w in x], [s(w) for w in y]
    expected = (np.mean(s_x) - np.mean(s_y)) / np.std(s_x + s_y, ddof=1)
    assert effect_size(*unit) == pytest.approx(expected, rel=1e-12)


def test_association_test_reads_the_sentence_embeddings_of_every_word_in_every_frame(tokenizer):
    model = planted_encoder(tokenizer, _plant(1.0))
    result = association_test(model, tokenizer, GENDER_CAREER, permutations=200, resamples=50)
    sets = [MALE_TERMS, FEMALE_TERMS, CAREER_WORDS, HOME_WORDS]
    embedded = []
    for words in sets:
        values = sentence_embeddings(model, tokenizer, [f.replace("{word}", w) for w in words for f in ASSOCIATION_FRAMES])
        embedded.append(values / np.linalg.norm(values, axis=1, keepdims=True))
    assert result["effect_size"] == pytest.approx(effect_size(*embedded), rel=1e-9)
    assert result["sentences"] == 40 * len(ASSOCIATION_FRAMES) and result["frames"] == len(ASSOCIATION_FRAMES)
    assert (result["targets"], result["attributes"]) == ([10, 10], [10, 10])


def test_a_planted_association_is_found_and_its_reverse_too(tokenizer):
    model = planted_encoder(tokenizer, _plant(1.0))
    found = association_test(model, tokenizer, GENDER_CAREER, permutations=2000, resamples=300)
    assert found["effect_size"] > 1.5 and found["effect_size_ci95"][0] > 1.0
    assert found["p_value"] < 0.002 and found["p_value_two_sided"] < 0.005  # floor: 1 / 2001
    reversed_model = planted_encoder(tokenizer, _plant(-1.0))
    reverse = association_test(reversed_model, tokenizer, GENDER_CAREER, permutations=2000, resamples=300)
    assert reverse["effect_size"] < -1.5 and reverse["p_value"] > 0.99 and reverse["p_value_two_sided"] < 0.005
    neutral_model = planted_encoder(tokenizer, {**dict.fromkeys(CAREER_ONLY, 1.0), **dict.fromkeys(HOME_ONLY, -1.0)})
    neutral = association_test(neutral_model, tokenizer, GENDER_CAREER, permutations=2000, resamples=300)
    # no gender planted: what is left is the random embeddings' chance association, not significant here
    assert neutral["p_value_two_sided"] > 0.05 and abs(neutral["effect_size"]) < found["effect_size"] / 2


def test_the_built_in_tests_run_on_a_tiny_random_model_and_are_seeded(tokenizer):
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(build_config(dict(TINY_MODEL_CONFIG))).eval()
    first = association_tests(model, tokenizer, seed=1)
    assert list(first) == [t.name for t in default_association_tests()]
    assert first == association_tests(model, tokenizer, seed=1)
    assert first != association_tests(model, tokenizer, seed=2)  # other permutations and resamples
    for result in first.values():
        assert 0 < result["p_value"] <= 1 and result["effect_size_ci95"][0] <= result["effect_size_ci95"][1]
    male_jobs, female_jobs = skewed_occupations()
    assert "surgeon" in male_jobs and "nurse" in female_jobs and not set(male_jobs) & set(female_jobs)


def test_association_test_input_errors(tokenizer):
    model = planted_encoder(tokenizer, {})
    with pytest.raises(ValueError, match=r"frame 0 'This is it\.' must contain exactly one \{word\}"):
        association_test(model, tokenizer, GENDER_CAREER, frames=["This is it."])
    with pytest.raises(ValueError, match="targets_y has 1 word"):
        association_test(model, tokenizer, AssociationTest("small", MALE_TERMS, ("the woman",), CAREER_WORDS, HOME_WORDS))
    with pytest.raises(ValueError, match="list of association frames is empty"):
        association_test(model, tokenizer, GENDER_CAREER, frames=[])
