"""``BiasInBiosSource``: biographies labelled with the occupation, gender as the group (De-Arteaga et al. 2019)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.data_root import (
    DATA_ROOT_OPTION,
    SPLIT_FILE_SUFFIXES,
    DataRoot,
    data_root,
    find_split_files,
)
from lightning_bias.data.sources.hub_loading import load_hub_split
from lightning_bias.data.sources.named_splits import (
    NamedRows,
    column_values,
    named_splits,
    names_of,
    require_columns,
)
from lightning_bias.data.tables import Table

HUB_DATASET = "LabHC/bias_in_bios"
HUB_SPLITS = {"train": "train", "val": "dev", "test": "test"}
# the 28 occupations in the order of their ids on the hub (Ravfogel et al. 2020's profession2index)
OCCUPATIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist", "dietitian", "dj",
    "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter", "paralegal", "pastor",
    "personal_trainer", "photographer", "physician", "poet", "professor", "psychologist", "rapper",
    "software_engineer", "surgeon", "teacher", "yoga_teacher",
)
GENDERS = ("male", "female")  # gender ids 0 and 1 on the hub
HUB_SHAPED_FOLDERS = ("bias_in_bios",)
SUBSET_FOLDERS = ("bias_in_bios_subset",)
SUBSET_FILES = {"test": "biosbias", "train": "biosbias_confident", "train_less_confident": "biosbias_not_confident"}
_PREDICTION = re.compile(r"^\s*([a-z_]+)\s*\(")  # "dentist (0.99)": a classifier's occupation and its probability


class BiasInBiosSource(ClassificationSource):
    """Bias in Bios biographies (first sentence removed), the occupation as label, gender as group.

    Where the data comes from:

    - no data root set: the hub dataset ``LabHC/bias_in_bios`` (needs network once; splits ``train``,
      ``dev`` as validation, ``test``; columns ``hard_text``, ``profession`` 0..27, ``gender`` 0 male / 1 female);
    - a data root holding ``bias_in_bios/`` with ``train``, ``dev``, ``test`` files (``.parquet``, ``.jsonl``,
      ``.csv``, optionally gzipped) in the hub's shape: a local copy of the hub dataset;
    - a data root holding ``bias_in_bios_subset/`` (the project's shared subset): ``biosbias.csv``, bios
      with their gold occupation (``title``), is the test split; ``biosbias_confident.csv`` and
      ``biosbias_not_confident.csv``, bios with a classifier's predicted occupation (``1st prediction``,
      e.g. ``dentist (0.99)``), are the train split, without the bios that are also in the test split. The
      data module cuts validation from train (seeded by ``data.split_seed``). Gender is ``gender_name``.

    Labels are the occupations that occur in the data, in the hub's id order (28 on the hub, 5 in the
    subset); groups are ``male`` and ``female``.

    Args:
        data_root: the data root; default ``LIGHTNING_BIAS_DATA``; neither set: the hub.
        hub_dataset, hub_config, hub_splits: the hub copy (``data.hub_*``); default ``LabHC/bias_in_bios`` with
            ``{train: train, val: dev, test: test}``.
    """

    def __init__(
        self,
        data_root: str | None = None,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        hub_splits: Mapping[str, str] | None = None,
    ) -> None:
        self.data_root = data_root
        self.hub_dataset = hub_dataset or HUB_DATASET
        self.hub_config = hub_config
        self.hub_splits = dict(hub_splits or HUB_SPLITS)
        if "train" not in self.hub_splits:
            raise ValueError(f"data.hub_splits {self.hub_splits} has no 'train' key; map train to one of the dataset's")

    def load(self) -> LabelledSplits:
        root = data_root(self.data_root)
        rows = self._hub_rows() if root is None else self._local_rows(root)
        present = {label for split_rows in rows.values() for label in split_rows.labels}
        label_names = [occupation for occupation in OCCUPATIONS if occupation in present]
        return named_splits(rows, label_names, GENDERS, "bias_in_bios")

    def _hub_rows(self) -> dict[str, NamedRows]:
        alternative = f"set {DATA_ROOT_OPTION} (or LIGHTNING_BIAS_DATA) to a folder holding bias_in_bios_subset/"
        return {
            split: _hub_shaped_rows(
                load_hub_split(self.hub_dataset, self.hub_config, hub_split, "data.hub_dataset", alternative),
                f"bias_in_bios hub {self.hub_dataset}[{hub_split}]",
            )
            for split, hub_split in self.hub_splits.items()
        }

    def _local_rows(self, root: DataRoot) -> dict[str, NamedRows]:
        """The rows of a local copy in the hub's shape, else of the shared subset; one error naming both."""
        hub_stems = {"train": "train", "val": "dev", "test": "test"}
        for folders, stems, required, suffixes, rows_of in [
            (HUB_SHAPED_FOLDERS, hub_stems, ["train"], SPLIT_FILE_SUFFIXES, _hub_shaped_copy),
            (SUBSET_FOLDERS, SUBSET_FILES, list(SUBSET_FILES), (".csv",), _subset),
        ]:
            try:
                files = find_split_files(root, "bias_in_bios", folders, stems, required, suffixes)
            except ValueError:
                continue
            return rows_of(files)
        raise ValueError(
            f"{root}: no Bias in Bios files there; looked for bias_in_bios/{{train,dev,test}} (.parquet, .jsonl, "
            ".csv: a local copy of the hub dataset) and for bias_in_bios_subset/{biosbias,biosbias_confident,"
            f"biosbias_not_confident}}.csv, under it and in it. Point {DATA_ROOT_OPTION} (or LIGHTNING_BIAS_DATA) at "
            "the folder that holds them, or unset both to read the hub"
        )


