"""Counterfactual data augmentation (CDA) of the masked-LM pre-training corpus, on the shared swap engine.

Modes (``mode``):

- ``two_sided_filtered`` (bias-bench, Meade et al. 2022): keep only the lines with at least one
  attribute word, each followed by its swapped copy; lines without one are dropped;
- ``two_sided``: keep every line; each line with an attribute word is followed by its swapped copy;
- ``substitution``: no new lines; each line with an attribute word is replaced by its swapped copy
  with probability ``probability`` (seeded, the same draw on every run and rank).

Swapping is whole-word and case-preserving ("He" -> "She"), with first names when
``include_names`` (``lightning_bias.counterfactual.AttributeSwapper.builtin``). The counts of the
last run (lines in/out, lines with attribute words, words swapped, lines substituted) are kept as
attributes and land in the pre-training report.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import datasets
import numpy as np

from lightning_bias.counterfactual import AttributeSwapper
from lightning_bias.mitigation import Mitigation, Split

CdaMode = Literal["two_sided_filtered", "two_sided", "substitution"]
MODES = ("two_sided_filtered", "two_sided", "substitution")
_BATCH = 1000


class CorpusCounterfactualAugmentation(Mitigation):
    """Corpus CDA for pre-training: two-sided filtered (bias-bench), two-sided, or in-place substitution."""

    stage = "upstream"

    def __init__(
        self,
        attribute: str = "gender",
        mode: CdaMode = "two_sided_filtered",
        probability: float = 0.5,
        include_names: bool = True,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"corpus_cda.mode must be one of {MODES}, got {mode!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"corpus_cda.probability must be in [0, 1], got {probability}")
        self.attribute = attribute
        self.mode = mode
        self.probability = probability
        self.include_names = include_names
        self.seed = seed
        self.swapper = AttributeSwapper.builtin(attribute, include_names=include_names, seed=seed)
        self.lines_in = 0
        self.lines_with_attribute = 0
        self.words_swapped = 0
        self.lines_substituted = 0
        self.lines_out = 0

    def _augment(self, batch: dict[str, list], indices: list[int]) -> dict[str, list[Any]]:
        texts = batch["text"]
        draws = np.random.default_rng([self.seed, indices[0] if indices else 0]).random(len(texts))
        output: list[str] = []
        for text, draw in zip(texts, draws, strict=True):
            swapped, count = self.swapper.swap_with_count(text)
            self.words_swapped += count
            self.lines_with_attribute += count > 0
            if self.mode == "substitution":
                substitute = count > 0 and draw < self.probability
                self.lines_substituted += substitute
                output.append(swapped if substitute else text)
            elif count > 0:
                output += [text, swapped]
            elif self.mode == "two_sided":
                output.append(text)
        return {"text": output}

    def _fingerprint(self, table: datasets.Dataset) -> str:
        """A cache key of the output from the input's and this plugin's settings (no hashing of the swapper)."""
        settings = f"{table._fingerprint}|{self.attribute}|{self.mode}|{self.probability}|{self.include_names}|{self.seed}"
        settings += f"|{len(self.swapper.vocabulary)}|{_BATCH}"
        return hashlib.sha256(settings.encode()).hexdigest()[:32]

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        if split != "train":
            return table
        self.lines_in, self.lines_with_attribute, self.words_swapped, self.lines_substituted = len(table), 0, 0, 0
        result = table.select_columns(["text"]).map(
            self._augment, batched=True, batch_size=_BATCH, with_indices=True, keep_in_memory=True,
            desc=f"corpus CDA ({self.mode})", new_fingerprint=self._fingerprint(table),
        )
        self.lines_out = len(result)
        if len(result) == 0:
            raise ValueError(
                f"corpus CDA ({self.mode}): none of the {self.lines_in} corpus lines contains a {self.attribute} "
                f"attribute word ({self.words_swapped} words swapped; the swapper knows {len(self.swapper.vocabulary)} "
                f"words), so nothing would remain to train on. Use mode two_sided or substitution, or a corpus that "
                f"mentions the attribute"
            )
        return result
