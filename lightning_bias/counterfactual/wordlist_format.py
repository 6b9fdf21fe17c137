"""The word-list file format of the counterfactual swapper, its parser and its validation.

A word list is a UTF-8 text file, one entry per line; blank lines and lines starting with ``#``
are ignored. Columns are separated by TAB characters (spaces inside a column belong to a
multi-word term such as ``african american``). Two kinds of entries:

``word<TAB>word[<TAB>word...]``
    A group of counterparts. In a pair (two words) each word becomes the other. In a larger
    group (race and religion triples) each word becomes one of the others, chosen at random
    once per swapper, deterministically from its seed. Every group line of one file must have
    the same number of words.

``word<TAB>=><TAB>target`` or ``word<TAB>=><TAB>before_noun|otherwise``
    A one-way rule: ``word`` becomes ``target`` but not the reverse (``mrs => mr`` when ``mr``
    is already paired with ``ms``). With two ``|``-separated targets the choice depends on the
    next word: the first when a noun phrase follows ("her book" -> "his book"), the second
    otherwise ("saw her." -> "saw him."); see :mod:`.pronoun_context`.

Words are matched case-insensitively as whole words; they must start and end with a letter
or digit (write ``mr``, not ``mr.``: the period in the text is kept). A word may be the source
of only one entry across all lists a swapper is built from; repeating the same entry is
allowed, a conflicting one is a ``ValueError`` naming both places.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OneWayRule", "WordGroup", "WordList", "normalize_term", "parse_word_list", "read_word_list"]

_ONE_WAY_MARKER = "=>"
_ALTERNATIVE_SEPARATOR = "|"
_VALID_TERM = re.compile(r"\w(?:[^\t|]*\w)?\Z")


def normalize_term(term: str) -> str:
    """Lookup key of a term: lower case, inner whitespace collapsed to one space."""
    return " ".join(term.lower().split())


@dataclass(frozen=True)
class WordGroup:
    """Counterpart words (k >= 2), as written in the list; ``source`` is ``"file:line"``."""

    words: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class OneWayRule:
    """``word`` becomes ``targets[0]``, or ``targets[0]``/``targets[1]`` by context; ``source`` is ``"file:line"``."""

    word: str
    targets: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class WordList:
    """Parsed entries of one word list. ``is_names`` marks first-name lists (scrubbing replaces them)."""

    groups: tuple[WordGroup, ...]
    rules: tuple[OneWayRule, ...]
    source: str
    is_names: bool = False

    @classmethod
    def from_groups(
        cls,
        groups: Iterable[Sequence[str]],
        rules: Iterable[tuple[str, str | Sequence[str]]] = (),
        *,
        source: str = "<python>",
        is_names: bool = False,
    ) -> WordList:
        """Build a list from Python data, validated like a file: ``groups=[("he", "she")]``, ``rules=[("mrs", "mr")]``."""
        lines = ["\t".join(group) for group in groups]
        for word, targets in rules:
            target_text = targets if isinstance(targets, str) else _ALTERNATIVE_SEPARATOR.join(targets)
            lines.append(f"{word}\t{_ONE_WAY_MARKER}\t{target_text}")
        return parse_word_list("\n".join(lines), source=source, is_names=is_names)


def _check_term(term: str, where: str, column: int) -> str:
    if not term:
        raise ValueError(f"{where}: empty word in column {column}; remove the extra TAB or fill in the word.")
    if not _VALID_TERM.match(term):
        raise ValueError(
            f"{where}: {term!r} in column {column} is not a valid word: it must start and end with a letter or digit "
            f"and must not contain '|' (write 'mr', not 'mr.')."
        )
    return term


def parse_word_list(text: str, *, source: str, is_names: bool = False) -> WordList:
    """Parse word-list ``text``; errors are ``ValueError("<source>:<line>: ...")``."""
    groups: list[WordGroup] = []
    rules: list[OneWayRule] = []
    group_size: tuple[int, int] | None = None  # (number of words, line number that fixed it)
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{line_number}"
        columns = [column.strip() for column in raw_line.rstrip("\r\n").split("\t")]
        if len(columns) == 1:
            raise ValueError(
                f"{where}: found one column {stripped!r}; separate counterpart words with a TAB character "
                f"(e.g. 'he<TAB>she'), or write a one-way rule 'word<TAB>=><TAB>target'."
            )
        if _ONE_WAY_MARKER in columns:
            if len(columns) != 3 or columns[1] != _ONE_WAY_MARKER:
                raise ValueError(
                    f"{where}: a one-way rule has exactly three columns 'word<TAB>=><TAB>target', got {len(columns)}: "
                    f"{stripped!r}."
                )
            word = _check_term(columns[0], where, 1)
            targets = tuple(
                _check_term(target.strip(), where, 3) for target in columns[2].split(_ALTERNATIVE_SEPARATOR)
            )
            if len(targets) > 2:
                raise ValueError(
                    f"{where}: a one-way rule takes one target or two alternatives 'before_noun|otherwise', "
                    f"got {len(targets)}: {columns[2]!r}."
                )
            rules.append(OneWayRule(word, targets, where))
            continue
        words = tuple(_check_term(column, where, index) for index, column in enumerate(columns, start=1))
        if group_size is None:
            group_size = (len(words), line_number)
        elif len(words) != group_size[0]:
            raise ValueError(
                f"{where}: wrong column count: {len(words)} words, but line {group_size[1]} has {group_size[0]}; "
                f"every group in one file must have the same size (use one file per group size)."
            )
        keys = [normalize_term(word) for word in words]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}: the same word appears twice in one group: {stripped!r}.")
        groups.append(WordGroup(words, where))
    return WordList(tuple(groups), tuple(rules), source, is_names)


def read_word_list(path: str | Path, *, is_names: bool = False) -> WordList:
    """Read and parse a word-list file (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"word list {str(path)!r} does not exist.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"word list {str(path)!r} is not valid UTF-8 ({error}).") from None
    return parse_word_list(text, source=str(path), is_names=is_names)
