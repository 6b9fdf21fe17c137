"""``LabelledSplits`` from rows whose labels and groups are names, with the checks real datasets need.

The real-data sources (``bias_in_bios``, ``stormfront``, ``gab_hate_corpus``, ``wiki_toxicity``, ``sst2``)
turn their files' own values into names (``is_hate`` 1 -> ``hate``, ``dentist (0.99)`` -> ``dentist``), then
encode them to ids here (``names_of`` makes an unknown value an error naming the file, the row and the
column). A row without text (blank in the distributed file) is left out, named in one warning.
A label that occurs in an evaluation split but never in train gives one warning: the run can go on, but
that class cannot be learnt.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightning_bias.data.sources.base import LabelledSplits
from lightning_bias.data.tables import Table


@dataclass
class NamedRows:
    """One split's rows: texts, label names, group names, and where they come from (for messages)."""

    texts: list[Any]
    labels: list[str]
    groups: list[str]
    where: str


def require_columns(table: Table, columns: Sequence[str], where: str) -> None:
    """``ValueError`` naming ``where`` and the columns the raw ``table`` lacks, if any."""
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise ValueError(
            f"{where}: no column(s) {missing}; the file has {table.column_names}. Check that the file is the "
            "dataset's own, in its distributed format"
        )


def names_of(values: Sequence[Any], names: Mapping[Any, str], where: str, column: str) -> list[str]:
    """Each raw value's name in ``names`` (e.g. ``{0: "not_hate", 1: "hate"}``); ``ValueError`` naming the
    row and column of the first value that has none."""
    out = []
    for row, value in enumerate(values):
        try:
            out.append(names[value])
        except (KeyError, TypeError):
            raise ValueError(
                f"{where}, row {row}, column {column!r}: value {value!r} is not one of {list(names)}; fix the row "
                "or the file"
            ) from None
    return out


def named_splits(
    rows: Mapping[str, NamedRows], label_names: Sequence[str], group_names: Sequence[str], dataset: str
) -> LabelledSplits:
    """Each split's named rows as ``text``, ``label`` and ``group`` ids over the given names (every label and
    group of ``rows`` must be among them: the sources name them with ``names_of`` and the grouping policy)."""
    import datasets

    rows = _without_blank_texts(rows, dataset)
    warn_labels_unseen_in_train(rows, dataset)
    label_ids = {name: i for i, name in enumerate(label_names)}
    group_ids = {name: i for i, name in enumerate(group_names)}
    tables = {
        split: datasets.Dataset.from_dict({
            "text": r.texts, "label": [label_ids[x] for x in r.labels], "group": [group_ids[x] for x in r.groups],
        })
        for split, r in rows.items()
    }
    return LabelledSplits(tables, list(label_names), list(group_names))


def column_values(table: Table, column: str) -> list[Any]:
    """A column of a ``datasets`` table as a list, read in one pass (indexing its lazy column row by row is
    about a hundred times slower)."""
    return table.select_columns([column]).to_dict()[column]


def _without_blank_texts(rows: Mapping[str, NamedRows], dataset: str) -> dict[str, NamedRows]:
    """The rows whose text is a non-blank string; the others left out with one warning naming them."""
    kept, dropped = {}, {}
    for split, split_rows in rows.items():
        keep = [i for i, text in enumerate(split_rows.texts) if isinstance(text, str) and text.strip()]
        if len(keep) < len(split_rows.texts):
            dropped[split_rows.where] = sorted(set(range(len(split_rows.texts))) - set(keep))
        kept[split] = NamedRows(
            [split_rows.texts[i] for i in keep], [split_rows.labels[i] for i in keep],
            [split_rows.groups[i] for i in keep], split_rows.where,
        )
    if dropped:
        listed = "; ".join(f"{where}: rows {r[:10]}{' ...' if len(r) > 10 else ''}" for where, r in dropped.items())
        count = sum(map(len, dropped.values()))
        warnings.warn(f"{dataset}: {count} row(s) without text left out ({listed})", stacklevel=3)
    return kept


def warn_labels_unseen_in_train(rows: Mapping[str, NamedRows], dataset: str) -> None:
    """One warning naming the labels of the evaluation splits that train never has, with their row counts."""
    if "train" not in rows:
        return
    seen = set(rows["train"].labels)
    unseen: dict[str, int] = {}
    for split, split_rows in rows.items():
        for label in split_rows.labels:
            if split != "train" and label not in seen:
                unseen[f"{label} ({split})"] = unseen.get(f"{label} ({split})", 0) + 1
    if unseen:
        warnings.warn(
            f"{dataset}: label(s) never seen in the train split occur in evaluation splits (rows): {unseen}; "
            "the classifier cannot learn them, so their rates measure a class it was never shown",
            stacklevel=3,
        )
