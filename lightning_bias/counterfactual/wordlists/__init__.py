"""The word lists that ship with lightning_bias (plain text, format in ``..wordlist_format``).

``gender_terms.txt`` (pronouns, titles, nouns; ~120 pairs and one-way rules), ``gender_names.txt``
(264 pairs of first names, every first name of the synthetic bios generator among them),
``race_terms.txt`` and ``religion_terms.txt`` (triples).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUILTIN_ATTRIBUTES", "builtin_name_files", "builtin_term_files"]

_DIRECTORY = Path(__file__).resolve().parent

BUILTIN_ATTRIBUTES = ("gender", "race", "religion")
_TERM_FILES = {
    "gender": ("gender_terms.txt",),
    "race": ("race_terms.txt",),
    "religion": ("religion_terms.txt",),
}
_NAME_FILES = {"gender": ("gender_names.txt",), "race": (), "religion": ()}


def _check_attribute(attribute: str) -> None:
    if attribute not in BUILTIN_ATTRIBUTES:
        raise ValueError(
            f"no built-in word lists for attribute {attribute!r}; choose one of {list(BUILTIN_ATTRIBUTES)} "
            "or pass your own files to AttributeSwapper.from_files."
        )


def builtin_term_files(attribute: str) -> list[Path]:
    """Paths of the built-in term lists of ``attribute`` ("gender", "race" or "religion")."""
    _check_attribute(attribute)
    return [_DIRECTORY / name for name in _TERM_FILES[attribute]]


def builtin_name_files(attribute: str) -> list[Path]:
    """Paths of the built-in first-name lists of ``attribute`` (only gender has one)."""
    _check_attribute(attribute)
    return [_DIRECTORY / name for name in _NAME_FILES[attribute]]
