"""The rows of an identity-term evaluation set: texts, toxic or not, and which identity terms each text mentions.

A set is a CSV/TSV/JSONL/Parquet file (optionally gzipped) with a text column and a label column, plus
either a term column (the identity term each row was written about) or none, in which case the terms a
text mentions are found by identity-term matching (:mod:`lightning_bias.data.identity_mentions`: case and
punctuation ignored, whole words, plurals in -s) with the given term lists. A label value is toxic or
non-toxic by its spelling (compared case-insensitively); any other value is an error naming the row.

Terms that no text of the set mentions are left out, named in one warning; a set in which no term occurs
at all is an error, so a report never holds a term with no rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightning_bias.data.identity_mentions import IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.data_root import DATA_ROOT_ENV, data_root, find_split_files
from lightning_bias.data.sources.files import read_split_file
from lightning_bias.data.sources.named_splits import column_values

TOXIC_VALUES = ("BAD", "1", "True", "toxic")
NON_TOXIC_VALUES = ("NOT_BAD", "0", "False", "non_toxic")


@dataclass(frozen=True)
class TermExamples:
    """One evaluation set: ``texts``; ``toxic`` ``[N]`` int64 0/1; ``terms`` (the terms some text mentions);
    ``membership`` ``[N, T]`` bool (text ``i`` mentions ``terms[t]``); ``templates``: each row's template
    name, or ``None`` without a template column; ``where``: the file, for messages and the report."""

    texts: list[str]
    toxic: np.ndarray
    terms: list[str]
    membership: np.ndarray
    templates: list[str] | None
    where: str


def set_file(file: str | None, root_option: str | None, folder: str, stem: str, owner: str) -> Path:
    """The file of an evaluation set: ``file`` when given, else ``<folder>/<stem>.csv(.gz)`` under the data root.

    ``ValueError`` naming ``owner``'s options when neither is set or the root lacks the file.
    """
    if file:
        return Path(file).expanduser()
    root = data_root(root_option)
    if root is None:
        raise ValueError(
            f"{owner}: no evaluation file given; set {owner}'s `file` option to a CSV, or its `data_root` option "
            f"(or the environment variable {DATA_ROOT_ENV}) to the folder that holds {folder}/"
        )
    found = find_split_files(root, owner, (folder,), {"test": stem}, ["test"], (".csv.gz", ".csv"))
    return found["test"]


def read_term_examples(
    path: Path,
    columns: Mapping[str, str | None],
    toxic_values: Sequence[str],
    non_toxic_values: Sequence[str],
    identity_terms: Sequence[str] | None,
    owner: str,
) -> TermExamples:
    """Read one evaluation set (module docstring).

    Args:
        path: the file.
        columns: ``text`` and ``label`` column names, optional ``term`` and ``template`` (``None``: absent).
        toxic_values, non_toxic_values: the label spellings of each class (case-insensitive).
        identity_terms: term list files for matching when there is no term column; default the project's list.
        owner: the evaluation's name, for messages.
    """
    where = f"{owner} ({path})"
    table = read_split_file("test", str(path), option=f"{owner}.file")
    wanted = {role: columns.get(role) for role in ("text", "label", "term", "template")}
    for role in ("text", "label"):
        if not wanted[role]:
            raise ValueError(f"{owner}: columns.{role} is not set; name the file's {role} column")
    missing = {role: name for role, name in wanted.items() if name and name not in table.column_names}
    if missing:
        raise ValueError(
            f"{where}: no column(s) {list(missing.values())} (columns.{', columns.'.join(missing)}); the file has "
            f"{table.column_names}. Set {owner}'s `columns` option to the file's names"
        )
    texts = [text if isinstance(text, str) else "" for text in column_values(table, wanted["text"])]
    toxic = _toxic_flags(column_values(table, wanted["label"]), toxic_values, non_toxic_values, where, wanted["label"])
    if wanted["term"]:
        row_terms = [str(term).strip() for term in column_values(table, wanted["term"])]
        terms = sorted({term for term in row_terms if term})
        index = {term: i for i, term in enumerate(terms)}
        membership = np.zeros((len(texts), len(terms)), dtype=bool)
        for row, term in enumerate(row_terms):
            if term:
                membership[row, index[term]] = True
    else:
        terms, membership = _matched_terms(texts, identity_terms, owner, where)
    templates = [str(value) for value in column_values(table, wanted["template"])] if wanted["template"] else None
    return TermExamples(texts, toxic, terms, membership, templates, str(path))


def _toxic_flags(values: list, toxic_values: Sequence[str], non_toxic_values: Sequence[str], where: str,
                 column: str) -> np.ndarray:
    """1 for a toxic spelling, 0 for a non-toxic one; ``ValueError`` naming the first row with neither."""
    toxic = {str(value).casefold() for value in toxic_values}
    non_toxic = {str(value).casefold() for value in non_toxic_values}
    flags = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        spelled = str(value).strip().casefold()
        if spelled in toxic:
            flags[row] = 1
        elif spelled in non_toxic:
            flags[row] = 0
        else:
            raise ValueError(
                f"{where}, row {row}, column {column!r}: label {value!r} is neither toxic {list(toxic_values)} nor "
                f"non-toxic {list(non_toxic_values)}; set the toxic_values / non_toxic_values options"
            )
    return flags


def _matched_terms(texts: list[str], identity_terms: Sequence[str] | None, owner: str,
                   where: str) -> tuple[list[str], np.ndarray]:
    """The terms the texts mention and the ``[N, T]`` membership; the never-mentioned terms named in a warning."""
    terms = load_term_lists(identity_terms, f"{owner}.identity_terms")
    matcher = IdentityTermMatcher(terms)
    membership = np.zeros((len(texts), len(terms)), dtype=bool)
    for row, text in enumerate(texts):
        membership[row, matcher.mentioned(text)] = True
    present = membership.any(axis=0)
    lists = sorted({term.origin for term in terms})
    if not present.any():
        raise ValueError(
            f"{where}: no text mentions any of the {len(terms)} identity terms of {lists}; give the term lists the "
            f"set was written with ({owner}'s identity_terms option) or a term column (columns.term)"
        )
    absent = [term.term for term, found in zip(terms, present, strict=True) if not found]
    if absent:
        warnings.warn(
            f"{where}: {len(absent)} of the {len(terms)} identity terms of {lists} occur in no text and are left out "
            f"of the report: {absent}",
            stacklevel=3,
        )
    kept = np.flatnonzero(present)
    # a term listed twice (two lists) is one column
    names, columns = [], []
    for index in kept:
        if terms[index].term not in names:
            names.append(terms[index].term)
            columns.append(membership[:, index])
        else:
            merged = names.index(terms[index].term)
            columns[merged] = columns[merged] | membership[:, index]
    return names, np.stack(columns, axis=1)


def subsample(examples: TermExamples, max_examples: int | None, seed: int) -> TermExamples:
    """At most ``max_examples`` rows, a seeded choice without replacement kept in file order (all when ``None``).

    Terms left without a row are dropped with a warning, as in :func:`read_term_examples`.
    """
    if max_examples is None or max_examples >= len(examples.texts):
        return examples
    rows = np.sort(np.random.default_rng(seed).choice(len(examples.texts), max_examples, replace=False))
    membership = examples.membership[rows]
    present = membership.any(axis=0)
    if not present.any():
        raise ValueError(
            f"{examples.where}: the subsample of {max_examples} rows mentions no identity term; raise max_examples"
        )
    if not present.all():
        absent = [term for term, found in zip(examples.terms, present, strict=True) if not found]
        warnings.warn(
            f"{examples.where}: the subsample of {max_examples} rows holds no text of the terms {absent}; they are "
            "left out of the report (raise max_examples to keep them)",
            stacklevel=2,
        )
    keep = np.flatnonzero(present)
    return TermExamples(
        [examples.texts[i] for i in rows], examples.toxic[rows], [examples.terms[i] for i in keep],
        membership[:, keep], [examples.templates[i] for i in rows] if examples.templates is not None else None,
        examples.where,
    )

