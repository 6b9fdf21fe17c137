"""Scrubbing: remove explicit attribute indicators from every split (De-Arteaga et al. 2019).

Pronouns become singular *they* forms (he/she -> they, his -> their, herself -> themselves) with the
verb after a subject *they* in agreement ("She is based" -> "They are based"), titles before a name
are dropped ("Mr. Smith" -> "Smith"), first names from the name lists, and unlisted first names after
a title ("Dr. Aparna Sharma"), become ``name_replacement`` ("_" by default) except inside place names
("San Francisco" stays), and other attribute words (man, sister, ...) become ``term_replacement`` or
stay when it is ``None``. Accuracy on hand-annotated real sentences: benchmarks/README.md. It runs on train, validation, test and predict
alike, so the model is trained and evaluated on the same kind of text. Labels and groups are kept:
the fairness metrics still know each row's group.
"""

from __future__ import annotations

from typing import Any

import datasets
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.mitigation import Mitigation, Split


class Scrubbing(Mitigation):
    """Scrub explicit attribute words (pronouns, titles, first names) from the text of every split.

    Args:
        attribute: built-in word lists ``"gender"`` (default), ``"race"`` or ``"religion"``.
        include_names: with the built-in gender lists, replace first names too.
        term_files, name_files: your own word-list files instead of the built-in ones.
        name_replacement: what a first name becomes.
        term_replacement: what other attribute words (not pronouns or titles) become; ``None`` keeps them.

    ``self.summary`` maps each split to the number of rows whose text changed.
    """

    stage = "downstream"

    def __init__(
        self,
        attribute: str = "gender",
        include_names: bool = True,
        term_files: list[str] | None = None,
        name_files: list[str] | None = None,
        name_replacement: str = "_",
        term_replacement: str | None = None,
    ) -> None:
        self.swapper = AttributeSwapper.from_options(attribute, include_names, term_files, name_files)
        self.name_replacement = name_replacement
        self.term_replacement = term_replacement
        self.summary: dict[str, Any] = {}

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """``table`` with its ``text`` column scrubbed (same rows, columns and features)."""
        changed = {"rows": 0}
        result = table.map(
            self._scrub, batched=True, fn_kwargs={"changed": changed}, load_from_cache_file=False,
            desc=f"scrubbing {split}",
        )
        self.summary[split] = {"rows": len(table), "rows_changed": changed["rows"]}
        rank_zero_info(f"scrubbing ({self.swapper.attribute}) {split}: {changed['rows']} of {len(table)} rows changed")
        return result

    def _scrub(self, batch: dict[str, list], changed: dict[str, int]) -> dict[str, list]:
        rows = augment(batch["text"], self._neutralize, "in_place")
        changed["rows"] += rows.rows_changed
        return {"text": rows.texts}

    def _neutralize(self, text: str) -> tuple[str, int]:
        return self.swapper.neutralize_with_count(text, self.name_replacement, self.term_replacement)
