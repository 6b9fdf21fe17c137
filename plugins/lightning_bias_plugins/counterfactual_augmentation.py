"""Counterfactual data augmentation (CDA) of the fine-tuning data.

Every attribute word of a text is replaced by its counterpart ("He is a nurse; his sister ..." ->
"She is a nurse; her brother ..."), and the row's ``group`` moves to the counterpart group
(``male`` <-> ``female``; for an intersectional group ``female|black`` only the swapped part
changes). Three modes:

- ``two_sided``: every train row that has an attribute word is kept and followed by its swapped copy;
- ``one_sided``: only rows of ``source_group`` get a swapped copy (e.g. add female versions of the
  male bios only);
- ``substitution``: each row with an attribute word is replaced by its swapped version with
  probability ``probability`` (seeded), so the size of the data is unchanged.

Rows without an attribute word are kept as they are. Only the train split changes. The words come
from the built-in lists of ``attribute`` (``gender`` with first names, ``race``, ``religion``) or
from the user's files (``term_files``, ``name_files``; format in
``lightning_bias/counterfactual/wordlist_format.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import datasets
import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.counterfactual import AttributeSwapper
from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.group_label_counts import column_names_of
from lightning_bias_plugins.swapper_choice import build_swapper, counterpart_groups

Mode = Literal["two_sided", "one_sided", "substitution"]
MODES: tuple[str, ...] = ("two_sided", "one_sided", "substitution")


class CounterfactualAugmentation(Mitigation):
    """Counterfactual data augmentation of the train split: attribute-swapped copies with flipped groups.

    Args:
        mode: ``"two_sided"`` (default), ``"one_sided"`` or ``"substitution"`` (see the module docstring).
        source_group: for ``one_sided``, the group whose rows get copies (name or integer id).
        probability: for ``substitution``, the chance that a row with attribute words is swapped in place.
        attribute: built-in word lists: ``"gender"`` (default), ``"race"`` or ``"religion"``; with
            ``term_files``, just a label for messages.
        include_names: with the built-in gender lists, swap first names too (``John`` <-> ``Mary``).
        term_files, name_files: your own word-list files instead of the built-in ones.
        group_names: the names of group ids ``0..G-1`` when the table does not carry them
            (``group`` is not a ``datasets.ClassLabel``); needed to know where a swapped row goes.
        seed: seeds the race/religion counterpart choice and the substitution draws.

    After the train split was transformed, ``self.summary`` holds rows before/after, rows swapped
    and words swapped.
    """

    stage = "downstream"

    def __init__(
        self,
        mode: Mode = "two_sided",
        source_group: str | int | None = None,
        probability: float = 0.5,
        attribute: str = "gender",
        include_names: bool = True,
        term_files: list[str] | None = None,
        name_files: list[str] | None = None,
        group_names: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"counterfactual_augmentation: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if (mode == "one_sided") != (source_group is not None):
            raise ValueError(
                "counterfactual_augmentation: source_group is required with mode one_sided and only used there "
                "(e.g. {name: counterfactual_augmentation, mode: one_sided, source_group: male})"
            )
        if not isinstance(probability, int | float) or not 0.0 <= probability <= 1.0:
            raise ValueError(f"counterfactual_augmentation: probability must be in [0, 1], got {probability!r}")
        self.mode = mode
        self.source_group = source_group
        self.probability = float(probability)
        self.group_names = list(group_names) if group_names is not None else None
        self.seed = seed
        self.swapper: AttributeSwapper = build_swapper(attribute, include_names, term_files, name_files, seed)
        self.summary: dict[str, Any] = {}

    def _group_names(self, table: datasets.Dataset) -> list[str]:
        names = self.group_names or column_names_of(table, "group")
        if names is None:
            raise ValueError(
                "counterfactual_augmentation: the train table carries no group names (its 'group' column is not a "
                "datasets.ClassLabel), so a swapped row's new group is unknown; give group_names: [male, female] "
                "(the names of group ids 0, 1, ...)"
            )
        return names

    def _source_id(self, names: Sequence[str]) -> int:
        """``source_group`` as an id: a name among ``names``, or an id below ``len(names)``."""
        value = self.source_group
        if isinstance(value, str) and not value.strip().isdigit():
            if value not in names:
                raise ValueError(
                    f"counterfactual_augmentation: unknown source_group {value!r}; groups: {', '.join(names)}"
                )
            return list(names).index(value)
        if isinstance(value, bool) or not 0 <= int(value) < len(names):
            raise ValueError(
                f"counterfactual_augmentation: source_group {value!r} is not a group id in 0..{len(names) - 1}"
            )
        return int(value)

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """The augmented train split (same columns and features); other splits unchanged."""
        if split != "train":
            return table
        names = self._group_names(table)
        counterpart = counterpart_groups(self.swapper, names)
        source = self._source_id(names) if self.mode == "one_sided" else None
        stats = {"rows_swapped": 0, "words_swapped": 0}  # filled by the map functions (never from a cache)
        if self.mode == "substitution":
            draws = np.random.default_rng(self.seed).random(len(table))
            result = table.map(
                self._substitute, batched=True, with_indices=True, features=table.features,
                fn_kwargs={"counterpart": counterpart, "draws": draws, "stats": stats},
                load_from_cache_file=False, desc="counterfactual substitution",
            )
        else:
            result = table.map(
                self._add_copies, batched=True, remove_columns=table.column_names, features=table.features,
                fn_kwargs={"counterpart": counterpart, "source": source, "stats": stats},
                load_from_cache_file=False, desc="counterfactual augmentation",
            )
        self.summary = {"mode": self.mode, "attribute": self.swapper.attribute, "rows_before": len(table),
                        "rows_after": len(result), **stats}
        rank_zero_info(
            f"counterfactual augmentation ({self.mode}, {self.swapper.attribute}): {len(table)} -> {len(result)} train "
            f"rows, {stats['rows_swapped']} rows swapped ({stats['words_swapped']} words)"
        )
        return result

    def _add_copies(self, batch: dict[str, list], counterpart: Sequence[int], source: int | None,
                    stats: dict[str, int]) -> dict[str, list]:
        """Each row, followed by its swapped copy when it has attribute words (and is of ``source``)."""
        output: dict[str, list] = {column: [] for column in batch}
        for row, text in enumerate(batch["text"]):
            for column, values in batch.items():
                output[column].append(values[row])
            group = batch["group"][row]
            if source is not None and group != source:
                continue
            swapped, count = self.swapper.swap_with_count(text)
            if count == 0:
                continue
            for column, values in batch.items():
                output[column].append(values[row])
            output["text"][-1] = swapped
            output["group"][-1] = counterpart[group]
            stats["rows_swapped"] += 1
            stats["words_swapped"] += count
        return output

    def _substitute(self, batch: dict[str, list], indices: list[int], counterpart: Sequence[int],
                    draws: np.ndarray, stats: dict[str, int]) -> dict[str, list]:
        """Rows whose draw is below ``probability`` swapped in place, their group flipped."""
        texts, groups = list(batch["text"]), list(batch["group"])
        for row, index in enumerate(indices):
            if draws[index] >= self.probability:
                continue
            swapped, count = self.swapper.swap_with_count(texts[row])
            if count:
                texts[row], groups[row] = swapped, counterpart[groups[row]]
                stats["rows_swapped"] += 1
                stats["words_swapped"] += count
        return {"text": texts, "group": groups}
