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

Rows without an attribute word are kept as they are. Only the train split changes. ``scope``
chooses whose words change: ``everyone`` (default: every gendered word, third parties' too, "her
husband" -> "his wife") or ``subject`` (for texts about one person such as bios: only the words of
the subject's gender, relatives and plural nouns kept, "her husband" -> "his husband"; see
``AttributeSwapper.swap_subject_with_count``). The words come
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

from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.data.step_progress import advance_data_step, data_step
from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.downstream.group_label_counts import column_names_of

Mode = Literal["two_sided", "one_sided", "substitution"]
MODES: tuple[str, ...] = ("two_sided", "one_sided", "substitution")
Scope = Literal["everyone", "subject"]
SCOPES: tuple[str, ...] = ("everyone", "subject")


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
        scope: ``"everyone"`` (default) swaps every attribute word; ``"subject"`` only the words about the
            text's subject (gender lists; see the module docstring).

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
        scope: Scope = "everyone",
    ) -> None:
        if scope not in SCOPES:
            raise ValueError(f"counterfactual_augmentation: unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
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
        self.swapper = AttributeSwapper.from_options(attribute, include_names, term_files, name_files, seed)
        self.scope = scope
        self._swap = self.swapper.swap_with_count if scope == "everyone" else self.swapper.swap_subject_with_count
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
        counterpart = self.swapper.counterpart_groups(names)
        source = self._source_id(names) if self.mode == "one_sided" else None
        # One draw per train row, from the seed alone, so a row's draw does not depend on batching.
        draws = np.random.default_rng(self.seed).random(len(table)) if self.mode == "substitution" else None
        stats = {"rows_swapped": 0, "words_swapped": 0}  # filled by the map function (never from a cache)
        with data_step(f"counterfactual augmentation ({self.mode})", len(table)):
            result = table.map(
                self._augment_batch, batched=True, with_indices=True, remove_columns=table.column_names,
                features=table.features, fn_kwargs={"counterpart": counterpart, "source": source, "draws": draws,
                                                    "stats": stats},
                load_from_cache_file=False, desc=f"counterfactual augmentation ({self.mode})",
            )
        self.summary = {"mode": self.mode, "scope": self.scope, "attribute": self.swapper.attribute,
                        "rows_before": len(table),
                        "rows_after": len(result), **stats}
        rank_zero_info(
            f"counterfactual augmentation ({self.mode}, {self.swapper.attribute}): {len(table)} -> {len(result)} train "
            f"rows, {stats['rows_swapped']} rows swapped ({stats['words_swapped']} words)"
        )
        return result

    def _augment_batch(self, batch: dict[str, list], indices: list[int], counterpart: Sequence[int],
                       source: int | None, draws: np.ndarray | None, stats: dict[str, int]) -> dict[str, list]:
        """The batch's rows with their swapped copies or substitutes; other columns follow their source row."""
        rows = augment(batch["text"], self._swap, self.mode, groups=batch["group"],
                       counterpart=counterpart, source_group=source,
                       draws=None if draws is None else draws[indices], probability=self.probability)
        output = {column: [values[row] for row in rows.sources] for column, values in batch.items()}
        output["text"], output["group"] = rows.texts, rows.groups
        stats["rows_swapped"] += rows.rows_rewritten
        stats["words_swapped"] += rows.words_rewritten
        advance_data_step(len(batch["text"]))
        return output
