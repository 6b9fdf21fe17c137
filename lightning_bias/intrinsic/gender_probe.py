"""A linear probe of gender from occupation-word contexts, and its occupation-gender alignment (head-free).

Contexts are the occupation templates (``templates.OCCUPATION_TEMPLATES``) with a gendered subject
("She works as a nurse.", "My brother works as a nurse.", a first name of the synthetic bios...).
The feature of a context is the encoder's last hidden state averaged over the *occupation word's*
tokens (``encoder_states.span_embeddings``), so the probe reads how much of the subject's gender the
occupation's representation carries. Two readings:

- ``accuracy``: a logistic-regression probe (standardised features, L2) trained on some occupations
  and tested on the others (``folds`` folds over occupations, seeded), so it must find a gender
  direction that generalises to unseen occupations; ``accuracy_ci95`` is a percentile bootstrap
  that resamples occupations (contexts of one occupation are not independent). High accuracy means
  gender is linearly decodable there; it is not by itself a bias.
- ``alignment``: a probe fitted to all gendered contexts scores the occupation in *gender-neutral*
  contexts ("The person works as a nurse."); each occupation's mean score (positive: read as male)
  is correlated with its share of men (the synthetic bios' approximate US shares,
  ``data.synthetic_bios.STEREOTYPICAL_FEMALE_RATE``): a positive Pearson r means the encoder places
  male-dominated occupations on the male side of its own gender direction. r has a permutation
  p-value and a Fisher-z 95% interval over the occupations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE, bios_vocabulary
from lightning_bias.intrinsic.encoder_states import span_embeddings
from lightning_bias.intrinsic.log_probability_bias import stereotype_alignment
from lightning_bias.intrinsic.templates import (
    OCCUPATION_TEMPLATES,
    check_templates,
    default_occupations,
    render,
)

MALE_SUBJECTS: tuple[str, ...] = ("he", "the man", "my father", "my brother", "my uncle")
FEMALE_SUBJECTS: tuple[str, ...] = ("she", "the woman", "my mother", "my sister", "my aunt")
NEUTRAL_SUBJECTS: tuple[str, ...] = ("the person", "someone", "my neighbour")
NAMES_PER_GENDER = 5
"""Besides the phrases above, the first ``NAMES_PER_GENDER`` male and female first names of the synthetic bios."""

L2_PENALTY = 1e-2


def gendered_subjects() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(male, female) subjects: the pronoun and kinship phrases, then first names of the synthetic bios."""
    names = bios_vocabulary().first_names
    return (MALE_SUBJECTS + tuple(names["male"][:NAMES_PER_GENDER]),
            FEMALE_SUBJECTS + tuple(names["female"][:NAMES_PER_GENDER]))


def _contexts(templates: Sequence[str], occupations: Sequence[str], subjects: Sequence[str]) -> tuple[list, list, list]:
    """Texts, occupation spans and occupations of every (template, occupation, subject)."""
    texts, spans, owners = [], [], []
    for template in templates:
        for occupation in occupations:
            for subject in subjects:
                text, _, span = render(template, subject, occupation)
                texts.append(text)
                spans.append(span)
                owners.append(occupation)
    return texts, spans, owners


def fit_linear_probe(features: np.ndarray, labels: np.ndarray, penalty: float = L2_PENALTY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2-regularised logistic regression on standardised features (full-batch L-BFGS, float64, deterministic).

    Returns ``(mean, scale, weights)``: a context's score is ``((x - mean) / scale) @ weights[:-1] + weights[-1]``,
    positive for label 1.
    """
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    inputs = torch.from_numpy((features - mean) / scale)
    targets = torch.from_numpy(labels.astype(np.float64))
    weights = torch.zeros(inputs.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = inputs @ weights[:-1] + weights[-1]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets) + penalty * weights[:-1].square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return mean, scale, weights.detach().numpy()


def _scores(features: np.ndarray, probe: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    mean, scale, weights = probe
    return ((features - mean) / scale) @ weights[:-1] + weights[-1]


def _fisher_interval(r: float, n: int) -> list[float] | None:
    if n < 4 or abs(r) >= 1:
        return None
    half = NormalDist().inv_cdf(0.975) / math.sqrt(n - 3)
    return [math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)]


def gender_probe(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    occupations: Sequence[str] | None = None,
    templates: Sequence[str] | None = None,
    folds: int = 4,
    batch_size: int = 64,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The probe's held-out accuracy and occupation-gender alignment (module docstring).

    Returns ``{"accuracy", "accuracy_ci95", "contexts" (held-out predictions), "occupations", "folds",
    "alignment": {"pearson_r", "pearson_r_ci95", "p_value", "occupations"} or None, "per_occupation":
    {occupation: mean neutral-context score}, "neutral_contexts"}``.
    """
    occupations = list(occupations) if occupations is not None else list(default_occupations())
    templates = list(templates) if templates is not None else list(OCCUPATION_TEMPLATES)
    check_templates(templates)
    if not 2 <= folds <= len(occupations):
        raise ValueError(f"gender_probe.folds must be between 2 and the number of occupations ({len(occupations)}), got {folds}")
    male, female = gendered_subjects()
    texts, spans, owners = _contexts(templates, occupations, male + female)
    labels = np.array([1 if i % (len(male) + len(female)) < len(male) else 0 for i in range(len(texts))])
    features = span_embeddings(model, tokenizer, texts, spans, batch_size)
    owner_index = np.array([occupations.index(o) for o in owners])

    generator = np.random.default_rng(seed)
    fold_of = np.empty(len(occupations), dtype=int)
    fold_of[generator.permutation(len(occupations))] = np.arange(len(occupations)) % folds
    correct = np.zeros(len(texts), dtype=bool)
    for fold in range(folds):
        test = fold_of[owner_index] == fold
        probe = fit_linear_probe(features[~test], labels[~test])
        correct[test] = (_scores(features[test], probe) > 0) == (labels[test] == 1)
    hits = np.bincount(owner_index, weights=correct, minlength=len(occupations))
    totals = np.bincount(owner_index, minlength=len(occupations))
    picks = generator.integers(0, len(occupations), size=(resamples, len(occupations)))
    low, high = np.quantile(hits[picks].sum(axis=1) / totals[picks].sum(axis=1), [0.025, 0.975])

    probe = fit_linear_probe(features, labels)
    neutral_texts, neutral_spans, neutral_owners = _contexts(templates, occupations, NEUTRAL_SUBJECTS)
    neutral = _scores(span_embeddings(model, tokenizer, neutral_texts, neutral_spans, batch_size), probe)
    per_occupation = {o: float(neutral[[w == o for w in neutral_owners]].mean()) for o in occupations}
    alignment = stereotype_alignment(per_occupation, STEREOTYPICAL_FEMALE_RATE, seed=seed)
    if alignment is not None:
        alignment["pearson_r_ci95"] = _fisher_interval(alignment["pearson_r"], alignment["occupations"])
    return {
        "accuracy": float(correct.mean()),
        "accuracy_ci95": [float(low), float(high)],
        "contexts": len(texts),
        "occupations": len(occupations),
        "folds": folds,
        "alignment": alignment,
        "per_occupation": per_occupation,
        "neutral_contexts": len(neutral_texts),
    }
