"""Log-probability bias score (Kurita et al., 2019) on occupation templates.

For a template such as "[MASK] is a nurse.":

- ``p_target(w)`` = P(w at the attribute mask | the sentence), for w in the attribute pair (he, she);
- ``p_prior(w)``  = the same probability when the occupation's tokens are masked too
  ("[MASK] is a [MASK]."), the model's baseline preference for w in that frame;
- ``score`` = log(p_target(he) / p_prior(he)) - log(p_target(she) / p_prior(she)).

A positive score means the occupation raises "he" more than "she" (male-leaning); 0 is unbiased.
The result averages over templates per occupation and over everything, with a 95% bootstrap
interval of the mean that resamples templates (the templates are a sample of the ways to say a
sentence; the occupations are the fixed set under study), so "clearly non-zero" has a test. For occupations with a known workforce share of women (the
synthetic bios' approximate US BLS shares), ``stereotype_alignment`` is the Pearson correlation
between each occupation's score and its share of men, with a permutation p-value: a model whose
scores follow the workforce shares is biased even when its mean score is near zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE
from lightning_bias.intrinsic.masked_scoring import MaskedQuery, target_log_probs
from lightning_bias.intrinsic.templates import (
    ATTRIBUTE_WORDS,
    OCCUPATION_TEMPLATES,
    check_templates,
    default_occupations,
    render,
)


@dataclass(frozen=True)
class TemplateProbe:
    """One (template, occupation): the sentence with the attribute masked, its prior, the targets."""

    template: int
    occupation: str
    sentence: MaskedQuery  # attribute masked, occupation present
    prior: MaskedQuery  # attribute and occupation masked


def _span_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Token positions whose character span overlaps [start, end) (special tokens have empty spans)."""
    return [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]


