"""Decide whether a noun phrase follows a word: resolves "her" -> "his"/"him" and "his" -> "her"/"hers".

English "her" is both a determiner ("her book" -> "his book") and an object pronoun ("saw her."
-> "saw him."); "his" is both a determiner and a possessive pronoun ("it is his" -> "hers").
The heuristic reads the next word, the one after it, and the word before:

- end of text or punctuation (``. , ; : ! ? )``)                 -> no noun phrase ("saw her.")
- an opening quote: the word after the quote decides            ("her " Rich Girl " single" -> "his")
- a word from the closed list (prepositions, conjunctions, determiners, pronouns, auxiliaries,
  frequent verbs, adverbs that do not modify nouns) or a first name -> no noun phrase
  ("gave her John's book" -> "gave him Mary's book", "saw her again" -> "him")
- a bare verb that is not also a frequent noun                  -> no noun phrase ("watched her sing")
- a modifier (a listed adjective, an adjective ending in -ous/-ful/-less/-ible, or an adverb that
  can also stand before a noun: only, most, later, ...): a noun phrase only when the word after it
  could continue one ("made her happy." -> "him"; "her happy childhood", "his only appearance" -> "his", "her")
- a word ending in -ing after a perception verb                 -> no noun phrase ("saw her leaving")
- a verb that is also a noun after a causative or perception verb -> no noun phrase ("makes her look",
  "let her talk"); elsewhere it is a noun ("her look")
- a word joined to the next by a hyphen ("well-known", "then-husband") -> noun phrase
- any other word or a number (nouns, "own", "first")            -> noun phrase

So "his" becomes "hers" only where it stands alone ("the book is his.", "his was better").
Known misses: nouns used as verbs after an object ("made her work"), and rare adjectives
used predicatively ("painted her blue"). It is deliberately simple, predictable and fast.
"""

from __future__ import annotations

import re

__all__ = ["NOT_NOUN_PHRASE_START", "noun_phrase_follows"]

NOT_NOUN_PHRASE_START = frozenset(
    """
    a an the this that these those some any no all both either neither another such
    my your our their its his her him me us them it i you he she we they one ones
    myself yourself ourselves themselves himself herself itself
    to at in on with for from by about into onto over under up down out off away back through across
    around after before as like than of during without within upon toward towards behind between
    beside besides near past since until till via against among along beyond except inside outside
    and or but nor so yet because if when while though although whether unless where wherever whenever
    who whom whose which what how why whoever whatever
    is was are were be been being am has have had do does did done will would can could shall should
    may might must get gets got gotten go goes went gone come comes came make makes made see saw seen
    know knew think thought feel felt want wanted need needed say said tell told ask asked give gave
    take took let help keep kept leave left find found call called try tried seem seemed become became
    stay stayed turn turned run ran bring brought show showed hear heard meet met love loved hate hated
    not never too also just again even ever now then there here today tonight yesterday
    tomorrow once twice already always often sometimes usually really
    quite rather almost enough anyway instead perhaps maybe soon alone together else
    """.split()
)

# Verbs in their bare form that are rarely nouns: after "her" they make it an object ("watched her sing").
_BARE_VERBS = frozenset(
    """
    sing cry realize realise appear believe decide die eat speak marry forget remember wonder
    understand lose win grow pay buy send put follow pursue write learn sign accept join receive
    reach agree hold wear feed teach choose sit smile laugh
    """.split()
)

# Adjectives and adverbs that can stand before a noun ("her happy childhood", "his only appearance")
# and after an object ("made her happy.", "saw her only once"): the word after them decides.
_MODIFIERS = frozenset(
    """
    happy unhappy sad angry famous rich wealthy poor popular nervous uncomfortable comfortable sick ill jealous
    upset proud mad crazy alive dead unconscious pregnant free safe aware able unable eligible ineligible
    responsible guilty innocent ready busy welcome available immortal vulnerable special unique young old
    strong weak beautiful great good bad
    only very most more less least much later early late well still first last next other
    """.split()
)
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "ible")
# Words that are verbs or nouns: after a causative or perception verb they make "her" an object
# ("makes her look", "let her talk", "watched her dance"); elsewhere they are nouns ("her look").
_VERBS_AFTER_CAUSATIVES = frozenset(
    "look feel cry laugh smile dance walk run talk think act sound seem stand stop move change fall sleep".split()
)
_CAUSATIVE_VERBS = frozenset(
    "make makes made making let lets letting help helps helped helping watch watches watched watching "
    "see sees saw seen hear hears heard have has had".split()
)
_PERCEPTION_VERBS = frozenset(
    "see sees saw seen watch watches watched hear hears heard find finds found catch caught notice noticed "
    "imagine imagined keep kept leave left".split()
)
_OPENING_QUOTES = "\"“‘'"
_PUNCTUATION = frozenset(".,;:!?)]}”’")
_WORD = re.compile(r"\w+")
_PREVIOUS_WORD = re.compile(r"(\w+)\W*\Z")


def _next_word(text: str, position: int) -> tuple[str | None, int]:
    """The next word at or after ``position`` (skipping spaces), or None at punctuation/end; and its end."""
    while position < len(text) and text[position].isspace():
        position += 1
    match = _WORD.match(text, position)
    return (match.group(), match.end()) if match else (None, position)


def _could_continue_noun_phrase(text: str, position: int, first_names: frozenset[str]) -> bool:
    word, _ = _next_word(text, position)
    return word is not None and word not in NOT_NOUN_PHRASE_START and word not in first_names


def noun_phrase_follows(
    lowered_text: str, position: int, first_names: frozenset[str] = frozenset(), start: int | None = None
) -> bool:
    """Whether a noun phrase appears to start at ``position`` of ``lowered_text`` (already lower case).

    ``first_names`` (lower case) are treated like pronouns: a name after "her" starts a new phrase.
    ``start`` is where the pronoun itself starts (to read the word before it); None skips that check.
    """
    index = position
    while index < len(lowered_text) and lowered_text[index].isspace():
        index += 1
    if index < len(lowered_text) and lowered_text[index] in _OPENING_QUOTES:
        return _could_continue_noun_phrase(lowered_text, index + 1, first_names)
    word, end = _next_word(lowered_text, index)
    if word is None:
        return False
    if end < len(lowered_text) - 1 and lowered_text[end] == "-" and lowered_text[end + 1].isalpha():
        return True  # a compound modifier: "well-known", "then-husband", "father-in-law"
    if word in NOT_NOUN_PHRASE_START or word in first_names or word in _BARE_VERBS:
        return False
    if word in _MODIFIERS or (len(word) >= 6 and word.endswith(_ADJECTIVE_SUFFIXES)):
        return _could_continue_noun_phrase(lowered_text, end, first_names)
    if start is not None and (word.endswith("ing") or word in _VERBS_AFTER_CAUSATIVES):
        previous = _PREVIOUS_WORD.search(lowered_text[max(0, start - 32) : start])
        verbs = _PERCEPTION_VERBS if word.endswith("ing") else _CAUSATIVE_VERBS
        if previous is not None and previous.group(1) in verbs:
            return False
    return True
