"""``GabHateCorpusSource``: Gab posts labelled hate or not, with annotated target groups (Kennedy et al.)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.data_root import data_root, find_split_files, no_data_root, read_split_files
from lightning_bias.data.sources.identity_grouping import GROUP_BY, IdentityGrouping, family_groups
from lightning_bias.data.sources.named_splits import (
    NamedRows,
    column_values,
    named_splits,
    names_of,
    require_columns,
)

FOLDERS = ("hate_speech_identity_terms/gab_hate_corpus", "gab_hate_corpus")
LABEL_NAMES = ("not_hate", "hate")
# the corpus's target-group columns and the identity family each stands for
TARGET_FAMILIES = {
    "rae": "race_ethnicity",
    "nat": "nationality",
    "gen": "gender",
    "rel": "religion",
    "sxo": "sexual_orientation",
    "idl": "ideology",
    "pol": "political",
    "mph": "health",
}


class GabHateCorpusSource(ClassificationSource):
    """Gab Hate Corpus posts, hate (hd or cv) or not, grouped by their annotated target group or by mentions.

    Reads ``train``, ``dev`` and ``test`` (``.jsonl``, optionally gzipped; text in ``Text``, 0/1 columns
    ``hd`` assault on human dignity and ``cv`` call for violence, as Jin et al. 2021 distribute them) from
    ``hate_speech_identity_terms/gab_hate_corpus`` under the data root. A post is ``hate`` when ``hd`` or
    ``cv`` is 1. Without a train file (the shared copy has dev and test only), ``dev`` is the train split
    and the data module cuts validation from it (seeded by ``data.split_seed``), with one warning. No hub copy.

    Args:
        data_root: the data root; default ``LIGHTNING_BIAS_DATA``.
        group_by: ``target`` (default): the annotated target-group columns (``rae`` race/ethnicity, ``nat``,
            ``gen``, ``rel``, ``sxo``, ``idl``, ``pol``, ``mph``) as identity families under the ``identity``
            policy (one family, ``none`` or ``multiple``); only columns every split's file has are used, the
            others are named in a warning. ``mention`` or ``identity``: identity-term matching.
        identity_terms: identity term list files for ``mention`` / ``identity``; default the project's own.
    """

    def __init__(
        self, data_root: str | None = None, group_by: str = "target", identity_terms: Sequence[str] | None = None
    ) -> None:
        if group_by not in ("target", *GROUP_BY):
            raise ValueError(
                f"data.source_options.group_by: unknown policy {group_by!r} for gab_hate_corpus; use one of "
                f"{['target', *GROUP_BY]}"
            )
        self.data_root = data_root
        self.group_by = group_by
        self.grouping = IdentityGrouping("mention" if group_by == "target" else group_by, identity_terms)

    def load(self) -> LabelledSplits:
        root = data_root(self.data_root)
        if root is None:
            raise no_data_root("gab_hate_corpus", FOLDERS)
        stems = {"train": "train", "val": "dev", "test": "test"}
        suffixes = (".jsonl.gz", ".jsonl")
        try:
            files = find_split_files(root, "gab_hate_corpus", FOLDERS, stems, ["train"], suffixes)
        except ValueError as no_train:
            try:
                files = find_split_files(root, "gab_hate_corpus", FOLDERS, stems, ["val"], suffixes)
            except ValueError:
                raise no_train from None
            files["train"] = files.pop("val")
            warnings.warn(
                f"gab_hate_corpus: no train file under {root}; training on {files['train'].name} and cutting "
                "the validation split from it (data.split_seed)",
                stacklevel=2,
            )
        tables, where = read_split_files(files, "gab_hate_corpus")
        for split, table in tables.items():
            require_columns(table, ["Text", "hd", "cv"], where[split])
        names, groups = self._groups(tables, where)
        binary = {0: 0, 1: 1}
        rows = {}
        for split, table in tables.items():
            hd = names_of(column_values(table, "hd"), binary, where[split], "hd")
            cv = names_of(column_values(table, "cv"), binary, where[split], "cv")
            rows[split] = NamedRows(
                texts=column_values(table, "Text"),
                labels=[LABEL_NAMES[max(a, b)] for a, b in zip(hd, cv, strict=True)],
                groups=groups[split],
                where=where[split],
            )
        return named_splits(rows, LABEL_NAMES, names, "gab_hate_corpus")

    def _groups(self, tables: dict, where: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
        """Group names and each row's group, by the target columns or by identity-term matching."""
        if self.group_by != "target":
            texts = {split: column_values(table, "Text") for split, table in tables.items()}
            return self.grouping.groups(texts, "gab_hate_corpus")
        columns = [c for c in TARGET_FAMILIES if all(c in t.column_names for t in tables.values())]
        partial = [c for c in TARGET_FAMILIES if c not in columns and any(c in t.column_names for t in tables.values())]
        if not columns:
            raise ValueError(
                f"gab_hate_corpus: group_by target needs the target-group columns {list(TARGET_FAMILIES)} in every "
                "split's file, and none is in all of them; set data.source_options.group_by to mention or identity"
            )
        if partial:
            warnings.warn(
                f"gab_hate_corpus: target column(s) {partial} are missing from some split's file; grouping by "
                f"{columns} only",
                stacklevel=3,
            )
        families = {}
        for split, table in tables.items():
            flags = {c: names_of(column_values(table, c), {0: 0, 1: 1}, where[split], c) for c in columns}
            families[split] = [
                frozenset(TARGET_FAMILIES[c] for c in columns if flags[c][row]) for row in range(len(table))
            ]
        return family_groups(families, [TARGET_FAMILIES[c] for c in columns], "gab_hate_corpus")
