"""One compiled whole-word regex for a vocabulary of lower-case terms, factored as a trie.

A flat alternation ``\\b(?:he|she|...)\\b`` makes Python's ``re`` try every alternative at
every position (~50x slower on 500 terms). Factoring common prefixes into a trie
(``h(?:e(?:rs?|...)?|is|...)``) keeps the work per position to a few character tests. The
pattern is case-sensitive and meant to run on lower-cased text: on a 10 MB corpus that is
~2.5x faster than ``re.IGNORECASE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["compile_term_pattern"]

_END = ""
_WHITESPACE_RUN = r"\s+"


def _character(character: str) -> str:
    return _WHITESPACE_RUN if character == " " else re.escape(character)


def _trie_regex(node: dict) -> str:
    branches: list[str] = []
    last_characters: list[str] = []  # children that end a term and have no continuation
    for character in sorted(key for key in node if key != _END):
        child = node[character]
        if list(child) == [_END] and character != " ":
            last_characters.append(character)
        else:
            branches.append(_character(character) + _trie_regex(child))
    if last_characters:
        if len(last_characters) == 1:
            branches.append(re.escape(last_characters[0]))
        else:
            branches.append("[" + "".join(re.escape(c) for c in last_characters) + "]")
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        body = f"(?:{body})?"  # greedy: the longest term is tried first, then shorter ones
    return body


def compile_term_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Compile ``\\b(?:trie)\\b`` over ``terms`` (lower case, single spaces; a space matches any whitespace run).

    Raises ValueError for an empty vocabulary.
    """
    trie: dict = {}
    for term in terms:
        node = trie
        for character in term:
            node = node.setdefault(character, {})
        node[_END] = {}
    if not trie:
        raise ValueError(
            "cannot build a term pattern from an empty vocabulary; the word lists contain no words."
        )
    return re.compile(rf"\b(?:{_trie_regex(trie)})\b")
