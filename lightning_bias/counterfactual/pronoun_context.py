"""Decide whether a noun phrase follows a word: resolves "her" -> "his"/"him" and "his" -> "her"/"hers".

English "her" is both a determiner ("her book" -> "his book") and an object pronoun ("saw her."
-> "saw him."); "his" is both a determiner and a possessive pronoun ("it is his" -> "hers").
The heuristic looks only at the next token:

- end of text, or punctuation (``. , ; : ! ? ) " ...``)             -> no noun phrase
- a word from the closed list below (prepositions, conjunctions, determiners, pronouns,
  auxiliaries and frequent verbs, adverbs), or a first name       -> no noun phrase
  ("gave her John's book" -> "gave him Mary's book")
- any other word or a number (nouns, adjectives, "own", "first")  -> noun phrase

Known misses: a bare verb after an object ("let her go" -> "let his go" is avoided only for verbs
in the list), and adjectives used as adverbs. It is deliberately simple and predictable.
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
    not never very too also just only again still even ever now then there here today tonight yesterday
    tomorrow well much more most less least once twice already always often sometimes usually really
    quite rather almost enough anyway instead perhaps maybe later soon alone together else
    """.split()
)

# The first token after optional whitespace: a word (letters, digits, inner apostrophes/hyphens).
_NEXT_WORD = re.compile(r"\s*(\w+)")


def noun_phrase_follows(lowered_text: str, position: int, first_names: frozenset[str] = frozenset()) -> bool:
    """Whether a noun phrase appears to start at ``position`` of ``lowered_text`` (already lower case).

    ``first_names`` (lower case) are treated like pronouns: a name after "her" starts a new phrase.
    """
    match = _NEXT_WORD.match(lowered_text, position)
    if match is None:  # end of text or punctuation next
        return False
    word = match.group(1)
    return word not in NOT_NOUN_PHRASE_START and word not in first_names
