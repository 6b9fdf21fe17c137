"""Encoding raw tables (any column names, string or integer values) to ``text``, ``label`` and ``group`` ids.

Shared by the sources that read tables with columns of their own (local files, hub datasets). Names are
given (``data.label_names``, ``data.group_names``) or inferred from string values, sorted, over all
splits, so that ids agree across splits. Several group columns give one intersectional group id per row
(``female|black``) in the full product of their values. Bad rows raise a ``ValueError`` naming the
source, the row and the column: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightning_bias.data.group_encoding import intersectional_groups
from lightning_bias.data.sources.base import LabelledSplits
from lightning_bias.data.tables import Table


@dataclass
class ColumnMapping:
    """Which source columns hold the text, the label and the protected attribute(s)."""

    text: str = "text"
    label: str = "label"
    group: str | list[str] = "group"

    @classmethod
    def of(cls, value: ColumnMapping | Mapping[str, Any] | None) -> ColumnMapping:
        """``value`` as a ``ColumnMapping`` (a mapping gives its fields; ``None`` the defaults)."""
        if value is None:
            return cls()
        return value if isinstance(value, ColumnMapping) else cls(**value)

    @property
    def group_columns(self) -> list[str]:
        return [self.group] if isinstance(self.group, str) else list(self.group)


def infer_names(tables: Sequence[Table], column: str) -> list[str] | None:
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
    table: Table,
    *,
    text_column: str,
    label_column: str,
    group_columns: Sequence[str],
    label_names: list[str] | None,
    group_names: Mapping[str, list[str]] | None,
    where: str,
) -> tuple[Table, list[str], dict[str, list[str]]]:
    """Rename and encode a raw table to ``text``, ``label`` and one id column per group attribute.

    Returns the table (columns ``text``, ``label`` and ``attr/<name>`` for every protected
    attribute), the label names and the names of each attribute's values.
    """
    import datasets
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


def _combine_groups(
    tables: dict[str, Table], group_columns: list[str], attr_names: dict[str, list[str]]
) -> tuple[dict[str, Table], list[str]]:
    """One ``group`` column from the ``attr/<name>`` columns: the attribute itself, or the intersection."""
    if len(group_columns) == 1:
        column = group_columns[0]
        return {s: t.rename_column(f"attr/{column}", "group") for s, t in tables.items()}, attr_names[column]
    # every split shares one id space: the full product of attribute values
    combined, names = {}, []
    for split, table in tables.items():
        ids, names = intersectional_groups(
            {c: table[f"attr/{c}"] for c in group_columns}, {c: attr_names[c] for c in group_columns}
        )
        table = table.remove_columns([f"attr/{c}" for c in group_columns])
        combined[split] = table.add_column("group", [int(i) for i in ids])
    return combined, list(names)


def encode_splits(
    raw: Mapping[str, Table],
    columns: ColumnMapping,
    label_names: list[str] | None,
    group_names: Mapping[str, list[str]] | None,
    where: Mapping[str, str],
) -> LabelledSplits:
    """Encode raw tables per split to ``text``, ``label``, ``group`` with shared names.

    ``label_names`` and ``group_names`` (per group column) are the given names or ``None`` to infer them;
    ``where[split]`` names the split's origin in error messages (``data.files.train (bios.csv)``).
    """
    group_columns = columns.group_columns
    label_names = label_names or infer_names(list(raw.values()), columns.label)
    attr_names = dict(group_names or {})
    for column in group_columns:
        if column not in attr_names:
            inferred = infer_names(list(raw.values()), column)
            if inferred is not None:
                attr_names[column] = inferred
    encoded: dict[str, Table] = {}
    for split, table in raw.items():
        encoded[split], label_names, attr_names = normalize_table(
            table,
            text_column=columns.text,
            label_column=columns.label,
            group_columns=group_columns,
            label_names=label_names,
            group_names=attr_names,
            where=where[split],
        )
    encoded, combined_names = _combine_groups(encoded, group_columns, attr_names)
    return LabelledSplits(encoded, list(label_names or []), combined_names)
