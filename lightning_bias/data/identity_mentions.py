"""Which identity terms a text mentions: the term lists (the project's own, or a user's files) and the matching.

A text mentions a term when the term's words occur in it as consecutive words, whatever their case and the
punctuation around or between them: ``Gay``, ``gay,``, ``#gay`` and ``gay-friendly`` mention "gay";
``African-American`` mentions "african american"; ``muslim's`` mentions "muslim". The last word of a term
also matches its plural in -s (``gays``, ``muslims``); irregular plurals ("women") are terms of their own.
Words are runs of letters and digits (Unicode-aware), so "transport" does not mention "trans".

A term list is a UTF-8 text file, one term a line, blank lines and ``#`` comments skipped; a second,
tab-separated column names the term's *family* (``gay<TAB>sexual_orientation``). A number there is a weight
and is ignored (the format of ``identity_gab.csv`` of Kennedy et al.), and a term without a family belongs
to the family named after the file (``identity.csv`` -> ``identity``). The project's own list,
``identity_terms.txt`` beside this module, has eight families: gender, sexual_orientation, gender_identity,
race_ethnicity, religion, nationality, age, disability.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_TERM_LIST = Path(__file__).with_name("identity_terms.txt")
_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    """The words of ``text``, case-folded, without punctuation: what terms are matched against."""
    return [word.casefold() for word in _WORD.findall(text)]


@dataclass(frozen=True)
class IdentityTerm:
    """One identity term: as written in its list, its family, its words, and the list it comes from."""

    term: str
    family: str
    words: tuple[str, ...]
    origin: str


def read_term_list(path: str | Path, option: str) -> list[IdentityTerm]:
    """The terms of one list file (format in the module docstring).

    ``ValueError`` naming ``option`` and the file when it is absent, not UTF-8 text, or holds no term, and
    naming the line when a term has no word in it.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(
            f"{option}: identity term list {str(path)!r} does not exist or is not a file; give the path of a "
            "text file with one term a line"
        )
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{option}: identity term list {str(path)!r} is not UTF-8 text ({err})") from None
    terms = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        term, _, second = (part.strip() for part in line.partition("\t"))
        words = tuple(words_of(term))
        if not words:
            raise ValueError(
                f"{option}: identity term list {str(path)!r}, line {number}: {term!r} has no word in it; "
                "write one term a line, optionally followed by a tab and its family"
            )
        family = file.stem if not second or _is_number(second) else second
        terms.append(IdentityTerm(term, family, words, str(path)))
    if not terms:
        raise ValueError(f"{option}: identity term list {str(path)!r} holds no term; write one term a line")
    return terms


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load_term_lists(paths: Sequence[str] | None, option: str) -> list[IdentityTerm]:
    """The terms of the given list files, in order, or the project's own list when ``paths`` is empty."""
    return [term for path in (paths or [PROJECT_TERM_LIST]) for term in read_term_list(path, option)]


class IdentityTermMatcher:
    """Finds the identity terms a text mentions (matching rules in the module docstring)."""

    def __init__(self, terms: Iterable[IdentityTerm]) -> None:
        self.terms = list(terms)
        self._by_first_word: dict[str, list[int]] = {}
        for index, term in enumerate(self.terms):
            self._by_first_word.setdefault(term.words[0], []).append(index)

    def mentioned(self, text: str) -> list[int]:
        """Indices into ``terms`` of the terms ``text`` mentions, sorted, each once."""
        words = words_of(text)
        found: set[int] = set()
        for start, word in enumerate(words):
            keys = (word, word[:-1]) if word.endswith("s") else (word,)
            for key in keys:
                for index in self._by_first_word.get(key, ()):
                    if index not in found and _matches_at(words, start, self.terms[index].words):
                        found.add(index)
        return sorted(found)

    def families(self, text: str) -> frozenset[str]:
        """The families of the terms ``text`` mentions."""
        return frozenset(self.terms[index].family for index in self.mentioned(text))


def _matches_at(words: list[str], start: int, term: tuple[str, ...]) -> bool:
    """Whether ``term`` occurs at ``words[start]``, its last word possibly with a plural -s."""
    end = start + len(term)
    if end > len(words) or list(words[start : end - 1]) != list(term[:-1]):
        return False
    return words[end - 1] in (term[-1], term[-1] + "s")
