"""Tell a word that refers to a person from the same word inside a proper name.

"John" in "John met Mary" is a person's first name and is swapped or scrubbed; it is not one in

- a place or institution name: "San Francisco", "St. Mary's Hospital", "George Washington University",
  "King George Rd": the word before it is a place prefix (San, Santa, St, Saint, Fort, Port, Mount,
  Lake, Cape), or one of the capitalised words that directly follow it (at most four, possessive
  "'s" allowed) is a place or institution word (University, Hospital, Street, County, Award, Review, ...);
- a surname: "Bob Dylan", "Shelton Benjamin", "D. H. Lawrence", "Michael Cole": it ends a run of
  capitalised words and the word before it is capitalised but is neither a title ("Sir John",
  "Archduke Charles") nor a sentence's first word ("When Thomas ...") unless that is an initial or a
  first name itself.

Gendered nouns follow the same idea (:func:`is_proper_name_part`): capitalised in mid-sentence, a plural
or abstract noun names an organisation or a work ("Office on Violence Against Women", "Men's Health",
"Society for the Study of Men and Masculinity"), and any noun followed by a place word names a place
("Duke University"); a capitalised singular person noun still refers to a person ("Nero became Emperor").
"""

from __future__ import annotations

import re

__all__ = ["is_place_name", "is_proper_name_part", "is_surname", "names_a_group", "starts_sentence"]

_PLACE_PREFIXES = frozenset("san santa santo sao são st ste saint fort port mount mt lake cape".split())
_PLACE_WORDS = frozenset(
    """
    university college hospital institute school academy center centre clinic street avenue road rd ave
    boulevard lane bridge county city island river valley airport station award awards prize medal foundation
    memorial museum library cathedral chapel abbey building square stadium theatre theater trophy cup dental
    medical bay falls springs heights township village parish review press journal magazine
    """.split()
)
# Titles before a first name that are not gendered words of the lists (those count as titles too).
_NEUTRAL_TITLES = frozenset(
    """
    dr prof professor president general admiral captain colonel major lieutenant sergeant senator governor
    judge justice bishop archbishop cardinal pope rev reverend st saint coach agent officer chief commander
    minister chancellor archduke archduchess vice
    """.split()
)
_PREVIOUS_WORD = re.compile(r"(\w+)\W{0,3}\Z")
_CAPITALISED_RUN = re.compile(r"(?:[^\S\n]?['’]s)?[^\S\n]+([A-Z][\w'’]*)")
_NEXT_CAPITALISED = re.compile(r"[^\S\n]+[A-Z]")
_WORD_BEFORE = re.compile(r"([A-Za-z][\w'’]*)\.?[^\S\n]+\Z")
_ABSTRACT_ENDINGS = ("hood", "ity", "ism", "men")


def is_place_name(text: str, start: int, end: int) -> bool:
    """Whether the word at ``text[start:end]`` is part of a place or institution name."""
    previous = _PREVIOUS_WORD.search(text[max(0, start - 12) : start])
    if previous is not None and previous.group(1).lower() in _PLACE_PREFIXES:
        return True
    position = end
    for _ in range(4):
        match = _CAPITALISED_RUN.match(text, position)
        if match is None:
            return False
        word = match.group(1).lower()
        if word in _PLACE_WORDS or word.rstrip("'’s") in _PLACE_WORDS:
            return True
        position = match.end()
    return False


def starts_sentence(text: str, start: int) -> bool:
    """Whether ``text[start:]`` begins a sentence: only spaces, quotes or brackets after ``. ! ? :`` or the start."""
    before = text[max(0, start - 16) : start].rstrip(" \t\n\"'“‘([")
    return not before or before[-1] in ".!?:"


def is_surname(text: str, start: int, end: int, first_names: frozenset[str], titles: frozenset[str]) -> bool:
    """Whether the first name at ``text[start:end]`` is used as a surname (lower-case ``first_names`` and
    ``titles``: the gendered words that stand before a name, such as sir, king)."""
    if _NEXT_CAPITALISED.match(text, end) is not None:
        return False  # another capitalised word follows: a first or middle name
    previous = _WORD_BEFORE.search(text[max(0, start - 40) : start])
    if previous is None:
        return False
    word = previous.group(1)
    lowered = word.lower()
    if not word[0].isupper() or lowered in titles or lowered in _NEUTRAL_TITLES:
        return False
    name_like = len(word) == 1 or lowered in first_names
    return name_like or not starts_sentence(text, start - len(previous.group(0)))


def names_a_group(key: str, vocabulary: frozenset[str]) -> bool:
    """Whether the gendered noun ``key`` is a plural (its singular is in ``vocabulary``) or an abstract noun."""
    singulars = (key[:-1], key[:-2], key[:-3] + "y") if key.endswith("s") and not key.endswith("ss") else ()
    return key.endswith(_ABSTRACT_ENDINGS) or any(singular in vocabulary for singular in singulars)


def is_proper_name_part(text: str, start: int, end: int, group_noun: bool) -> bool:
    """Whether the capitalised gendered noun at ``text[start:end]`` is part of a proper name; ``group_noun``
    says whether it is a plural or abstract noun (:func:`names_a_group`)."""
    if starts_sentence(text, start):
        return is_place_name(text, start, end)
    return group_noun or is_place_name(text, start, end)
