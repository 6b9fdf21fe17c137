"""What scrubbing (``AttributeSwapper.neutralize_with_count``) writes in place of gendered pronouns and titles.

Following De-Arteaga et al. (2019), scrubbing removes explicit gender indicators: pronouns
become singular "they" forms, titles in front of a name are dropped, first names become a
placeholder token. The verb after a subject "they" is put in agreement ("She is based" ->
"They are based") by :mod:`.verb_agreement`.
"""

from __future__ import annotations

__all__ = ["NEUTRAL_PRONOUNS", "TITLES"]

# A tuple means (when a noun phrase follows, otherwise), as for one-way word-list rules.
NEUTRAL_PRONOUNS: dict[str, str | tuple[str, str]] = {
    "he": "they",
    "she": "they",
    "him": "them",
    "her": ("their", "them"),
    "his": ("their", "theirs"),
    "hers": "theirs",
    "himself": "themselves",
    "herself": "themselves",
}

# Dropped (with a following period) when written directly before a capitalised word: "Mr. Smith" -> "Smith".
TITLES = frozenset(
    {"mr", "mrs", "ms", "mx", "miss", "mister", "missus", "sir", "madam", "madame", "dame", "lord", "lady"}
)
