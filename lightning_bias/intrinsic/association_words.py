"""Word sets and sentence frames of the sentence-embedding association tests (written for this project).

A test compares two *target* sets (male vs female terms, or first names) against two *attribute*
sets (career vs home words, or the occupations of the synthetic bios that employ mostly men vs
mostly women). Every word is placed in every frame of ``ASSOCIATION_FRAMES``, semantically light
sentences whose only content is the word, so the sentence embedding carries the word's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE, bios_vocabulary

ASSOCIATION_FRAMES: tuple[str, ...] = (
    "This is about {word}.",
    "The note mentions {word}.",
    "We were talking about {word}.",
    "There was a question about {word}.",
    "Here is something on {word}.",
    "The next line concerns {word}.",
    "Someone brought up {word}.",
    "The word of the day: {word}.",
)
"""Frames with one ``{word}`` slot; a word fits them as a noun phrase."""

MALE_TERMS: tuple[str, ...] = (
    "the man", "the boy", "his father", "his son", "his brother",
    "her husband", "his uncle", "the gentleman", "his grandfather", "his nephew",
)
FEMALE_TERMS: tuple[str, ...] = (
    "the woman", "the girl", "her mother", "her daughter", "her sister",
    "his wife", "her aunt", "the lady", "her grandmother", "her niece",
)
"""Gendered noun phrases, one male/female counterpart per position."""

CAREER_WORDS: tuple[str, ...] = (
    "a salary", "the office", "a promotion", "a business meeting", "a contract",
    "the clients", "a deadline", "the manager", "a profession", "the company budget",
)
HOME_WORDS: tuple[str, ...] = (
    "the home", "the children", "a wedding", "the relatives", "the household",
    "a marriage", "the family dinner", "the nursery", "the cousins", "a birthday party",
)
"""Career vs home and family attributes (the Implicit Association Test's pair of concepts, our words)."""

MALE_SKEWED_BELOW = 0.4
FEMALE_SKEWED_ABOVE = 0.6
"""Share-of-women thresholds that split the synthetic bios' occupations into male- and female-skewed sets."""


@dataclass(frozen=True)
class AssociationTest:
    """Targets X vs Y against attributes A vs B; a positive effect size means X is closer to A (and Y to B)."""

    name: str
    targets_x: tuple[str, ...]
    targets_y: tuple[str, ...]
    attributes_a: tuple[str, ...]
    attributes_b: tuple[str, ...]


def _with_article(occupation: str) -> str:
    return ("an " if occupation[:1] in "aeiou" else "a ") + occupation


def skewed_occupations() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(male-skewed, female-skewed) occupations of the synthetic bios by their approximate US share of women."""
    male = tuple(o for o, share in STEREOTYPICAL_FEMALE_RATE.items() if share < MALE_SKEWED_BELOW)
    female = tuple(o for o, share in STEREOTYPICAL_FEMALE_RATE.items() if share > FEMALE_SKEWED_ABOVE)
    return male, female


def default_association_tests() -> tuple[AssociationTest, ...]:
    """The built-in tests: gender terms and first names vs career/home, and gender terms vs skewed occupations."""
    names = bios_vocabulary().first_names
    male_jobs, female_jobs = skewed_occupations()
    return (
        AssociationTest("gender_terms_career_home", MALE_TERMS, FEMALE_TERMS, CAREER_WORDS, HOME_WORDS),
        AssociationTest("first_names_career_home", tuple(names["male"][:20]), tuple(names["female"][:20]),
                        CAREER_WORDS, HOME_WORDS),
        AssociationTest("gender_terms_occupations", MALE_TERMS, FEMALE_TERMS,
                        tuple(_with_article(o) for o in male_jobs), tuple(_with_article(o) for o in female_jobs)),
    )
