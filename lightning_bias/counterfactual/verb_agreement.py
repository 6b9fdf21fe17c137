"""Keep the verb in agreement when scrubbing turns a subject "he"/"she" into "they".

"She is based in Ohio" must become "They are based in Ohio", not "They is based". After the
pronoun, adverbs are skipped ("she also works", "he currently serves") and the first word is
put in the plural: the irregular verbs from a table (is -> are, was -> were, has -> have,
does -> do, and their negative contractions), a contracted "'s" -> "'re" ("'ve" before
"been"/"got"), and other words ending in -s that are not in the list of non-verbs by the rules
of English spelling (works -> work, teaches -> teach, studies -> study, goes -> go). Past tense,
modals and "he or she" need no change and get none.
"""

from __future__ import annotations

import re

__all__ = ["plural_verb_after"]

_IRREGULAR = {
    "is": "are", "was": "were", "has": "have", "does": "do",
    "isn't": "aren't", "wasn't": "weren't", "hasn't": "haven't", "doesn't": "don't",
    "isn’t": "aren’t", "wasn’t": "weren’t", "hasn’t": "haven’t", "doesn’t": "don’t",
}
# Words ending in -s that follow a subject pronoun without being a verb in the third person singular.
_NOT_VERBS = frozenset(
    "as us this thus always sometimes perhaps nevertheless nonetheless besides afterwards towards "
    "less unless its his hers yes whereas plus alas".split()
)
_ADVERBS = frozenset(
    "also still now then never always often sometimes usually already just even only once again "
    "later soon first further thus therefore too recently currently previously actively".split()
)
_WORD = re.compile(r"\s+([a-z]+(?:['’][a-z]+)?)\b")
_CONTRACTION = re.compile(r"(['’])s\b")
_SIBILANT_ENDINGS = ("sses", "shes", "ches", "xes", "zzes", "oes")


def _plural(verb: str) -> str | None:
    """The plural form of a third-person-singular verb (lower case), or None when ``verb`` is not one."""
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if len(verb) < 3 or not verb.endswith("s") or verb.endswith(("ss", "us", "is")) or verb in _NOT_VERBS:
        return None
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(_SIBILANT_ENDINGS):
        return verb[:-2]
    return verb[:-1]


def _with_case(original: str, plural: str) -> str:
    return plural.upper() if original.isupper() and len(original) > 1 else plural


def plural_verb_after(text: str, lowered: str, position: int) -> tuple[str, int] | None:
    """The text from ``position`` (just after "he"/"she") to the end of its verb with the verb in the plural.

    Returns ``(new text of lowered[position:end], end)``, or None when nothing needs to change.
    """
    contraction = _CONTRACTION.match(lowered, position)
    if contraction is not None:
        following = _WORD.match(lowered, contraction.end())
        suffix = "ve" if following is not None and following.group(1) in ("been", "got") else "re"
        return contraction.group(1) + _with_case(text[position + 1 : contraction.end()], suffix), contraction.end()
    cursor = position
    for _ in range(3):  # at most two adverbs before the verb
        match = _WORD.match(lowered, cursor)
        if match is None:
            return None
        word = match.group(1)
        if word in _ADVERBS or (word.endswith("ly") and len(word) > 4):
            cursor = match.end()
            continue
        plural = _plural(word)
        if plural is None:
            return None
        start, end = match.span(1)
        return text[position:start] + _with_case(text[start:end], plural), end
    return None
