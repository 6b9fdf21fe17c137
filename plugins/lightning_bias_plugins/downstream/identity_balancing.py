"""Identity balancing (Dixon et al. 2018): non-toxic texts that mention identity terms, added until each term's
toxic rate in the train split is no higher than the background rate.

A toxicity classifier learns "gay" -> toxic when most train texts that mention "gay" are toxic. Dixon et al.
added non-toxic Wikipedia sentences that mention each over-represented term until its toxic share matched the
data's overall share. Here, with ``T_t`` toxic texts among the ``n_t`` train texts that mention term ``t`` and
the target rate ``b`` (the train split's toxic share before balancing), term ``t`` needs
``ceil(T_t / b - n_t)`` more non-toxic texts that mention it. Terms are served from the largest need down;
each snippet is used at most once, in a seeded random order, and counts for every term it mentions, so a
later term may need fewer. A term whose snippets run out stays above the target: it is named in a warning
and in the report (``unreached``).

Snippets come from ``toxicity_debiasing_data.tsv.gz`` (Dixon et al.'s non-toxic Wikipedia sentences, its
``split == train`` rows) under the data root, or from a user's file (``file``, ``text_column``; ``file_split:
null`` takes every row). Terms are matched as by the toxicity sources (:mod:`lightning_bias.data.identity_mentions`)
with ``identity_terms`` (default the project's list). An added row's group follows the table's grouping:
``mention`` for mention / no_mention groups, else the one identity family its terms belong to (``multiple``
for several); a snippet whose group the table does not have is not used.

Only the train split changes. ``self.summary`` (the bias report's ``identity_balancing`` in the validation
and test reports) holds the target, the rows before and after, the snippets available, usable and used, and
per term mentioned in train its rows and toxic rate (with a Wilson interval) before and after.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.data.identity_mentions import IdentityTerm, IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.data_root import DATA_ROOT_ENV, data_root, find_split_files
from lightning_bias.data.sources.files import read_split_file
from lightning_bias.data.sources.named_splits import column_values
from lightning_bias.metrics.functional import wilson_interval
from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.downstream.group_label_counts import column_names_of, resolve_id

OWNER = "identity_balancing"
MENTION_GROUPS = ("mention", "no_mention")
MULTIPLE = "multiple"


def needed_snippets(toxic: int, rows: int, target: float) -> int:
    """Non-toxic rows to add so that ``toxic / (rows + added) <= target`` (0 when it already holds).

    >>> needed_snippets(30, 50, 0.2)  # 30 / 150 = 0.2
    100
    """
    if toxic == 0 or toxic <= target * rows:
        return 0
    return math.ceil(toxic / target - rows - 1e-9)


class IdentityBalancing(Mitigation):
    """Add non-toxic identity-term snippets to the train split until no term's toxic rate exceeds the background.

    Args:
        file: the snippet file (CSV/TSV/JSONL/Parquet, optionally gzipped); default Dixon et al.'s
            ``wiki_toxicity_dixon2018/toxicity_debiasing_data.tsv.gz`` under the data root.
        data_root: the folder holding ``wiki_toxicity_dixon2018/``; default ``LIGHTNING_BIAS_DATA``.
        text_column: the snippet file's text column.
        file_split: take only the rows whose ``split`` column has this value (Dixon et al. keep ``dev`` and
            ``test`` snippets apart); ``null`` takes every row.
        identity_terms: term list files; default the project's list (use the data source's own).
        toxic_label: the toxic label by name or id; default the second of two labels.
        seed: seeds the order in which snippets are taken.
    """

    stage = "downstream"
    report_name = "identity_balancing"

    def __init__(
        self,
        file: str | None = None,
        data_root: str | None = None,
        text_column: str = "comment",
        file_split: str | None = "train",
        identity_terms: Sequence[str] | None = None,
        toxic_label: str | int | None = None,
        seed: int = 0,
    ) -> None:
        self.file = file
        self.data_root = data_root
        self.text_column = text_column
        self.file_split = file_split
        self.identity_terms = [identity_terms] if isinstance(identity_terms, str) else identity_terms
        self.toxic_label = toxic_label
        self.seed = seed
        self.summary: dict[str, Any] = {}

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """``self.summary`` in the validation and test reports."""
        return self.summary if self.summary and split in ("val", "test") else None

    # --- the transform --------------------------------------------------------------------------

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """The train split with the snippets appended as non-toxic rows; other splits unchanged."""
        if split != "train":
            return table
        label_names, group_names = column_names_of(table, "label"), column_names_of(table, "group")
        if label_names is None or group_names is None:
            raise ValueError(f"{OWNER}: the train table carries no label or group names (ClassLabel features); "
                             "it needs them to label and group the added snippets")
        extra = [column for column in table.column_names if column not in ("text", "label", "group")]
        if extra:
            raise ValueError(f"{OWNER}: the train table has columns {extra} besides text, label and group, which the "
                             "added snippets cannot fill; list identity_balancing before the mitigation that adds them")
        if len(label_names) != 2:
            raise ValueError(f"{OWNER}: the task has {len(label_names)} labels {label_names}; identity balancing is "
                             "for binary toxicity tasks")
        toxic_id = 1 if self.toxic_label is None else resolve_id(self.toxic_label, table, "label", f"{OWNER}: toxic_label")
        non_toxic_id = 1 - toxic_id
        terms = load_term_lists(self.identity_terms, f"{OWNER}.identity_terms")
        matcher = IdentityTermMatcher(terms)
        toxic = np.asarray(table["label"], dtype=np.int64) == toxic_id
        train_membership = self._membership([matcher.mentioned(t) for t in column_values(table, "text")], len(terms))
        rows = train_membership.sum(axis=0)
        toxic_rows = train_membership[toxic].sum(axis=0)
        target = float(toxic.mean())
        snippets, snippet_terms, available = self._snippets(matcher)
        groups = [self._group_of(found, terms, group_names) for found in snippet_terms]
        usable = [i for i, group in enumerate(groups) if group is not None]
        order = np.random.default_rng(self.seed).permutation(usable).tolist() if usable else []
        added = np.zeros(len(terms), dtype=np.int64)
        chosen: list[int] = []
        taken: set[int] = set()
        needs = [needed_snippets(int(toxic_rows[t]), int(rows[t]), target) for t in range(len(terms))]
        for t in sorted(range(len(terms)), key=lambda t: -needs[t]):
            need = needed_snippets(int(toxic_rows[t]), int(rows[t] + added[t]), target)
            for index in order:
                if need <= 0:
                    break
                if index in taken or t not in snippet_terms[index]:
                    continue
                taken.add(index)
                chosen.append(index)
                added[snippet_terms[index]] += 1
                need -= 1
        self.summary = self._summary(terms, rows, toxic_rows, added, target, label_names[toxic_id], len(table),
                                     len(chosen), available, len(usable))
        if self.summary["unreached"]:
            warnings.warn(
                f"{OWNER}: the snippets ran out before the toxic rate of {self.summary['unreached']} came down to "
                f"the background rate {target:.4f}; give more snippets (file) or accept the rates in the report",
                stacklevel=2,
            )
        rank_zero_info(f"{OWNER}: {len(chosen)} non-toxic snippets added to {len(table)} train rows; target toxic "
                       f"rate {target:.4f}; " + ", ".join(
                           f"{term} {row['toxic_rate_before']:.3f} -> {row['toxic_rate_after']:.3f}"
                           for term, row in self.summary["terms"].items() if row["added"]))
        if not chosen:
            return table
        new_rows = datasets.Dataset.from_dict(
            {"text": [snippets[i] for i in chosen], "label": [non_toxic_id] * len(chosen),
             "group": [group_names.index(groups[i]) for i in chosen]},
            features=datasets.Features({"text": table.features["text"], "label": table.features["label"],
                                        "group": table.features["group"]}),
        )
        return datasets.concatenate_datasets([table, new_rows])

    @staticmethod
    def _membership(mentioned: list[list[int]], num_terms: int) -> np.ndarray:
        membership = np.zeros((len(mentioned), num_terms), dtype=bool)
        for row, found in enumerate(mentioned):
            membership[row, found] = True
        return membership

    def _snippet_file(self) -> Path:
        if self.file:
            return Path(self.file).expanduser()
        root = data_root(self.data_root)
        if root is None:
            raise ValueError(
                f"{OWNER}: no snippet file given; set its `file` option, or its `data_root` option (or the environment "
                f"variable {DATA_ROOT_ENV}) to the folder that holds wiki_toxicity_dixon2018/"
            )
        return find_split_files(root, OWNER, ("wiki_toxicity_dixon2018",), {"train": "toxicity_debiasing_data"},
                                ["train"], (".tsv.gz", ".tsv"))["train"]

    def _snippets(self, matcher: IdentityTermMatcher) -> tuple[list[str], list[list[int]], int]:
        """The snippet texts that mention a term, the terms each mentions, and the rows available."""
        path = self._snippet_file()
        raw = read_split_file("train", str(path), option=f"{OWNER}.file")
        wanted = [self.text_column] + (["split"] if self.file_split is not None else [])
        missing = [column for column in wanted if column not in raw.column_names]
        if missing:
            advice = " (file_split: null takes every row)" if "split" in missing else ""
            raise ValueError(f"{OWNER}: {path} has no column(s) {missing}; it has {raw.column_names}. Set "
                             f"text_column{' / file_split' if advice else ''}{advice}")
        texts = column_values(raw, self.text_column)
        if self.file_split is not None:
            splits = column_values(raw, "split")
            texts = [text for text, split in zip(texts, splits, strict=True) if split == self.file_split]
            if not texts:
                raise ValueError(f"{OWNER}: no row of {path} has split == {self.file_split!r}; set file_split")
        texts = [text for text in texts if isinstance(text, str) and text.strip()]
        mentioned = [matcher.mentioned(text) for text in texts]
        keep = [i for i, found in enumerate(mentioned) if found]
        return [texts[i] for i in keep], [mentioned[i] for i in keep], len(texts)

    @staticmethod
    def _group_of(found: list[int], terms: list[IdentityTerm], group_names: list[str]) -> str | None:
        """The group of a snippet mentioning ``found`` under the table's grouping, ``None`` if it has none."""
        if set(group_names) <= set(MENTION_GROUPS):
            return "mention" if "mention" in group_names else None
        families = {terms[index].family for index in found}
        group = next(iter(families)) if len(families) == 1 else MULTIPLE
        return group if group in group_names else None

    def _summary(self, terms: list[IdentityTerm], rows: np.ndarray, toxic_rows: np.ndarray, added: np.ndarray,
                 target: float, toxic_name: str, rows_before: int, rows_added: int, available: int,
                 usable: int) -> dict[str, Any]:
        low, high = wilson_interval(torch.as_tensor(toxic_rows), torch.as_tensor(rows))
        per_term, seen = {}, set()
        for t, term in enumerate(terms):
            if rows[t] == 0 or term.term in seen:
                continue
            seen.add(term.term)
            per_term[term.term] = {
                "n_before": int(rows[t]),
                "toxic_before": int(toxic_rows[t]),
                "toxic_rate_before": round(float(toxic_rows[t] / rows[t]), 6),
                "toxic_rate_before_ci95": [round(float(low[t]), 6), round(float(high[t]), 6)],
                "added": int(added[t]),
                "n_after": int(rows[t] + added[t]),
                "toxic_rate_after": round(float(toxic_rows[t] / (rows[t] + added[t])), 6),
            }
        unreached = [term for term, row in per_term.items() if row["toxic_rate_after"] > target + 1e-9]
        toxic_total = round(target * rows_before)
        return {
            "toxic_label": toxic_name,
            "target_rate": round(target, 6),
            "toxic_rate_after": round(toxic_total / (rows_before + rows_added), 6),
            "rows_before": rows_before,
            "rows_added": rows_added,
            "rows_after": rows_before + rows_added,
            "snippets": {"available": available, "usable": usable, "used": rows_added},
            "seed": self.seed,
            "terms": per_term,
            "terms_not_in_train": sorted({term.term for term in terms} - set(per_term)),
            "unreached": unreached,
        }