def build_probes(
    tokenizer: PreTrainedTokenizerBase,
    occupations: Sequence[str],
    templates: Sequence[str],
    attribute_words: Sequence[str],
) -> list[TemplateProbe]:
    """Tokenize every (template, occupation) into its masked sentence and its prior.

    Raises ``ValueError`` when an attribute word is not a single token of this tokenizer.
    """
    check_templates(templates)
    if len(attribute_words) != 2:
        raise ValueError(f"attribute_words must be a pair such as ['he', 'she'], got {list(attribute_words)}")
    if tokenizer.mask_token is None:
        raise ValueError("the tokenizer has no mask token; the log-probability bias needs a masked LM")
    probes = []
    for t, template in enumerate(templates):
        for occupation in occupations:
            masked_text, _, occupation_span = render(template, tokenizer.mask_token, occupation)
            encoded = tokenizer(masked_text, return_offsets_mapping=True)
            ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
            mask_positions = [i for i, token in enumerate(ids) if token == tokenizer.mask_token_id]
            if len(mask_positions) != 1:
                raise ValueError(
                    f"occupation template {template!r} with {occupation!r} gives {len(mask_positions)} mask tokens; "
                    "a template must hold exactly one {target} and no mask token of its own"
                )
            position = mask_positions[0]
            targets = []
            for word in attribute_words:
                filled, word_span, _ = render(template, word, occupation)
                filled_encoded = tokenizer(filled, return_offsets_mapping=True)
                pieces = _span_tokens(filled_encoded["offset_mapping"], *word_span)
                if pieces != [position] or len(filled_encoded["input_ids"]) != len(ids):
                    raise ValueError(
                        f"attribute word {filled[slice(*word_span)]!r} is not a single token of this tokenizer in "
                        f"{filled!r}; choose attribute words that are one token each"
                    )
                targets.append(filled_encoded["input_ids"][position])
            prior_ids = list(ids)
            for i in _span_tokens(offsets, *occupation_span):
                prior_ids[i] = tokenizer.mask_token_id
            probes.append(
                TemplateProbe(
                    template=t,
                    occupation=occupation,
                    sentence=MaskedQuery(tuple(ids), position, tuple(targets)),
                    prior=MaskedQuery(tuple(prior_ids), position, tuple(targets)),
                )
            )
    return probes


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def template_bootstrap_interval(
    scores: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``scores.mean()`` for a ``[templates, occupations]`` score matrix,
    resampling templates with replacement (seeded, so the same scores give the same interval)."""
    generator = np.random.default_rng(seed)
    per_template = scores.mean(axis=1)
    picks = generator.integers(0, len(per_template), size=(resamples, len(per_template)))
    means = per_template[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def stereotype_alignment(
    per_occupation: dict[str, float], female_share: dict[str, float], permutations: int = 10000, seed: int = 0
) -> dict[str, Any] | None:
    """Pearson r between occupation scores and the occupations' share of men, with a two-sided
    permutation p-value (seeded); ``None`` when fewer than 3 occupations have a known share."""
    known = [o for o in per_occupation if o in female_share]
    if len(known) < 3:
        return None
    scores = np.array([per_occupation[o] for o in known])
    male_share = np.array([1.0 - female_share[o] for o in known])
    if scores.std() == 0 or male_share.std() == 0:
        return None
    standard_scores = (scores - scores.mean()) / scores.std()
    standard_share = (male_share - male_share.mean()) / male_share.std()
    r = float(standard_scores @ standard_share / len(known))
    generator = np.random.default_rng(seed)
    shuffled = generator.permuted(np.tile(standard_scores, (permutations, 1)), axis=1) @ standard_share / len(known)
    p_value = float((np.sum(np.abs(shuffled) >= abs(r)) + 1) / (permutations + 1))
    return {"pearson_r": r, "p_value": p_value, "occupations": len(known)}


def log_probability_bias(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    occupations: Sequence[str] | None = None,
    templates: Sequence[str] | None = None,
    attribute_words: Sequence[str] = ATTRIBUTE_WORDS,
    batch_size: int = 64,
) -> dict[str, Any]:
    """The log-probability bias of a masked LM (module docstring), averaged over templates and occupations.

    Returns ``{"mean", "mean_ci95": [low, high] (bootstrap over templates), "mean_abs",
    "male_leaning_share", "per_occupation": {occupation: mean over templates}, "per_template": [mean
    over occupations, ...], "stereotype_alignment": {"pearson_r", "p_value", "occupations"} or None,
    "num_templates", "num_occupations", "attribute_words"}``; positive means the first attribute word
    (default "he") gains more.
    """
    occupations = list(occupations) if occupations is not None else list(default_occupations())
    templates = list(templates) if templates is not None else list(OCCUPATION_TEMPLATES)
    if not occupations:
        raise ValueError("the list of occupations is empty; give at least one occupation")
    probes = build_probes(tokenizer, occupations, templates, attribute_words)
    answers = target_log_probs(
        model, [p.sentence for p in probes] + [p.prior for p in probes], tokenizer.pad_token_id, batch_size
    )
    sentence_lp, prior_lp = answers[: len(probes)], answers[len(probes) :]
    scores = [(s[0] - p[0]) - (s[1] - p[1]) for s, p in zip(sentence_lp, prior_lp, strict=True)]
    by_probe = list(zip(scores, probes, strict=True))
    per_occupation = {o: _mean([s for s, p in by_probe if p.occupation == o]) for o in occupations}
    per_template = [_mean([s for s, p in by_probe if p.template == t]) for t in range(len(templates))]
    matrix = np.array([[s for s, p in by_probe if p.template == t] for t in range(len(templates))])
    return {
        "mean": _mean(scores),
        "mean_ci95": list(template_bootstrap_interval(matrix)),
        "mean_abs": _mean([abs(s) for s in scores]),
        "male_leaning_share": _mean([1.0 if s > 0 else 0.0 for s in scores]),
        "per_occupation": per_occupation,
        "per_template": per_template,
        "stereotype_alignment": stereotype_alignment(per_occupation, STEREOTYPICAL_FEMALE_RATE),
        "num_templates": len(templates),
        "num_occupations": len(occupations),
        "attribute_words": list(attribute_words),
    }
