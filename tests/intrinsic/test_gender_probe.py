"""The gender probe: the logistic probe itself, a planted gender direction and occupation alignment found, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL_CONFIG
from planted_encoder import planted_encoder
from transformers import AutoModelForMaskedLM

from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE
from lightning_bias.intrinsic.gender_probe import fit_linear_probe, gender_probe, gendered_subjects
from lightning_bias.models.pretrained import build_config, load_tokenizer

TEMPLATES = ["{target} is {article} {occupation}.", "{target} works as {article} {occupation}.",
             "As {article} {occupation}, {target} is busy most days."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _plant(tokenizer, occupation_sign: float):
    """Gendered subjects at +/-10 on one direction (they reach the occupation token diluted by the sentence
    length, and must outweigh the occupations' own spread); each occupation on it by its share of men."""
    male, female = gendered_subjects()
    shared = {"my", "the"}
    plant = {w: 10.0 for s in male for w in s.split() if w not in shared}
    plant.update({w: -10.0 for s in female for w in s.split() if w not in shared})
    plant.update({o: occupation_sign * (0.5 - share) for o, share in STEREOTYPICAL_FEMALE_RATE.items()})
    return planted_encoder(tokenizer, plant)


def test_fit_linear_probe_separates_separable_data_deterministically():
    generator = np.random.default_rng(0)
    features = generator.normal(size=(200, 6))
    labels = (features[:, 2] - 0.5 * features[:, 4] > 0).astype(int)
    mean, scale, weights = fit_linear_probe(features, labels)
    scores = ((features - mean) / scale) @ weights[:-1] + weights[-1]
    assert np.mean((scores > 0) == (labels == 1)) > 0.95
    assert np.argmax(np.abs(weights[:-1])) == 2
    again = fit_linear_probe(features, labels)
    assert np.array_equal(again[2], weights)


def test_a_planted_gender_direction_and_its_occupation_alignment_are_found(tokenizer):
    result = gender_probe(_plant(tokenizer, 1.0), tokenizer, templates=TEMPLATES, resamples=200)
    male, female = gendered_subjects()
    assert result["contexts"] == len(TEMPLATES) * 16 * (len(male) + len(female))
    assert result["accuracy"] > 0.95 and result["accuracy_ci95"][0] > 0.9
    alignment = result["alignment"]
    assert alignment["pearson_r"] > 0.6 and alignment["p_value"] < 0.01 and alignment["occupations"] == 16
    assert alignment["pearson_r_ci95"][0] > 0.2
    assert result["per_occupation"]["surgeon"] > result["per_occupation"]["nurse"]
    reverse = gender_probe(_plant(tokenizer, -1.0), tokenizer, templates=TEMPLATES, resamples=200)
    assert reverse["alignment"]["pearson_r"] < -0.6
    neutral = gender_probe(_plant(tokenizer, 0.0), tokenizer, templates=TEMPLATES, resamples=200)
    assert neutral["accuracy"] > 0.95 and abs(neutral["alignment"]["pearson_r"]) < 0.5


def test_gender_probe_on_a_tiny_random_model_is_seeded(tokenizer):
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(build_config(dict(TINY_MODEL_CONFIG), initializer_range=1.0)).eval()
    first = gender_probe(model, tokenizer, templates=TEMPLATES, seed=4)
    assert first == gender_probe(model, tokenizer, templates=TEMPLATES, seed=4)
    low, high = first["accuracy_ci95"]
    assert 0 <= low <= first["accuracy"] <= high <= 1 and first["folds"] == 4
    assert set(first["per_occupation"]) == set(STEREOTYPICAL_FEMALE_RATE)


def test_gender_probe_input_errors(tokenizer):
    model = planted_encoder(tokenizer, {})
    with pytest.raises(ValueError, match="folds must be between 2 and the number of occupations .3."):
        gender_probe(model, tokenizer, occupations=["nurse", "chef", "surgeon"], folds=4)
    with pytest.raises(ValueError, match="must contain both"):
        gender_probe(model, tokenizer, templates=["{occupation} only."])
