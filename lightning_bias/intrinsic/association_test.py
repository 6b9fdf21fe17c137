"""A SEAT-style association test on sentence embeddings (Caliskan et al. 2017; May et al. 2019), head-free.

Every word of the four sets of an ``AssociationTest`` is put in every frame of
``ASSOCIATION_FRAMES`` and embedded (``encoder_states.sentence_embeddings``). With cosine
similarity ``cos``, a target sentence ``t`` has the association

    s(t) = mean over attribute sentences a in A of cos(t, a) - mean over b in B of cos(t, b),

and the effect size is ``d = (mean s over X sentences - mean s over Y sentences) / sd of s over all
target sentences`` (sample sd), Cohen's d as in the two papers: positive when X leans to A and Y
to B. Two choices differ from the original tests and are deliberate:

- the permutation p-value permutes *target words*, each with all its sentences, between X and Y
  (the sentences of one word are not independent, so permuting sentences would overstate
  significance); ``p_value`` is one-sided in the tested direction (d > 0), ``p_value_two_sided``
  counts |statistic|; ``permutations`` random partitions, seeded;
- ``effect_size_ci95`` is a percentile bootstrap that resamples the words of each of the four sets
  and the frames (both are samples: of the words for a concept and of the ways to say a sentence),
  recomputing the attribute means and d from the chosen sentences each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.intrinsic.association_words import (
    ASSOCIATION_FRAMES,
    AssociationTest,
    default_association_tests,
)
from lightning_bias.intrinsic.encoder_states import sentence_embeddings


def _check_test(test: AssociationTest, frames: Sequence[str]) -> None:
    if not frames:
        raise ValueError("the list of association frames is empty; give at least one frame with a {word} slot")
    for i, frame in enumerate(frames):
        if frame.count("{word}") != 1 or frame.replace("{word}", "").count("{") or frame.replace("{word}", "").count("}"):
            raise ValueError(f"association frame {i} {frame!r} must contain exactly one {{word}} and no other slot")
    for label, words in (("targets_x", test.targets_x), ("targets_y", test.targets_y),
                         ("attributes_a", test.attributes_a), ("attributes_b", test.attributes_b)):
        if len(words) < 2:
            raise ValueError(f"association test {test.name!r}: {label} has {len(words)} word(s); give at least 2")


def _unit_rows(values: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    return values / np.where(norms == 0, 1.0, norms)


def effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d of the association (module docstring) from unit-length sentence embeddings ``[sentences, hidden]``."""
    direction = a.mean(axis=0) - b.mean(axis=0)
    s_x, s_y = x @ direction, y @ direction
    spread = np.concatenate([s_x, s_y]).std(ddof=1)
    return float((s_x.mean() - s_y.mean()) / spread) if spread > 0 else 0.0


def association_test(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    test: AssociationTest,
    frames: Sequence[str] = ASSOCIATION_FRAMES,
    batch_size: int = 64,
    permutations: int = 10000,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run one association test on ``model``'s sentence embeddings.

    Returns ``{"effect_size", "effect_size_ci95", "p_value" (one-sided, d > 0), "p_value_two_sided",
    "permutations", "targets": [|X|, |Y|], "attributes": [|A|, |B|], "frames", "sentences"}``.
    """
    _check_test(test, frames)
    sets = (test.targets_x, test.targets_y, test.attributes_a, test.attributes_b)
    texts = [frame.replace("{word}", word) for words in sets for word in words for frame in frames]
    embedded = _unit_rows(sentence_embeddings(model, tokenizer, texts, batch_size))
    blocks, start = [], 0
    for words in sets:  # each set as [words, frames, hidden]
        blocks.append(embedded[start : start + len(words) * len(frames)].reshape(len(words), len(frames), -1))
        start += len(words) * len(frames)
    x, y, a, b = blocks
    flat = [block.reshape(-1, block.shape[-1]) for block in blocks]
    observed = effect_size(*flat)

    direction = a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))
    per_word = np.concatenate([(x @ direction).mean(axis=1), (y @ direction).mean(axis=1)])
    generator = np.random.default_rng(seed)
    shuffled = generator.permuted(np.tile(per_word, (permutations, 1)), axis=1)
    n_x = len(test.targets_x)
    statistic = per_word[:n_x].mean() - per_word[n_x:].mean()
    null = shuffled[:, :n_x].mean(axis=1) - shuffled[:, n_x:].mean(axis=1)
    p_one = float((np.sum(null >= statistic) + 1) / (permutations + 1))
    p_two = float((np.sum(np.abs(null) >= abs(statistic)) + 1) / (permutations + 1))

    draws = np.empty(resamples)
    for r in range(resamples):
        frame_picks = generator.integers(0, len(frames), size=len(frames))
        chosen = [block[generator.integers(0, len(block), size=len(block))][:, frame_picks] for block in blocks]
        draws[r] = effect_size(*(block.reshape(-1, block.shape[-1]) for block in chosen))
    low, high = np.quantile(draws, [0.025, 0.975])
    return {
        "effect_size": observed,
        "effect_size_ci95": [float(low), float(high)],
        "p_value": p_one,
        "p_value_two_sided": p_two,
        "permutations": permutations,
        "targets": [len(test.targets_x), len(test.targets_y)],
        "attributes": [len(test.attributes_a), len(test.attributes_b)],
        "frames": len(frames),
        "sentences": len(texts),
    }


def association_tests(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    tests: Sequence[AssociationTest] | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Every test of ``tests`` (default: ``default_association_tests()``) by name, each seeded with ``seed``."""
    chosen = tuple(tests) if tests is not None else default_association_tests()
    return {test.name: association_test(model, tokenizer, test, batch_size=batch_size, seed=seed) for test in chosen}
