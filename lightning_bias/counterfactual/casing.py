"""Carry the letter case of a matched word over to its replacement."""

from __future__ import annotations

__all__ = ["match_case"]


def match_case(source: str, target: str) -> str:
    """Return ``target`` written in the case pattern of ``source``.

    - all lower case (``his``)          -> ``target.lower()``
    - all upper case, 2+ letters (``HIS``) -> ``target.upper()``
    - capitalised (``His``, ``African American``) -> first letter of each word of ``target``
      upper case, the rest as written in the list (``Mary``, ``DeShawn`` keep their spelling)
    - anything else (``hIS``)           -> ``target`` as written in the list
    """
    if source.islower():
        return target.lower()
    letters = [character for character in source if character.isalpha()]
    if len(letters) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        source_words = source.split()
        if len(source_words) > 1 and all(word[:1].isupper() for word in source_words):
            return " ".join(word[:1].upper() + word[1:] for word in target.split(" "))
        return target[:1].upper() + target[1:]
    return target
