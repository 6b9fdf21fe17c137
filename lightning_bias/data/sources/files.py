"""``FilesSource``: classification rows from local CSV, TSV, JSONL/JSON or Parquet files, optionally gzipped."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.encoding import ColumnMapping, encode_splits
from lightning_bias.data.sources.file_checks import check_data_file, check_encoding_name

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


def read_split_file(split: str, path: str, encoding: str = "utf-8", option: str | None = None) -> datasets.Dataset:
    """The rows of one split's file as they are (the file's own columns); ``ValueError`` naming ``option``
    (default ``data.files.<split>``) if it is absent, empty, not ``encoding`` text or holds no rows."""
    option = option or f"data.files.{split}"
    if not Path(path).exists():
        raise ValueError(
            f"{option}: file {path!r} does not exist (working directory {Path.cwd()}); "
            "fix the path in the config or on the command line"
        )
    fmt = file_format(path)
    check_data_file(path, option, None if fmt == "parquet" else encoding)
    kwargs: dict[str, str] = {} if fmt == "parquet" else {"encoding": encoding}
    if ".tsv" in [s.lower() for s in Path(path).suffixes]:
        kwargs["delimiter"] = "\t"
    try:
        table = datasets.load_dataset(fmt, data_files=str(path), split="train", **kwargs)
    except Exception as err:  # datasets raises many types; the user needs the file and the reason
        if "corresponds to no data" in str(err):
            raise ValueError(f"data split {split!r} has no rows: {path!r} holds no data rows") from err
        reason = f"{err}: {err.__cause__}" if err.__cause__ is not None else str(err)
        raise ValueError(f"{option}: could not read {path!r} as {fmt}: {reason}") from err
    if len(table) == 0:
        raise ValueError(f"data split {split!r} has no rows: {path!r} holds a header but no data")
    return table


class FilesSource(ClassificationSource):
    """Local CSV/TSV/JSONL/Parquet files (gzipped too), one per split, with text, label and group columns.

    Args:
        files: one path per split (keys ``train``, ``val``, ``test``); splits not given are cut from ``train``
            by the data module.
        columns: the text, label and group column(s); several group columns give intersectional groups.
        label_names, group_names: names for integer ids, or the order of string values (per group column);
            default: the sorted string values over all files.
        encoding: the text encoding of CSV, TSV and JSON files (``data.encoding``), e.g. ``latin-1``.
    """

    def __init__(
        self,
        files: Mapping[str, str] | None = None,
        columns: ColumnMapping | Mapping[str, Any] | None = None,
        label_names: list[str] | None = None,
        group_names: Mapping[str, list[str]] | None = None,
        encoding: str = "utf-8",
    ) -> None:
        check_encoding_name(encoding, "data.encoding")
        if not files:
            raise ValueError("data.source is 'files' but data.files is empty; give e.g. {train: path/to/train.csv}")
        unknown = [split for split in files if split not in SPLITS]
        if unknown:
            raise ValueError(f"data.files: unknown split {unknown[0]!r}; use keys among {SPLITS}")
        self.files = {split: str(path) for split, path in files.items()}
        self.columns = ColumnMapping.of(columns)
        self.label_names = label_names
        self.group_names = group_names
        self.encoding = encoding

    def load(self) -> LabelledSplits:
        raw = {split: read_split_file(split, path, self.encoding) for split, path in self.files.items()}
        where = {split: f"data.files.{split} ({path})" for split, path in self.files.items()}
        return encode_splits(raw, self.columns, self.label_names, self.group_names, where)
