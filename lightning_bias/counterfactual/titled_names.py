"""First names that no list holds, found after a title: "Dr. Shubhada Karavade", "Mrs. Aparna Sharma".

First names are an open class: real bios name their subjects with names no list can hold
(of 30 Bias in Bios dentists, 8 had such names). A capitalised word between a title and a
capitalised surname is a first name (initials may stand between: "Dr. S Jaibharath Reddy").
Its gender comes from the title (Mr; Mrs, Ms, Miss) or, after Dr and Prof, from the
text's subject pronouns (he against she; a tie gives none, and the name stays unknown). The
swapper then gives it a counterpart drawn from its own names of the other side, the same one
every time (a checksum of the name picks it).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

__all__ = ["TITLE_GENDER_WORDS", "counterpart_name", "titled_first_names"]

# The title -> the word of the swapper's lists whose side (column) gives the gender; None: ask the pronouns.
TITLE_GENDER_WORDS: dict[str, str | None] = {
    "Mr": "mr", "Mrs": "ms", "Ms": "ms", "Miss": "ms", "Dr": None, "Prof": None, "Professor": None,
}
_TITLED_NAME = re.compile(
    r"\b(Mrs|Mr|Ms|Miss|Dr|Professor|Prof)\b\.?[^\S\n]*(?:[A-Z]\.?[^\S\n]+)*([A-Z][a-z]+)"
    r"(?=(?:[^\S\n]+[A-Z]\.?)*[^\S\n]+[A-Z][A-Za-z'’-])"
)


def titled_first_names(text: str) -> list[tuple[str, str]]:
    """``(title, first name)`` for every capitalised word between a title and a surname in ``text``."""
    if not ("Dr" in text or "Mr" in text or "Ms" in text or "Prof" in text or "Miss" in text):
        return []  # a fast check: most texts have no title
    return [(match.group(1), match.group(2)) for match in _TITLED_NAME.finditer(text)]


def counterpart_name(name: str, candidates: Sequence[str]) -> str:
    """The counterpart of an unlisted ``name``: one of ``candidates`` (sorted), fixed by a checksum of the name."""
    return candidates[zlib.crc32(name.lower().encode("utf-8")) % len(candidates)]
