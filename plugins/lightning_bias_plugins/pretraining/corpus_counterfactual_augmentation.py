"""Counterfactual data augmentation (CDA) of the masked-LM pre-training corpus, on the shared counterfactual engine.

Modes (``mode``):

- ``two_sided_filtered`` (bias-bench, Meade et al. 2022): keep only the lines with at least one
  attribute word, each followed by its swapped copy; lines without one are dropped;
- ``two_sided``: keep every line; each line with an attribute word is followed by its swapped copy;
- ``substitution``: no new lines; each line with an attribute word is replaced by its swapped copy
  with probability ``probability`` (seeded per block of 1,000 lines by ``[seed, first line index]``,
  the same draw on every run and rank).

Layout (``separate_copies``, on by default): packed into 128-token blocks in input order, a copy would
sit right after its original in the same block, and the masked LM could fill a masked word by
copying its counterpart from a few tokens back instead of learning anything. So the output of the
two-sided modes is laid out as the originals (and the lines without attribute words) in a seeded
random order, then the copies in the same order as their originals. Between an original and its
copy there are then at least ``S - 1`` other lines (``S``: the number of copies), each at least one
token and a separator, so no packed block holds both once ``S - 1 >= block_size / 2``, and a
line-by-line corpus never does. The pre-training sampler shuffles the blocks, so the order of the
halves does not reach training.

``copies: identical`` makes the same corpus with each copy equal to its original (no swap): the
size-matched control of a CDA run, with the same lines, filter and layout
(``dapt.size_matched_cda`` uses it).

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
CopyKind = Literal["swapped", "identical"]
COPY_KINDS = ("swapped", "identical")
_BATCH = 1000
_LAYOUT_STREAM = 1  # the layout's random stream: [seed, 1] (substitution draws use [seed, first line index])


def separated_order(sources: np.ndarray, is_copy: np.ndarray, seed: int) -> np.ndarray:
    """Row order that keeps copies away from their originals (module docstring): the non-copy rows in a
    seeded random order, then the copies in the order of their originals. ``sources`` is each row's input
    line, ``is_copy`` marks the copies."""
    originals = np.flatnonzero(~is_copy)
    shuffled = np.random.default_rng([seed, _LAYOUT_STREAM]).permutation(originals)
    rank = np.zeros(int(sources.max()) + 1 if len(sources) else 0, dtype=np.int64)
    rank[sources[shuffled]] = np.arange(len(shuffled))
    copies = np.flatnonzero(is_copy)
    copies = copies[np.argsort(rank[sources[copies]], kind="stable")]
    return np.concatenate([shuffled, copies])


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
        seed: seeds the race/religion counterpart choice, the substitution draws and the layout.
        separate_copies: lay the two-sided output out so that no packed block holds a line and its copy
            (module docstring); off keeps each copy right after its original.
        copies: ``"swapped"`` (CDA) or ``"identical"`` (the size-matched control: the same lines, copies unswapped).
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
        separate_copies: bool = True,
        copies: CopyKind = "swapped",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"corpus_cda.mode must be one of {MODES}, got {mode!r}")
        if copies not in COPY_KINDS:
            raise ValueError(f"corpus_cda.copies must be one of {COPY_KINDS}, got {copies!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"corpus_cda.probability must be in [0, 1], got {probability}")
        self.attribute = attribute
        self.mode = mode
        self.probability = probability
        self.include_names = include_names
        self.term_files = list(term_files) if term_files is not None else None
        self.name_files = list(name_files) if name_files is not None else None
        self.seed = seed
        self.separate_copies = separate_copies
        self.copies = copies
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
        rows = augment(batch["text"], self._rewrite, self.mode, draws=draws, probability=self.probability)
        self.words_swapped += rows.words_found
        self.lines_with_attribute += rows.rows_with_words
        if self.mode == "substitution":
            self.lines_substituted += rows.rows_rewritten
        first = indices[0] if indices else 0
        return {"text": rows.texts, "source": [first + s for s in rows.sources], "is_copy": list(rows.rewritten)}

    def _rewrite(self, text: str) -> tuple[str, int]:
        """The swapped text and the attribute words found; with ``copies: identical`` the text unchanged."""
        swapped, count = self.swapper.swap_with_count(text)
        return (swapped if self.copies == "swapped" else text), count

    def _fingerprint(self, table: datasets.Dataset) -> str:
        """A cache key of the output: the input's fingerprint, the settings and the swapper's word mapping.

        The mapping is hashed as text rather than through ``datasets``' hasher of the swapper object
        (slow, and not stable across processes for the compiled pattern).
        """
        mapping = repr((sorted(self.swapper.counterparts.items()), sorted(self.swapper.names)))
        settings = f"{table._fingerprint}|{self.mode}|{self.probability}|{self.seed}|{_BATCH}|{self.copies}|{mapping}"
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
        if self.separate_copies and self.mode != "substitution" and len(result):
            columns = result.select_columns(["source", "is_copy"]).with_format("numpy")[:]
            result = result.select(separated_order(columns["source"], columns["is_copy"], self.seed))
        result = result.select_columns(["text"])
        if len(result) == 0:
            raise ValueError(
                f"corpus CDA ({self.mode}): none of the {self.lines_in} corpus lines contains a {self.attribute} "
                f"attribute word ({self.words_swapped} words swapped; the swapper knows {len(self.swapper.vocabulary)} "
                f"words), so nothing would remain to train on. Use mode two_sided or substitution, or a corpus that "
                f"mentions the attribute"
            )
        return result
