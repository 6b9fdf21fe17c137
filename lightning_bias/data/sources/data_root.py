"""Where the local copy of a real dataset lives: ``data.source_options.data_root``, else ``LIGHTNING_BIAS_DATA``.

The root is the folder that holds the datasets' folders in the layout of the project's shared data
(``bias_in_bios_subset/``, ``hate_speech_identity_terms/stormfront/``, ``sst2/``...), or one dataset's folder
itself. A source looks for its files in its own folder(s) under the root first, then in the root. With
neither option nor variable set, a source with a hub copy reads the hub; one without says how to set the root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lightning_bias.data.tables import Table

DATA_ROOT_ENV = "LIGHTNING_BIAS_DATA"
DATA_ROOT_OPTION = "data.source_options.data_root"
SPLIT_FILE_SUFFIXES = (".tsv.gz", ".tsv", ".csv.gz", ".csv", ".jsonl.gz", ".jsonl", ".parquet")


@dataclass(frozen=True)
class DataRoot:
    """A data root and where it was set (the option or the environment variable), for messages."""

    path: Path
    set_by: str

    def __str__(self) -> str:
        return f"{self.set_by}={self.path}"


def data_root(option: str | None) -> DataRoot | None:
    """The root given by the option, else by ``LIGHTNING_BIAS_DATA``, else ``None`` (read the hub, if any)."""
    if option:
        return DataRoot(Path(option).expanduser(), DATA_ROOT_OPTION)
    from_env = os.environ.get(DATA_ROOT_ENV)
    return DataRoot(Path(from_env).expanduser(), DATA_ROOT_ENV) if from_env else None


def no_data_root(dataset: str, folders: Sequence[str]) -> ValueError:
    """The error of a source without a hub copy when no data root is set."""
    return ValueError(
        f"{dataset}: no local copy given and this dataset has no hub copy; set {DATA_ROOT_OPTION} (or the "
        f"environment variable {DATA_ROOT_ENV}) to the folder that holds {' or '.join(folders)}"
    )


def find_split_files(
    root: DataRoot,
    dataset: str,
    folders: Sequence[str],
    stems: Mapping[str, str],
    required: Sequence[str],
    suffixes: Sequence[str] = SPLIT_FILE_SUFFIXES,
) -> dict[str, Path]:
    """The files of a dataset's splits under ``root``: ``{split: path}`` for each split whose file exists.

    Args:
        root: the data root.
        dataset: the dataset's name, for messages.
        folders: the dataset's folders relative to the root, tried in order before the root itself.
        stems: each split's file name without suffix (``{"train": "train", "val": "dev"}``).
        required: the splits that must have a file.
        suffixes: the file suffixes tried for each stem, in order.

    The first folder holding every required file wins. ``ValueError`` naming the root, where it was set
    and the files looked for when no folder holds them.
    """
    if not root.path.is_dir():
        raise ValueError(
            f"{root}: no such folder; point {DATA_ROOT_OPTION} or {DATA_ROOT_ENV} at the folder holding "
            f"{' or '.join(folders)}"
        )
    for folder in [root.path / name for name in folders] + [root.path]:
        found = {}
        for split, stem in stems.items():
            candidates = [folder / f"{stem}{suffix}" for suffix in suffixes]
            path = next((candidate for candidate in candidates if candidate.is_file()), None)
            if path is not None:
                found[split] = path
        if all(split in found for split in required):
            return found
    wanted = ", ".join(f"{stems[split]}{{{','.join(suffixes)}}}" for split in required)
    raise ValueError(
        f"{root}: no {dataset} files there; looked for {wanted} in {', '.join(folders)} under it and in it. "
        f"Point {DATA_ROOT_OPTION} (or {DATA_ROOT_ENV}) at the folder that holds them"
    )


def read_split_files(files: Mapping[str, Path], dataset: str) -> tuple[dict[str, Table], dict[str, str]]:
    """Each found split file's rows as they are, and where each split comes from (for messages)."""
    from lightning_bias.data.sources.files import read_split_file  # imports datasets: only when data is read

    tables = {split: read_split_file(split, str(path), option=DATA_ROOT_OPTION) for split, path in files.items()}
    return tables, {split: f"{dataset} {split} ({path})" for split, path in files.items()}
