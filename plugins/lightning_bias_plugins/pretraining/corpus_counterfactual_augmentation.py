"""Counterfactual data augmentation (CDA) of the masked-LM pre-training corpus, on the shared counterfactual engine.

Modes (``mode``):

- ``two_sided_filtered`` (bias-bench, Meade et al. 2022): keep only the lines with at least one
  attribute word, each followed by its swapped copy; lines without one are dropped;
- ``two_sided``: keep every line; each line with an attribute word is followed by its swapped copy;
- ``substitution``: no new lines; each line with an attribute word is replaced by its swapped copy
  with probability ``probability`` (seeded per block of 1,000 lines by ``[seed, first line index]``,
  the same draw on every run and rank).

Swapping is whole-word and case-preserving ("He" -> "She"). The words come from the built-in lists
of ``attribute`` (with first names when ``include_names``) or from the user's ``term_files`` and
``name_files``, as for the fine-tuning plugins
(:meth:`lightning_bias.counterfactual.AttributeSwapper.from_options`); the rows come from
:func:`lightning_bias.counterfactual.augment`. The counts of the last run (lines in/out, lines with
attribute words, words found in them, lines substituted) are kept as attributes and land in the
pre-training report.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import datasets
import numpy as np

from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.mitigation import Mitigation, Split

CdaMode = Literal["two_sided_filtered", "two_sided", "substitution"]
MODES = ("two_sided_filtered", "two_sided", "substitution")
_BATCH = 1000


class CorpusCounterfactualAugmentation(Mitigation):
    """Corpus CDA for pre-training: two-sided filtered (bias-bench), two-sided, or in-place substitution.

    Args:
        attribute: built-in word lists ``"gender"`` (default), ``"race"`` or ``"religion"``; with
            ``term_files``, just a label for messages.
        mode: ``"two_sided_filtered"`` (default), ``"two_sided"`` or ``"substitution"`` (module docstring).
        probability: for ``substitution``, the chance that a line with attribute words is swapped in place.
        include_names: with the built-in gender lists, swap first names too.
        term_files, name_files: your own word-list files instead of the built-in ones (as for
            ``counterfactual_augmentation``).
        seed: seeds the race/religion counterpart choice and the substitution draws.
    """

    stage = "upstream"

    def __init__(
        self,
        attribute: str = "gender",
        mode: CdaMode = "two_sided_filtered",
        probability: float = 0.5,
        include_names: bool = True,
        term_files: list[str] | None = None,
        name_files: list[str] | None = None,
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
        self.term_files = list(term_files) if term_files is not None else None
        self.name_files = list(name_files) if name_files is not None else None
        self.seed = seed
        self.swapper = AttributeSwapper.from_options(attribute, include_names, term_files, name_files, seed)
        self.lines_in = 0
        self.lines_with_attribute = 0
        self.words_swapped = 0
        self.lines_substituted = 0
        self.lines_out = 0

    def _augment(self, batch: dict[str, list], indices: list[int]) -> dict[str, list[Any]]:
        draws = None
        if self.mode == "substitution":
            draws = np.random.default_rng([self.seed, indices[0] if indices else 0]).random(len(batch["text"]))
        rows = augment(batch["text"], self.swapper.swap_with_count, self.mode, draws=draws,
                       probability=self.probability)
        self.words_swapped += rows.words_found
        self.lines_with_attribute += rows.rows_with_words
        if self.mode == "substitution":
            self.lines_substituted += rows.rows_rewritten
        return {"text": rows.texts}

    def _fingerprint(self, table: datasets.Dataset) -> str:
        """A cache key of the output: the input's fingerprint, the settings and the swapper's word mapping.

        The mapping is hashed as text rather than through ``datasets``' hasher of the swapper object
        (slow, and not stable across processes for the compiled pattern).
        """
        mapping = repr((sorted(self.swapper.counterparts.items()), sorted(self.swapper.names)))
        settings = f"{table._fingerprint}|{self.mode}|{self.probability}|{self.seed}|{_BATCH}|{mapping}"
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
