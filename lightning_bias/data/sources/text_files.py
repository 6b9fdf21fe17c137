"""``TextFilesSource``: a corpus from local files — plain text, gzipped text, JSONL or CSV with a text field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import datasets

from lightning_bias.data.sources.base import CorpusSource, CorpusText
from lightning_bias.data.sources.corpus_text import non_blank_corpus, text_column_only
from lightning_bias.data.sources.file_checks import check_data_file, check_encoding_name

TextFormat = Literal["auto", "text", "jsonl", "csv"]
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv"}


def corpus_format(path: str) -> str:
    """The corpus format of a local file by suffix, looking through ``.gz``: text, jsonl or csv."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIX_FORMATS.get(suffixes[-1] if suffixes else "", "text")


class TextFilesSource(CorpusSource):
    """Local corpus files: plain or gzipped text (one line per row), JSONL/JSON or CSV/TSV records.

    Args:
        path: a file or a list of files, read in order; ``None`` reads nothing (an empty corpus: the text
            then comes entirely from upstream mitigations, e.g. ``dapt`` with ``mode: replace``).
        format: ``auto`` (by suffix: ``.jsonl``/``.json``, ``.csv``/``.tsv``, anything else is text),
            ``text``, ``jsonl`` or ``csv``.
        text_field: the field (JSONL) or column (CSV) that holds the text; plain text files ignore it.
        encoding: the text encoding of the files (``data.encoding``), e.g. ``latin-1``.
    """

    def __init__(
        self, path: str | list[str] | None = None, format: TextFormat = "auto", text_field: str = "text",
        encoding: str = "utf-8",
    ) -> None:
        check_encoding_name(encoding, "data.encoding")
        if format not in get_args(TextFormat):
            advice = " A Hugging Face dataset by name is read by source: hub_text." if format == "hf" else ""
            raise ValueError(f"data.format must be one of {get_args(TextFormat)}, got {format!r}.{advice}")
        paths = [] if path is None else [path] if isinstance(path, str) else list(path)
        if path is not None and not paths:
            raise ValueError("corpus path list is empty; give at least one file, or path: null for no file")
        self.paths = [str(p) for p in paths]
        self.format = format
        self.text_field = text_field
        self.encoding = encoding

    def read(self) -> CorpusText:
        if not self.paths:
            empty = datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
            return CorpusText(empty, {"raw_lines": 0, "blank_lines_dropped": 0})
        return non_blank_corpus([self._read_one(path) for path in self.paths], ", ".join(self.paths))

    def _read_one(self, path: str) -> datasets.Dataset:
        if not Path(path).exists():
            hint = " For a Hugging Face dataset by name set source: hub_text." if self.format == "auto" else ""
            raise ValueError(
                f"corpus file {path!r} does not exist (working directory {Path.cwd()}); fix the path in the "
                f"config.{hint}"
            )
        check_data_file(path, "data.path", self.encoding)
        fmt = corpus_format(path) if self.format == "auto" else self.format
        text_field = self.text_field
        if fmt == "text":
            table = datasets.load_dataset("text", data_files=path, split="train", encoding=self.encoding)
            text_field = "text"
        elif fmt == "jsonl":
            table = datasets.load_dataset("json", data_files=path, split="train", encoding=self.encoding)
        else:
            delimiter = "\t" if ".tsv" in [s.lower() for s in Path(path).suffixes] else ","
            table = datasets.load_dataset(
                "csv", data_files=path, split="train", delimiter=delimiter, encoding=self.encoding
            )
        return text_column_only(table, text_field, f"corpus file {path!r}")
