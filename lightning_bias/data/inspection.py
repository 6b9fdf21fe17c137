"""What ``lightning_bias data inspect`` measures of a data set: the statistics only, no printing.

``inspect_splits`` takes the classification tables per split (columns ``text``, ``label``, ``group``, as
``BiasDataModule.load_transformed`` gives them, before or after the mitigations' transforms) and returns,
as JSON-able data::

    {"label_names": [...], "group_names": [...], "tokenizer": str, "max_length": int,
     "splits": {split: {
         "rows": int,
         "counts": {label: {group: int}}, "label_counts": {label: int}, "group_counts": {group: int},
         "p_group_given_label": {label: {group: float | None}},   # None for a label without rows
         "p_label_given_group": {group: {label: float | None}},   # None for a group without rows
         "token_lengths": {"min", "p50", "p90", "p95", "p99", "max", "mean",
                           "over_max_length": rows longer than max_length (they are truncated),
                           "over_max_length_share"},
         "empty_texts": rows whose text is empty or only whitespace,
         "duplicates": {"rows": rows whose text occurs earlier in the split,
                        "texts": distinct texts occurring more than once,
                        "texts_with_several_labels": distinct texts occurring with more than one label}}},
     "shared_texts": [{"splits": [a, b], "texts": distinct texts in both, "rows": {a: int, b: int}}]}

Texts are compared exactly, surrounding whitespace ignored. Token lengths count the tokenizer's special
tokens, without truncation; the percentiles are observed lengths (the smallest length at or above which
the given share of rows lies: numpy's ``inverted_cdf``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from lightning_bias.data.step_progress import advance_data_step, data_step
from lightning_bias.data.tables import Table

PERCENTILES = (50, 90, 95, 99)
TOKENIZE_BATCH = 2048


def _rates(counts: np.ndarray, rows: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """``counts[i, j] / counts[i].sum()`` by name, ``None`` for an empty row."""
    totals = counts.sum(axis=1)
    return {row: {column: (float(counts[i, j] / totals[i]) if totals[i] else None) for j, column in enumerate(columns)}
            for i, row in enumerate(rows)}


def token_lengths(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int,
                  description: str) -> dict[str, Any]:
    """Percentiles of the token lengths of ``texts`` (special tokens counted, no truncation)."""
    lengths: list[int] = []
    with data_step(description, len(texts)):
        for start in range(0, len(texts), TOKENIZE_BATCH):
            batch = list(texts[start : start + TOKENIZE_BATCH])
            encoded = tokenizer(batch, add_special_tokens=True, truncation=False, verbose=False,
                                return_attention_mask=False, return_token_type_ids=False)
            lengths += [len(ids) for ids in encoded["input_ids"]]
            advance_data_step(len(batch))
    values = np.asarray(lengths, dtype=np.int64)
    if not len(values):
        return {"min": None, "max": None, "mean": None, "over_max_length": 0, "over_max_length_share": None,
                **{f"p{q}": None for q in PERCENTILES}}
    over = int((values > max_length).sum())
    return {
        "min": int(values.min()),
        **{f"p{q}": int(np.percentile(values, q, method="inverted_cdf")) for q in PERCENTILES},
        "max": int(values.max()),
        "mean": float(values.mean()),
        "over_max_length": over,
        "over_max_length_share": over / len(values),
    }


def _duplicates(texts: Sequence[str], labels: Sequence[int]) -> dict[str, int]:
    seen = Counter(texts)
    labels_of: dict[str, set[int]] = defaultdict(set)
    for text, label in zip(texts, labels, strict=True):
        labels_of[text].add(label)
    return {
        "rows": len(texts) - len(seen),
        "texts": sum(1 for n in seen.values() if n > 1),
        "texts_with_several_labels": sum(1 for text_labels in labels_of.values() if len(text_labels) > 1),
    }


def inspect_split(table: Table, label_names: Sequence[str], group_names: Sequence[str],
                  tokenizer: PreTrainedTokenizerBase, max_length: int, split: str) -> dict[str, Any]:
    """The statistics of one split (the ``splits.<split>`` entry of ``inspect_splits``)."""
    labels = np.asarray(table["label"], dtype=np.int64)
    groups = np.asarray(table["group"], dtype=np.int64)
    raw_texts = table["text"]
    texts = [(text or "").strip() for text in raw_texts]
    counts = np.zeros((len(label_names), len(group_names)), dtype=np.int64)
    np.add.at(counts, (labels, groups), 1)
    return {
        "rows": len(texts),
        "counts": {label: dict(zip(group_names, counts[i].tolist(), strict=True)) for i, label in enumerate(label_names)},
        "label_counts": dict(zip(label_names, counts.sum(axis=1).tolist(), strict=True)),
        "group_counts": dict(zip(group_names, counts.sum(axis=0).tolist(), strict=True)),
        "p_group_given_label": _rates(counts, label_names, group_names),
        "p_label_given_group": _rates(counts.T, group_names, label_names),
        "token_lengths": token_lengths(raw_texts, tokenizer, max_length, f"inspecting {split}: tokenizing"),
        "empty_texts": sum(1 for text in texts if not text),
        "duplicates": _duplicates(texts, labels.tolist()),
    }


def _shared_texts(tables: Mapping[str, Table]) -> list[dict[str, Any]]:
    texts = {split: [(text or "").strip() for text in table["text"]] for split, table in tables.items()}
    distinct = {split: set(values) for split, values in texts.items()}
    shared = []
    for a, b in combinations(tables, 2):
        both = distinct[a] & distinct[b]
        shared.append({"splits": [a, b], "texts": len(both),
                       "rows": {a: sum(text in both for text in texts[a]), b: sum(text in both for text in texts[b])}})
    return shared


def inspect_splits(tables: Mapping[str, Table], label_names: Sequence[str], group_names: Sequence[str],
                   tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict[str, Any]:
    """Every statistic of the module docstring for ``tables`` (split -> table), in the order given."""
    if not tables:
        raise ValueError("data inspect: no split to inspect; the source gave no train, val or test rows")
    return {
        "label_names": list(label_names),
        "group_names": list(group_names),
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "max_length": max_length,
        "splits": {split: inspect_split(table, label_names, group_names, tokenizer, max_length, split)
                   for split, table in tables.items()},
        "shared_texts": _shared_texts(tables),
    }
