"""Turning read tables into a corpus: keep the text field only, drop blank rows, count what was dropped.

Shared by the corpus sources (text files, hub datasets), so that every corpus ends as the same
``CorpusText``: one column ``text`` (strings), one row per non-blank line or record.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets

from lightning_bias.data.sources.base import CorpusText


def text_column_only(table: datasets.Dataset, text_field: str, where: str) -> datasets.Dataset:
    """``table`` reduced to its ``text_field`` column, renamed ``text``; ``ValueError`` naming ``where`` if the
    field is missing or holds no strings."""
    if text_field not in table.column_names:
        raise ValueError(
            f"{where}: no text field {text_field!r}; it has the columns {table.column_names}. "
            "Set text_field to the column that holds the text"
        )
    if getattr(table.features[text_field], "dtype", None) not in ("string", "large_string"):
        raise ValueError(
            f"{where}: field {text_field!r} holds {table.features[text_field]}, not text; set text_field to a "
            "column of strings"
        )
    table = table.remove_columns([c for c in table.column_names if c != text_field])
    if text_field != "text":
        table = table.rename_column(text_field, "text")
    if table.features["text"].dtype != "string":
        table = table.cast(datasets.Features({"text": datasets.Value("string")}))
    return table


def non_blank_corpus(tables: Sequence[datasets.Dataset], described: str) -> CorpusText:
    """The ``text`` tables concatenated without empty or whitespace-only rows, with
    ``{"raw_lines": rows read, "blank_lines_dropped": rows dropped}``; ``ValueError`` when no row has text.

    ``described`` names the corpus in that error (its files or dataset names).
    """
    table = tables[0] if len(tables) == 1 else datasets.concatenate_datasets(list(tables))
    raw_lines = len(table)
    table = table.filter(
        lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch["text"]], batched=True,
        desc="dropping blank lines",
    )
    if len(table) == 0:
        raise ValueError(
            f"corpus {described} is empty: {raw_lines} line(s) read, none with text; "
            "check the path, the format and the text field"
        )
    return CorpusText(table, {"raw_lines": raw_lines, "blank_lines_dropped": raw_lines - len(table)})
