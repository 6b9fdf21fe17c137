"""The protected group of a text about identities: the policy for texts that mention none or several.

Toxicity and sentiment data carry no protected-attribute column; the group of a text is the identity it
concerns, found by identity-term matching (``lightning_bias.data.identity_mentions``) or, for the Gab Hate
Corpus, read from its annotated target columns. The policy, chosen with ``group_by``:

- ``mention``: two groups, ``mention`` (the text mentions at least one term) and ``no_mention``; the
  report's ``train_cooccurrence`` then holds P(mention | label), the measured mention rate per label.
- ``identity``: one group per family for a text concerning exactly one family (two terms of one family
  count as that family), ``none`` for a text concerning none, ``multiple`` for two families or more.

A group that no row of any split falls in is left out of the group names, so that the report holds no
group that is empty by construction; the families left out are named in one warning. A term list that matches
no text at all is an error; with several lists, one that matches no text is named in a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from lightning_bias.data.identity_mentions import IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.base import LabelledSplits
from lightning_bias.data.sources.named_splits import (
    NamedRows,
    column_values,
    named_splits,
    names_of,
    require_columns,
)
from lightning_bias.data.tables import Table

GROUP_BY = ("mention", "identity")
MENTION, NO_MENTION = "mention", "no_mention"
NONE, MULTIPLE = "none", "multiple"
TERMS_OPTION = "data.source_options.identity_terms"


def family_groups(
    families: Mapping[str, Sequence[frozenset[str]]], family_order: Sequence[str], dataset: str
) -> tuple[list[str], dict[str, list[str]]]:
    """The ``identity`` policy: each row's group from the families it concerns, and the group names.

    Args:
        families: per split, the families each row concerns.
        family_order: every family that could occur, in the order its groups are named.
        dataset: the data's name, for the warning about the families left out.

    Returns the group names (families with rows in ``family_order``'s order, then ``none`` and ``multiple``
    when rows fall in them) and, per split, each row's group name.
    """
    groups = {
        split: [NONE if not found else next(iter(found)) if len(found) == 1 else MULTIPLE for found in rows]
        for split, rows in families.items()
    }
    used = {group for rows in groups.values() for group in rows}
    concerned = {family for rows in families.values() for found in rows for family in found}
    never = [family for family in family_order if family not in concerned]
    only_with_others = [family for family in family_order if family in concerned and family not in used]
    reasons = []
    if never:
        reasons.append(f"{never} (no text concerns them)")
    if only_with_others:
        reasons.append(f"{only_with_others} (only texts that also concern another family do: {MULTIPLE})")
    if reasons:
        warnings.warn(f"{dataset}: identity families left out of the groups: {'; '.join(reasons)}", stacklevel=3)
    names = [family for family in family_order if family in used] + [g for g in (NONE, MULTIPLE) if g in used]
    return names, groups


class IdentityGrouping:
    """Groups texts by the identity terms they mention, under the ``group_by`` policy (module docstring).

    Args:
        group_by: ``mention`` or ``identity``.
        identity_terms: term list files (``identity_mentions`` format); default the project's own list.
    """

    def __init__(self, group_by: str = "mention", identity_terms: Sequence[str] | None = None) -> None:
        if group_by not in GROUP_BY:
            raise ValueError(
                f"data.source_options.group_by: unknown policy {group_by!r}; use one of {list(GROUP_BY)}"
            )
        if isinstance(identity_terms, str):
            identity_terms = [identity_terms]
        self.group_by = group_by
        self.identity_terms = list(identity_terms or [])

    def groups(self, texts: Mapping[str, Sequence[str]], dataset: str) -> tuple[list[str], dict[str, list[str]]]:
        """The group names and, per split, each text's group name.

        ``ValueError`` naming the term lists when no text of ``dataset`` mentions any of their terms.
        """
        terms = load_term_lists(self.identity_terms, TERMS_OPTION)
        matcher = IdentityTermMatcher(terms)
        mentioned = {
            split: [matcher.mentioned(text if isinstance(text, str) else "") for text in rows]
            for split, rows in texts.items()
        }
        used_lists = self._lists_that_match(terms, mentioned, dataset)
        if self.group_by == "mention":
            groups = {split: [MENTION if found else NO_MENTION for found in rows] for split, rows in mentioned.items()}
            used = {group for rows in groups.values() for group in rows}
            return [group for group in (NO_MENTION, MENTION) if group in used], groups
        families = {
            split: [frozenset(terms[index].family for index in found) for found in rows]
            for split, rows in mentioned.items()
        }
        family_order = list(dict.fromkeys(term.family for term in terms if term.origin in used_lists))
        return family_groups(families, family_order, dataset)

    def labelled_splits(
        self,
        tables: Mapping[str, Table],
        where: Mapping[str, str],
        columns: tuple[str, str],
        label_names: Mapping[Any, str],
        dataset: str,
    ) -> LabelledSplits:
        """Raw tables with a text and a label column as labelled splits, each text grouped by this policy.

        Args:
            tables, where: the raw table of each split and where it comes from (for messages).
            columns: the text column and the label column.
            label_names: each raw label value's name, in label id order (``{0: "not_hate", 1: "hate"}``).
            dataset: the data's name, for messages.
        """
        text_column, label_column = columns
        for split, table in tables.items():
            require_columns(table, [text_column, label_column], where[split])
        texts = {split: column_values(table, text_column) for split, table in tables.items()}
        group_names, groups = self.groups(texts, dataset)
        rows = {
            split: NamedRows(
                texts[split], names_of(column_values(table, label_column), label_names, where[split], label_column),
                groups[split], where[split],
            )
            for split, table in tables.items()
        }
        return named_splits(rows, list(dict.fromkeys(label_names.values())), group_names, dataset)

    def _lists_that_match(self, terms: list, mentioned: Mapping[str, list[list[int]]], dataset: str) -> set[str]:
        """The term lists some text mentions a term of; an error when there is none, a warning naming the others."""
        used_origins = {terms[index].origin for rows in mentioned.values() for found in rows for index in found}
        origins = list(dict.fromkeys(term.origin for term in terms))
        if not used_origins:
            raise ValueError(
                f"{TERMS_OPTION}: no text of {dataset} mentions any of the {len(terms)} terms of {origins}; "
                "check that the list is the one meant, with one term a line (optionally term<TAB>family)"
            )
        unused = [origin for origin in origins if origin not in used_origins]
        if unused:
            warnings.warn(
                f"{TERMS_OPTION}: no text of {dataset} mentions any term of {unused}; those lists group nothing",
                stacklevel=3,
            )
        return used_origins
