"""How often a swap or scrub gets real sentences right, against hand annotations that hold no text.

An annotation file is JSON Lines. Each line points at one sentence of a dataset under a data
root (the project's ``shared/data``) and says, per word, what a correct rewrite does; the
sentence itself is read from the dataset, never stored with the annotations::

    {"source": "wikitext2_raw/wiki.test.raw.gz", "row": 12, "sentence": 3, "sha1": "1f0c2a9e",
     "swap": [[4, "her", "his"], [9, "Mary", "John"]], "scrub": [[4, "her", "their"]]}

- ``source``: a file under the data root: ``*.csv`` (``row`` is the 0-based data row, column
  ``field``, default ``text``), ``*.jsonl`` (``row`` is the 0-based line, key ``field``) or
  ``*.raw.gz`` / ``*.txt`` (``row`` is the 0-based line);
- ``sentence``: the 0-based sentence of that text (:func:`split_sentences`); ``sha1``: the first 8
  hex digits of the sentence's SHA-1, checked so that a changed dataset is an error, not a silent mismatch;
- ``swap`` / ``scrub``: ``[token index, original word, correct replacement]`` for every word that
  must change (:func:`tokenize` numbers the words); every other word must stay. A replacement ``*``
  accepts any other word (an unlisted first name, whose counterpart is arbitrary); ``""`` means the
  word goes, with a period right after it and the following space (a title in scrubbing).

:func:`score` rewrites every sentence and counts words right among those to change and those to
keep, and sentences right as a whole (same words and the same punctuation between them).
"""

from __future__ import annotations

import csv
import difflib
import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "AccuracyCounts",
    "AnnotatedSentence",
    "expected_text",
    "read_annotations",
    "score",
    "sentence_sha1",
    "split_sentences",
    "tokenize",
]

_TOKEN = re.compile(r"\w+(?:['’]\w+)*(?:['’](?!\w))?")
_SENTENCE_END = re.compile(r"[.!?]\s+(?=[\"“(]?\s?[A-Z])")
_ABBREVIATIONS = frozenset("dr mr mrs ms st prof jr sr no vs mt ft gen col lt sgt capt rev".split())
_ANY_OTHER_WORD = "*"
Edit = tuple[int, str, str]


def tokenize(text: str) -> list[re.Match[str]]:
    """The words of ``text`` (letters/digits with inner apostrophes, and a trailing one: "ladies'")."""
    return list(_TOKEN.finditer(text))


def split_sentences(text: str) -> list[str]:
    """``text`` cut after ``. ! ?`` and spaces before a capital, except after abbreviations and initials."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = re.search(r"(\w+)\W*\Z", text[start : match.start() + 1])
        word = before.group(1) if before else ""
        if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
            continue
        sentences.append(text[start : match.start() + 1].strip())
        start = match.end()
    last = text[start:].strip()
    if last:
        sentences.append(last)
    return sentences


def sentence_sha1(sentence: str) -> str:
    """The first 8 hex digits of the SHA-1 of ``sentence`` (UTF-8): the annotations' check of the text."""
    return hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class AnnotatedSentence:
    """One real sentence and its correct edits; ``where`` is ``"file:line"`` of the annotation."""

    text: str
    where: str
    swap: tuple[Edit, ...]
    scrub: tuple[Edit, ...] | None


@lru_cache(maxsize=16)
def _texts(path: Path, field_name: str) -> tuple[str, ...]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return tuple(row[field_name] for row in csv.DictReader(handle))
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            return tuple(json.loads(line)[field_name] for line in handle if line.strip())
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return tuple(handle.read().split("\n"))


def _edits(raw: object, tokens: Sequence[str], where: str, kind: str) -> tuple[Edit, ...]:
    if not isinstance(raw, list):
        raise ValueError(f"{where}: {kind!r} must be a list of [token index, original, replacement]")
    edits = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], int)):
            raise ValueError(f"{where}: {kind} entry {item!r} is not [token index, original, replacement]")
        index, original, replacement = item
        if not 0 <= index < len(tokens) or tokens[index] != original:
            found = tokens[index] if 0 <= index < len(tokens) else "nothing"
            raise ValueError(
                f"{where}: {kind} token {index} should be {original!r} but the sentence has {found!r} there; "
                "fix the index or the word"
            )
        edits.append((index, original, replacement))
    return tuple(sorted(edits))


