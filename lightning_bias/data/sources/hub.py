"""``HubSource``: classification rows from a Hugging Face hub dataset (or a local dataset script or folder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.encoding import ColumnMapping, encode_splits
from lightning_bias.data.sources.hub_loading import load_hub_split

DEFAULT_HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
LOCAL_FILES = "set `source: files` with `data.files: {train: path/to/train.csv}` (and data.columns)"


class HubSource(ClassificationSource):
    """A Hugging Face dataset by name, with text, label and group columns.

    Args:
        hub_dataset: the dataset's name on the hub, or a local dataset script or folder.
        hub_config: its configuration name, if it has several.
        hub_splits: our split names mapped to the dataset's own (default
            ``{"train": "train", "val": "validation", "test": "test"}``); ``train`` is required.
        columns, label_names, group_names: as for ``FilesSource``.
    """

    def __init__(
        self,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        hub_splits: Mapping[str, str] | None = None,
        columns: ColumnMapping | Mapping[str, Any] | None = None,
        label_names: list[str] | None = None,
        group_names: Mapping[str, list[str]] | None = None,
    ) -> None:
        if not hub_dataset:
            raise ValueError("data.source is 'hub' but data.hub_dataset is not set; give a dataset name")
        self.hub_splits = dict(hub_splits or DEFAULT_HUB_SPLITS)
        if "train" not in self.hub_splits:
            raise ValueError(
                f"data.hub_splits {self.hub_splits} has no 'train' key; map our train split to one of the "
                "dataset's, e.g. {train: train, val: validation}"
            )
        self.hub_dataset = hub_dataset
        self.hub_config = hub_config
        self.columns = ColumnMapping.of(columns)
        self.label_names = label_names
        self.group_names = group_names

    def load(self) -> LabelledSplits:
        raw = {
            split: load_hub_split(self.hub_dataset, self.hub_config, hub_split, "data.hub_dataset", LOCAL_FILES)
            for split, hub_split in self.hub_splits.items()
        }
        where = {split: f"hub {self.hub_dataset}[{split}]" for split in raw}
        return encode_splits(raw, self.columns, self.label_names, self.group_names, where)
