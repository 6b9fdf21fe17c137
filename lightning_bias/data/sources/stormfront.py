"""``StormfrontSource``: sentences of a white-supremacist forum labelled hate or not (de Gibert et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.data_root import data_root, find_split_files, no_data_root, read_split_files
from lightning_bias.data.sources.identity_grouping import IdentityGrouping

FOLDERS = ("hate_speech_identity_terms/stormfront", "stormfront")
LABEL_NAMES = {0: "not_hate", 1: "hate"}


class StormfrontSource(ClassificationSource):
    """Stormfront forum sentences, hate or not, grouped by the identities they mention (de Gibert et al. 2018).

    Reads ``train``, ``dev`` and ``test`` (``.tsv``, optionally gzipped; columns ``text`` and ``is_hate``
    0/1, as Jin et al. 2021 distribute them) from ``hate_speech_identity_terms/stormfront`` under the data
    root; ``dev`` is the validation split. A split without a file is cut from train by the data module.
    Labels: ``not_hate``, ``hate``. There is no hub copy.

    Args:
        data_root: the data root (``lightning_bias.data.sources.data_root``); default ``LIGHTNING_BIAS_DATA``.
        group_by: ``mention`` or ``identity`` (``lightning_bias.data.sources.identity_grouping``).
        identity_terms: identity term list files; default the project's own list.
    """

    def __init__(
        self, data_root: str | None = None, group_by: str = "mention", identity_terms: Sequence[str] | None = None
    ) -> None:
        self.data_root = data_root
        self.grouping = IdentityGrouping(group_by, identity_terms)

    def load(self) -> LabelledSplits:
        root = data_root(self.data_root)
        if root is None:
            raise no_data_root("stormfront", FOLDERS)
        stems = {"train": "train", "val": "dev", "test": "test"}
        files = find_split_files(root, "stormfront", FOLDERS, stems, ["train"], (".tsv.gz", ".tsv"))
        tables, where = read_split_files(files, "stormfront")
        return self.grouping.labelled_splits(tables, where, ("text", "is_hate"), LABEL_NAMES, "stormfront")