def read_annotations(path: str | Path, data_root: str | Path) -> list[AnnotatedSentence]:
    """The annotated sentences of ``path``, their text read from the datasets under ``data_root``.

    Raises ``ValueError`` naming the annotation line when a dataset file is missing, a locator points
    nowhere, the text's checksum differs, or an edit names a word the sentence does not have there.
    """
    path, data_root = Path(path), Path(data_root)
    sentences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = json.loads(line)
        source = data_root / record["source"]
        if not source.exists():
            raise ValueError(f"{where}: dataset file {source} does not exist; check the data root {data_root}")
        texts = _texts(source, record.get("field", "text"))
        row, index = record["row"], record["sentence"]
        if not 0 <= row < len(texts):
            raise ValueError(f"{where}: row {row} is outside {source} ({len(texts)} rows)")
        split = split_sentences(texts[row])
        if not 0 <= index < len(split):
            raise ValueError(f"{where}: sentence {index} is outside row {row} ({len(split)} sentences)")
        text = split[index]
        if sentence_sha1(text) != record["sha1"]:
            raise ValueError(f"{where}: the sentence at {record['source']} row {row} has changed (checksum differs)")
        tokens = [match.group() for match in tokenize(text)]
        scrub = record.get("scrub")
        sentences.append(
            AnnotatedSentence(
                text, where, _edits(record["swap"], tokens, where, "swap"),
                None if scrub is None else _edits(scrub, tokens, where, "scrub"),
            )
        )
    return sentences


def expected_text(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with the annotated edits applied (``*`` is written as is, ``""`` removes the word)."""
    tokens = tokenize(text)
    pieces: list[str] = []
    last = 0
    for index, _, replacement in sorted(edits):
        match = tokens[index]
        pieces.append(text[last : match.start()])
        last = match.end()
        if replacement == "":
            removed = re.match(r"\.?\s*", text[last:])
            last += removed.end() if removed else 0
        else:
            pieces.append(replacement)
    pieces.append(text[last:])
    return "".join(pieces)


@dataclass
class AccuracyCounts:
    """Words and sentences right; ``errors`` lists ``(where, expected, got)`` for every sentence not exact."""

    words_to_change: int = 0
    changed_right: int = 0
    words_to_keep: int = 0
    kept_right: int = 0
    sentences: int = 0
    sentences_exact: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def words(self) -> int:
        """All scored words: those to change and those to keep."""
        return self.words_to_change + self.words_to_keep

    @property
    def words_right(self) -> int:
        """Scored words the rewrite got right."""
        return self.changed_right + self.kept_right


_WORD_OR_ANY = re.compile(rf"{_TOKEN.pattern}|\*")


def _skeleton(text: str) -> str:
    """The text between the words (and ``*`` placeholders), whitespace removed: punctuation must match too."""
    return "".join(_WORD_OR_ANY.sub("\0", text).split())


def score(
    sentences: Iterable[AnnotatedSentence], rewrite: Callable[[str], str], kind: str = "swap"
) -> AccuracyCounts:
    """Count, over ``sentences`` with ``kind`` annotations ("swap" or "scrub"), the words and sentences right."""
    if kind not in ("swap", "scrub"):
        raise ValueError(f"score: kind must be 'swap' or 'scrub', got {kind!r}")
    counts = AccuracyCounts()
    for sentence in sentences:
        edits = sentence.swap if kind == "swap" else sentence.scrub
        if edits is None:
            continue
        original = [match.group() for match in tokenize(sentence.text)]
        target = {index: replacement for index, _, replacement in edits}
        expected = [target.get(index, word) for index, word in enumerate(original)]
        got_text = rewrite(sentence.text)
        got = [match.group() for match in tokenize(got_text)]
        kept = [index for index, word in enumerate(expected) if word != ""]  # the words that stay in some form
        right = _aligned_right([expected[index] for index in kept], [original[index] for index in kept], got)
        for index, is_right in zip(kept, right, strict=True):
            if index in target:
                counts.words_to_change += 1
                counts.changed_right += is_right
            else:
                counts.words_to_keep += 1
                counts.kept_right += is_right
        removed = len(original) - len(kept)  # words to remove (titles in scrubbing): right when gone
        counts.words_to_change += removed
        counts.changed_right += removed if len(got) == len(kept) else 0
        want = expected_text(sentence.text, edits)
        exact = all(right) and len(got) == len(kept) and _skeleton(got_text) == _skeleton(want)
        counts.sentences += 1
        counts.sentences_exact += exact
        if not exact:
            counts.errors.append((sentence.where, want, got_text))
    return counts


def _matches(expected: str, original: str, got: str) -> bool:
    return got != original if expected == _ANY_OTHER_WORD else got == expected


def _aligned_right(expected: Sequence[str], original: Sequence[str], got: Sequence[str]) -> list[bool]:
    """Per expected word, whether the rewrite has it: position by position when the counts agree, else the
    words in the longest matching blocks (where a ``*`` is never right)."""
    if len(expected) == len(got):
        return [_matches(e, o, g) for e, o, g in zip(expected, original, got, strict=True)]
    right = [False] * len(expected)
    for block in difflib.SequenceMatcher(a=list(expected), b=list(got), autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            right[block.a + offset] = expected[block.a + offset] != _ANY_OTHER_WORD
    return right