def _read(split: str, path: Path) -> Table:
    from lightning_bias.data.sources.files import read_split_file

    return read_split_file(split, str(path), option=DATA_ROOT_OPTION)


def _hub_shaped_copy(files: Mapping[str, Path]) -> dict[str, NamedRows]:
    """The rows of each split's file of a local copy of the hub dataset."""
    return {
        split: _hub_shaped_rows(_read(split, path), f"bias_in_bios {split} ({path})") for split, path in files.items()
    }


def _subset(files: Mapping[str, Path]) -> dict[str, NamedRows]:
    """The shared subset: the gold-labelled bios as test, the bios with a predicted occupation as train
    (those also in the test split left out)."""
    occupations = {occupation: occupation for occupation in OCCUPATIONS}
    genders = {gender: gender for gender in GENDERS}
    gold = _read("test", files["test"])
    where = f"bias_in_bios test ({files['test']})"
    require_columns(gold, ["text", "title", "gender_name"], where)
    test = NamedRows(
        column_values(gold, "text"),
        names_of(column_values(gold, "title"), occupations, where, "title"),
        names_of(column_values(gold, "gender_name"), genders, where, "gender_name"),
        where,
    )
    in_test = set(test.texts)
    train = NamedRows([], [], [], (
        f"bias_in_bios train (rows of {files['train']} then {files['train_less_confident']}, the bios of the "
        "test split left out)"
    ))
    for key in ("train", "train_less_confident"):
        table = _read("train", files[key])
        where = f"bias_in_bios train ({files[key]})"
        require_columns(table, ["text", "1st prediction", "gender_name"], where)
        predicted = [_predicted_occupation(value) for value in column_values(table, "1st prediction")]
        labels = names_of(predicted, occupations, where, "1st prediction")
        groups = names_of(column_values(table, "gender_name"), genders, where, "gender_name")
        for text, label, group in zip(column_values(table, "text"), labels, groups, strict=True):
            if text not in in_test:
                train.texts.append(text)
                train.labels.append(label)
                train.groups.append(group)
    return {"train": train, "test": test}


def _hub_shaped_rows(table: Table, where: str) -> NamedRows:
    """Rows of a table in the hub's shape: ``hard_text``, ``profession`` id, ``gender`` id."""
    require_columns(table, ["hard_text", "profession", "gender"], where)
    return NamedRows(
        column_values(table, "hard_text"),
        names_of(column_values(table, "profession"), dict(enumerate(OCCUPATIONS)), where, "profession"),
        names_of(column_values(table, "gender"), dict(enumerate(GENDERS)), where, "gender"),
        where,
    )


def _predicted_occupation(value: object) -> object:
    """The occupation of a prediction such as ``dentist (0.99)``; the value itself when it is not one."""
    match = _PREDICTION.match(value) if isinstance(value, str) else None
    return match.group(1) if match else value
