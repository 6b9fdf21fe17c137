"""Where classification rows come from: local files or Hugging Face hub datasets.

Every source ends as a ``datasets.Dataset`` per split with the columns ``text`` (str),
``label`` (int, 0..C-1) and ``group`` (int, 0..G-1), plus the label and group names.
Bad rows raise a ``ValueError`` naming the source, the row and the column: nothing is dropped
silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets

SPLITS = ("train", "val", "test")
_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def file_format(path: str) -> str:
    """The ``datasets`` builder for a path by suffix, looking through a ``.gz``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in _FORMATS:
        raise ValueError(
            f"data file {path!r}: unknown format; use .csv, .tsv, .jsonl, .json or .parquet (optionally .gz)"
        )
    return _FORMATS[suffixes[-1]]


def load_files(files: Mapping[str, str]) -> dict[str, datasets.Dataset]:
    """Read one local file per split (``{"train": "a.csv.gz", "test": "b.jsonl"}``)."""
    tables = {}
    for split, path in files.items():
        if split not in SPLITS:
            raise ValueError(f"data.files: unknown split {split!r}; use keys among {SPLITS}")
        if not Path(path).is_file():
            raise ValueError(
                f"data.files.{split}: file {path!r} does not exist (working directory {Path.cwd()}); "
                "fix the path in the config or on the command line"
            )
        fmt = file_format(path)
        kwargs = {"delimiter": "\t"} if ".tsv" in [s.lower() for s in Path(path).suffixes] else {}
        try:
            table = datasets.load_dataset(fmt, data_files=str(path), split="train", **kwargs)
        except Exception as err:  # datasets raises many types; the user needs the file and the reason
            if "corresponds to no data" in str(err):
                raise ValueError(f"data split {split!r} has no rows: {path!r} holds no data rows") from err
            raise ValueError(f"data.files.{split}: could not read {path!r} as {fmt}: {err}") from err
        if len(table) == 0:
            raise ValueError(f"data split {split!r} has no rows: {path!r} holds a header but no data")
        tables[split] = table
    return tables


def load_hub(name: str, config_name: str | None, split_names: Mapping[str, str]) -> dict[str, datasets.Dataset]:
    """Load a Hugging Face hub dataset (or a local dataset script/dir) by name.

    ``split_names`` maps our splits to the dataset's own (``{"train": "train", "val": "dev"}``).
    """
    return {
        split: datasets.load_dataset(name, config_name, split=hub_split) for split, hub_split in split_names.items()
    }


def infer_names(tables: Sequence[datasets.Dataset], column: str) -> list[str] | None:
    """Sorted names of a string-valued column over all splits (so ids agree across splits), else None."""
    values: set = set()
    for table in tables:
        if column in table.column_names:
            values.update(table.unique(column))
    if values and all(isinstance(v, str) for v in values):
        return sorted(values)
    return None


def _encode_column(
    values: Sequence, names: list[str] | None, what: str, where: str, column: str
) -> tuple[list[int], list[str]]:
    """Map a label or group column to ids 0..K-1, returning the ids and the names."""
    if names is not None:
        index = {name: i for i, name in enumerate(names)}
    elif all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        index = {name: i for i, name in enumerate(names)}
    else:
        index = None
    ids = []
    for row, value in enumerate(values):
        if isinstance(value, str) and index is not None:
            if value not in index:
                raise ValueError(
                    f"{where}, row {row}, column {column!r}: {what} {value!r} is not one of the {what} names "
                    f"{names}; add it to data.{what}_names or fix the row"
                )
            ids.append(index[value])
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(
                f"{where}, row {row}, column {column!r}: {what} {value!r} is not an integer id; "
                f"{what}s must be integers 0..K-1 or names listed in data.{what}_names"
            )
        ids.append(int(value))
    if names is None:
        num = max(ids, default=-1) + 1
        names = [str(i) for i in range(num)]
    bad = next((row for row, i in enumerate(ids) if not 0 <= i < len(names)), None)
    if bad is not None:
        raise ValueError(
            f"{where}, row {bad}, column {column!r}: {what} id {ids[bad]} is out of range 0..{len(names) - 1}; "
            f"fix the row or list all {what} names in data.{what}_names"
        )
    return ids, names


def normalize_table(
    table: datasets.Dataset,
    *,
    text_column: str,
    label_column: str,
    group_columns: Sequence[str],
    label_names: list[str] | None,
    group_names: Mapping[str, list[str]] | None,
    where: str,
) -> tuple[datasets.Dataset, list[str], dict[str, list[str]]]:
    """Rename and encode a raw table to ``text``, ``label`` and one id column per group attribute.

    Returns the table (columns ``text``, ``label`` and ``attr/<name>`` for every protected
    attribute), the label names and the names of each attribute's values.
    """
    for role, column in [("text", text_column), ("label", label_column)] + [("group", c) for c in group_columns]:
        if column not in table.column_names:
            raise ValueError(
                f"{where}: no {role} column {column!r}; the file has columns {table.column_names}. "
                f"Set data.columns.{role} to one of them"
            )
    texts = table[text_column]
    bad = next((row for row, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
    if bad is not None:
        raise ValueError(f"{where}, row {bad}, column {text_column!r}: empty or non-text value {texts[bad]!r}")
    labels, label_names = _encode_column(table[label_column], label_names, "label", where, label_column)
    columns: dict[str, list] = {"text": texts, "label": labels}
    attribute_names: dict[str, list[str]] = {}
    for column in group_columns:
        given = (group_names or {}).get(column)
        ids, names = _encode_column(table[column], given, "group", where, column)
        columns[f"attr/{column}"] = ids
        attribute_names[column] = names
    return datasets.Dataset.from_dict(columns), label_names, attribute_names
