"""``Sst2Source``: movie-review sentences labelled negative or positive (SST-2, GLUE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.data_root import (
    DATA_ROOT_OPTION,
    data_root,
    find_split_files,
    read_split_files,
)
from lightning_bias.data.sources.hub_loading import load_hub_split
from lightning_bias.data.sources.identity_grouping import IdentityGrouping

FOLDERS = ("sst2",)
LABEL_NAMES = {0: "negative", 1: "positive"}
HUB_DATASET = "stanfordnlp/sst2"
# GLUE's test split has no labels: its labelled dev split is the test split here, validation is cut from train
HUB_SPLITS = {"train": "train", "test": "validation"}


class Sst2Source(ClassificationSource):
    """SST-2 sentences, negative or positive, grouped by the identities they mention (Socher et al. 2013).

    Reads GLUE's ``train.tsv`` and ``dev.tsv`` (optionally gzipped; columns ``sentence`` and ``label``
    0/1) from ``sst2`` under the data root, else the hub dataset ``stanfordnlp/sst2`` (its ``train`` and
    ``validation`` splits). GLUE's test labels are not public, so its dev split is the test split here and
    the data module cuts validation from train (seeded by ``data.split_seed``).

    Args:
        data_root: the data root; default ``LIGHTNING_BIAS_DATA``; neither set: the hub.
        hub_dataset, hub_config, hub_splits: the hub copy (``data.hub_*``); default ``stanfordnlp/sst2`` with
            ``{train: train, test: validation}``.
        group_by: ``mention`` or ``identity`` (``lightning_bias.data.sources.identity_grouping``).
        identity_terms: identity term list files; default the project's own list.
    """

    def __init__(
        self,
        data_root: str | None = None,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        hub_splits: Mapping[str, str] | None = None,
        group_by: str = "mention",
        identity_terms: Sequence[str] | None = None,
    ) -> None:
        self.data_root = data_root
        self.hub_dataset = hub_dataset or HUB_DATASET
        self.hub_config = hub_config
        self.hub_splits = dict(hub_splits or HUB_SPLITS)
        if "train" not in self.hub_splits:
            raise ValueError(f"data.hub_splits {self.hub_splits} has no 'train' key; map train to one of the dataset's")
        self.grouping = IdentityGrouping(group_by, identity_terms)

    def load(self) -> LabelledSplits:
        root = data_root(self.data_root)
        if root is None:
            alternative = f"set {DATA_ROOT_OPTION} (or LIGHTNING_BIAS_DATA) to a folder holding sst2/train.tsv"
            tables = {
                split: load_hub_split(self.hub_dataset, self.hub_config, hub_split, "data.hub_dataset", alternative)
                for split, hub_split in self.hub_splits.items()
            }
            where = {split: f"sst2 hub {self.hub_dataset}[{hub_split}]" for split, hub_split in self.hub_splits.items()}
        else:
            stems = {"train": "train", "test": "dev"}
            files = find_split_files(root, "sst2", FOLDERS, stems, ["train"], (".tsv.gz", ".tsv"))
            tables, where = read_split_files(files, "sst2")
        return self.grouping.labelled_splits(tables, where, ("sentence", "label"), LABEL_NAMES, "sst2")
