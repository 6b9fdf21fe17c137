"""The label × group structure of a train table: count matrices and name ↔ id resolution.

Downstream tables have integer ``label`` and ``group`` columns. When those columns are
``datasets.ClassLabel`` features the table also carries the names; otherwise plugins work with
integer ids only (names are then ``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import datasets
import numpy as np


def column_names_of(table: datasets.Dataset, column: str) -> list[str] | None:
    """The class names of ``column`` when it is a ``ClassLabel`` feature, else ``None``."""
    feature = table.features.get(column)
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    return None


def class_count(table: datasets.Dataset, column: str) -> int:
    """Number of classes of ``column``: from its ``ClassLabel`` names, else ``max id + 1``."""
    names = column_names_of(table, column)
    if names is not None:
        return len(names)
    values = np.asarray(table[column], dtype=np.int64)
    return int(values.max()) + 1 if len(values) else 0


def display_names(table: datasets.Dataset, column: str, at_least: int = 0) -> list[str]:
    """Names for the ids of ``column``: the ``ClassLabel`` names, else the ids as strings
    (at least ``at_least`` of them, for ids beyond the largest one present)."""
    names = column_names_of(table, column)
    return names or [str(i) for i in range(max(class_count(table, column), at_least))]


def label_group_counts(table: datasets.Dataset, num_groups: int = 0) -> np.ndarray:
    """Row counts per (label, group): an ``int64`` array of shape ``[num_labels, num_groups]``.

    Without group names the width is ``max id + 1``, or ``num_groups`` when that is larger.
    """
    labels = np.asarray(table["label"], dtype=np.int64)
    groups = np.asarray(table["group"], dtype=np.int64)
    width = max(class_count(table, "group"), num_groups)
    counts = np.zeros((class_count(table, "label"), width), dtype=np.int64)
    np.add.at(counts, (labels, groups), 1)
    return counts


def resolve_id(value: str | int, table: datasets.Dataset, column: str, where: str) -> int:
    """The integer id of a ``label`` or ``group`` given by name or id.

    Names resolve through the table's ``ClassLabel`` feature; a digit string or an int is taken as
    an id. Raises ``ValueError`` (naming ``where``) for an unknown name or an id out of range. Without
    names the number of classes is unknown, so any non-negative id is accepted (an id with no rows
    is then simply a class that does not occur in this table).
    """
    names = column_names_of(table, column)
    count = class_count(table, column)
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a {column} name or integer id, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit() and (
            names is None or value not in names)):
        index = int(value)
        if index < 0 or (names is not None and index >= count):
            raise ValueError(f"{where}: {column} id {index} is out of range 0..{count - 1}")
        return index
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a {column} name or integer id, got {value!r}")
    if names is None:
        raise ValueError(
            f"{where}: {column} {value!r} is given by name, but the table carries no {column} names "
            f"(its {column!r} column is not a datasets.ClassLabel); give the integer id instead (0..{count - 1})"
        )
    if value not in names:
        raise ValueError(f"{where}: unknown {column} {value!r}; known {column}s: {', '.join(names)}")
    return names.index(value)

