"""``AttributeSwapper``: counterfactual word swapping and scrubbing, and where a swapped row's group goes.

One swapper holds one vocabulary (e.g. gender terms + first names) compiled into a single
whole-word regex that runs on the lower-cased text; each match is replaced through a dict
lookup, with the case of the original word carried over. Tables are rewritten row by row through
:func:`lightning_bias.counterfactual.augmentation.augment` (downstream CDA, corpus CDA, scrubbing,
counterfactual evaluation).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from .casing import match_case
from .name_context import is_place_name, is_proper_name_part, is_surname, names_a_group
from .pronoun_context import noun_phrase_follows
from .scrubbing_forms import NEUTRAL_PRONOUNS, TITLES
from .subject_words import KINSHIP_NOUNS
from .term_pattern import compile_term_pattern
from .titled_names import TITLE_GENDER_WORDS, counterpart_name, titled_first_names
from .verb_agreement import plural_verb_after
from .wordlist_format import WordList, normalize_term, read_word_list
from .wordlists import BUILTIN_ATTRIBUTES, builtin_name_files, builtin_term_files

__all__ = ["AttributeSwapper"]

# A target: one word, or (when a noun phrase follows, otherwise).
Target = str | tuple[str, str]
# Chooses the replacement of one match: (key, text, lowered text, start, end of match) ->
# (replacement, end of the replaced span, which may reach past the match) or None to keep the word.
_Chooser = Callable[[str, str, str, int, int], tuple[str, int] | None]
_APOSTROPHES = "'’"
# Gendered titles whose counterpart differs before a name: "Sir Robert" -> "Dame Jennifer", not "Madam".
_BEFORE_NAME_FORMS = {"sir": "dame", "lady": "lord"}
_NAME_FOLLOWS = re.compile(r"\.?[^\S\n]+[A-Z]")
_SUBJECT_PRONOUNS = ("he", "she")
_SUBJECT_PRONOUN_PATTERN = re.compile(r"\b(?:he|she)\b")
_ANY_PRONOUN_PATTERN = re.compile(r"\b(?:he|him|his|himself|she|her|hers|herself)\b")
_PRONOUNS_LIKE = {"he": ("he", "him", "his", "himself"), "she": ("she", "her", "hers", "herself")}


def _resolve(target: Target, lowered_text: str, start: int, end: int, first_names: frozenset[str]) -> str:
    if isinstance(target, str):
        return target
    return target[0] if noun_phrase_follows(lowered_text, end, first_names, start) else target[1]


def _aligned_lower(text: str) -> str:
    """``text.lower()`` with every character at its place (the rare "İ", whose lower case is longer, is kept)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(character.lower() if len(character.lower()) == 1 else character for character in text)


def _possessive(original: str, replacement: str, lowered: str, end: int) -> tuple[str, int]:
    """Fix the plural possessive apostrophe: "ladies' lounge" -> "gentlemen's", "gentlemen's" -> "ladies'"."""
    if end < len(lowered) and lowered[end] in _APOSTROPHES:
        after = lowered[end + 1 : end + 2]
        if after != "s" and not after.isalnum() and original[-1:] in "sS" and replacement[-1:] not in "sS":
            return replacement + lowered[end] + ("S" if original.isupper() else "s"), end + 1
        if after == "s" and not lowered[end + 2 : end + 3].isalnum() and original.lower().endswith("men") \
                and replacement[-1:] in "sS":
            return replacement + lowered[end], end + 2
    return replacement, end


class AttributeSwapper:
    """Swap protected-attribute words for their counterparts ("He met John's sister" -> "She met Mary's brother").

    Args:
        word_lists: parsed lists (:func:`~.wordlist_format.read_word_list` or ``WordList.from_groups``).
        seed: picks each word's counterpart in groups of three or more (race/religion triples);
            the same seed always gives the same mapping. Pairs do not depend on it.
        attribute: a label for messages and reports ("gender", "race", ...).

    Raises:
        ValueError: a word belongs to two conflicting entries (naming both ``file:line``), or the
            lists are empty.
    """

    def __init__(self, word_lists: Sequence[WordList], *, seed: int = 0, attribute: str = "custom") -> None:
        self.attribute = attribute
        self.seed = int(seed)
        self._targets: dict[str, Target] = {}
        self._origin: dict[str, tuple[str, object]] = {}  # key -> (source, identity of the entry)
        self._targets_spelling: dict[str, str] = {}  # key -> the word as written in its list
        names: set[str] = set()
        for word_list in word_lists:
            for group in word_list.groups:
                identity = (
                    "group",
                    word_list.is_names,
                    frozenset(normalize_term(word) for word in group.words),
                )
                for word, target in self._group_targets(group.words).items():
                    self._add(word, target, group.source, identity)
                    if word_list.is_names:
                        names.add(normalize_term(word))
            for rule in word_list.rules:
                targets = rule.targets[0] if len(rule.targets) == 1 else (rule.targets[0], rule.targets[1])
                identity = (
                    "rule",
                    word_list.is_names,
                    tuple(normalize_term(target) for target in rule.targets),
                )
                self._add(rule.word, targets, rule.source, identity)
                if word_list.is_names:
                    names.add(normalize_term(rule.word))
        if not self._targets:
            sources = ", ".join(word_list.source for word_list in word_lists) or "no lists"
            raise ValueError(
                f"the word lists ({sources}) contain no entries; an AttributeSwapper needs at least one."
            )
        self._names = frozenset(names)
        self._pattern = compile_term_pattern(self._targets)
        self._sides = self._pair_sides(word_lists)
        self._title_words = frozenset(self._targets) - self._names
        self._group_nouns = frozenset(key for key in self._title_words if names_a_group(key, self._title_words))
        self._pronoun_sides = {
            pronoun: self._sides[subject]
            for subject, pronouns in _PRONOUNS_LIKE.items() if subject in self._sides
            for pronoun in pronouns
        } if "he" in self._sides and "she" in self._sides else {}
        self._word_sides = {key: self._word_side(key) for key in self._targets}
        self._names_by_side = tuple(
            sorted(self._targets_spelling[name] for name in self._names if self._sides.get(name) == side)
            for side in (0, 1)
        )
        titles = sorted(TITLES & self._targets.keys())
        self._title_pattern = re.compile(rf"\b(?:{'|'.join(titles)})\b\.?[^\S\n]+") if titles else None

    # ------------------------------------------------------------------ construction

    @classmethod
    def builtin(
        cls, attribute: str = "gender", include_names: bool = True, seed: int = 0
    ) -> AttributeSwapper:
        """The shipped lists of ``attribute`` ("gender", "race", "religion"); names exist for gender only."""
        paths = builtin_term_files(attribute)
        name_paths = builtin_name_files(attribute) if include_names else []
        return cls.from_files(*paths, name_files=name_paths, seed=seed, attribute=attribute)

    @classmethod
    def from_files(
        cls,
        *paths: str | Path,
        name_files: Iterable[str | Path] = (),
        seed: int = 0,
        attribute: str = "custom",
    ) -> AttributeSwapper:
        """Build from word-list files; ``name_files`` are first-name lists (scrubbing replaces their words)."""
        word_lists = [read_word_list(path) for path in paths]
        word_lists += [read_word_list(path, is_names=True) for path in name_files]
        if not word_lists:
            raise ValueError("from_files needs at least one word-list path.")
        return cls(word_lists, seed=seed, attribute=attribute)

    @classmethod
    def from_options(
        cls,
        attribute: str = "gender",
        include_names: bool = True,
        term_files: Sequence[str | Path] | None = None,
        name_files: Sequence[str | Path] | None = None,
        seed: int = 0,
    ) -> AttributeSwapper:
        """The swapper that the options of every counterfactual plugin name (the same five options everywhere).

        With ``term_files``, the user's lists (plus the first-name lists ``name_files``) and ``attribute``
        is only a label; without, the built-in lists of ``attribute``, with the built-in first names
        when ``include_names`` (gender only). Raises ``ValueError`` for an unknown attribute, for
        ``name_files`` without ``term_files``, and for a malformed list (naming file and line).
        """
        if term_files:
            return cls.from_files(*term_files, name_files=list(name_files or []), seed=seed, attribute=attribute)
        if name_files:
            raise ValueError(
                "name_files is only used together with term_files; give term_files too, or drop name_files"
            )
        if attribute not in BUILTIN_ATTRIBUTES:
            raise ValueError(
                f"no built-in word lists for attribute {attribute!r}; choose one of {list(BUILTIN_ATTRIBUTES)} "
                "or give term_files (and name_files) with your own lists"
            )
        return cls.builtin(attribute, include_names=include_names, seed=seed)

    def _group_targets(self, words: tuple[str, ...]) -> dict[str, str]:
        if len(words) == 2:
            return {words[0]: words[1], words[1]: words[0]}
        # Each word gets one of the others, drawn once from an RNG seeded by the seed and the group itself,
        # so the mapping does not depend on the order of lines or on other lists.
        ordered = sorted(words, key=normalize_term)
        rng = random.Random(f"{self.seed}|" + "|".join(normalize_term(word) for word in ordered))
        return {word: rng.choice([other for other in ordered if other is not word]) for word in ordered}

    def _word_side(self, key: str) -> int | None:
        """The side of a word: its pronoun side, its column in a pair, or the other side of a one-way rule's target."""
        if key in self._pronoun_sides:
            return self._pronoun_sides[key]
        if key in self._sides:
            return self._sides[key]
        target = self._targets[key]
        target_side = self._sides.get(normalize_term(target if isinstance(target, str) else target[0]))
        return None if target_side is None else 1 - target_side

    @staticmethod
    def _pair_sides(word_lists: Sequence[WordList]) -> dict[str, int]:
        """The column (0 or 1) of every word of a two-word group: by the lists' convention, its side (male, female)."""
        return {
            normalize_term(word): column
            for word_list in word_lists
            for group in word_list.groups
            if len(group.words) == 2
            for column, word in enumerate(group.words)
        }

    def _add(self, word: str, target: Target, source: str, identity: object) -> None:
        key = normalize_term(word)
        if key in self._origin:
            previous_source, previous_identity = self._origin[key]
            if previous_identity == identity:
                return  # the same entry repeated
            raise ValueError(
                f"{source}: conflicting entry for {word!r}: it already has a counterpart from {previous_source}. "
                "A word may belong to one entry only; remove one of the lines (use one-way 'word<TAB>=><TAB>target' "
                "rules when several words share a counterpart)."
            )
        self._origin[key] = (source, identity)
        self._targets[key] = target
        self._targets_spelling[key] = word

    # ------------------------------------------------------------------ inspection

    @property
    def vocabulary(self) -> frozenset[str]:
        """All attribute words (lower case) this swapper recognises."""
        return frozenset(self._targets)

    @property
    def names(self) -> frozenset[str]:
        """The first names (lower case) among :attr:`vocabulary`."""
        return self._names

    @property
    def counterparts(self) -> Mapping[str, Target]:
        """Read-only ``word -> counterpart``; a tuple is ``(before a noun phrase, otherwise)``."""
        return MappingProxyType(self._targets)

    def __repr__(self) -> str:
        return (
            f"AttributeSwapper(attribute={self.attribute!r}, words={len(self._targets)}, "
            f"names={len(self._names)}, seed={self.seed})"
        )

    # ------------------------------------------------------------------ core rewrite

    def _rewrite(self, text: str, choose: _Chooser, extra_names: Mapping[str, str]) -> tuple[str, int]:
        """Replace every attribute word of ``text`` (and every word of ``extra_names``) by ``choose(...)``.

        Returns the new text and the number of attribute words matched (names inside place names excluded).
        """
        lowered = _aligned_lower(text)
        matches: Iterable[re.Match[str]] = self._pattern.finditer(lowered)
        if extra_names:
            extra = re.compile(r"\b(?:" + "|".join(map(re.escape, extra_names)) + r")\b")
            matches = sorted([*matches, *extra.finditer(lowered)], key=lambda match: match.start())
        pieces: list[str] = []
        last = 0
        count = 0
        for match in matches:
            start, end = match.span()
            if start < last:
                continue  # inside a span already rewritten (a verb put in agreement)
            key = match.group()
            if " " in key or "\n" in key or "\t" in key:
                key = " ".join(key.split())  # a multi-word term matched across irregular whitespace
            if text[start].isupper() and key not in NEUTRAL_PRONOUNS \
                    and self._in_proper_name(key, text, start, end, extra_names):
                continue
            count += 1
            choice = choose(key, text, lowered, start, end)
            if choice is not None:
                pieces.append(text[last:start])
                pieces.append(choice[0])
                last = choice[1]
        if last == 0:
            return text, count
        pieces.append(text[last:])
        return "".join(pieces), count

    def _in_proper_name(self, key: str, text: str, start: int, end: int, extra_names: Mapping[str, str]) -> bool:
        """Whether the capitalised attribute word at ``text[start:end]`` is part of a proper name, so it stays:
        a first name inside a place name or used as a surname, a gendered noun inside an organisation's or
        a work's name (:mod:`.name_context`), or an all-caps title in mixed-case text ("an MS in Nursing")."""
        if key in self._names or key in extra_names:
            return is_place_name(text, start, end) or is_surname(text, start, end, self._names, self._title_words)
        if key in TITLES:
            return end - start > 1 and text[start:end].isupper() and not text.isupper()
        return is_proper_name_part(text, start, end, key in self._group_nouns)

    def _majority_side(self, text: str, pattern: re.Pattern[str]) -> int | None:
        """The side (0, 1) of most of the pronouns ``pattern`` finds in ``text``; None for a tie or no pronoun lists."""
        if not self._pronoun_sides:
            return None
        sides = [self._pronoun_sides[word] for word in pattern.findall(text.lower())]
        first, second = sides.count(0), sides.count(1)
        return 0 if first > second else 1 if second > first else None

    def _unlisted_names(self, text: str) -> dict[str, tuple[str, int]]:
        """First names after a title that no list holds: lower case -> (spelling, side), the side told by the title
        or the subject pronouns (see :mod:`.titled_names`)."""
        found = titled_first_names(text)
        if not found or not all(self._names_by_side):
            return {}
        found = [(title, name) for title, name in found if name.lower() not in self._targets]
        if not found:
            return {}
        pronoun_side = self._majority_side(text, _SUBJECT_PRONOUN_PATTERN)
        unlisted: dict[str, tuple[str, int]] = {}
        for title, name in found:
            gender_word = TITLE_GENDER_WORDS[title]
            side = self._sides.get(gender_word) if gender_word is not None else pronoun_side
            if side is not None:
                unlisted.setdefault(name.lower(), (name, side))
        return unlisted

    def _choose_swap(self, key: str, text: str, lowered: str, start: int, end: int) -> tuple[str, int]:
        original = text[start:end]
        target = self._targets[key]
        if key in _BEFORE_NAME_FORMS and _NAME_FOLLOWS.match(text, end):
            target = _BEFORE_NAME_FORMS[key]
        replacement = match_case(original, _resolve(target, lowered, start, end, self._names))
        return _possessive(original, replacement, lowered, end)

    # ------------------------------------------------------------------ public text API

    def swap_with_count(self, text: str) -> tuple[str, int]:
        """``(text with every attribute word replaced by its counterpart, number of words swapped)``.

        Case and punctuation are kept: ``"He gave her John's book."`` -> ``("She gave him Mary's book.", 3)``.
        A first name that no list holds but that follows a title ("Dr. Shubhada Karavade") gets a counterpart
        of the other gender from the name lists (:mod:`.titled_names`). First names inside place names ("San
        Francisco", "St. Mary's Hospital") stay (:mod:`.name_context`). Every person's words are swapped,
        third parties' too ("her husband" -> "his wife"): the swapper does not resolve who a word refers to.
        """
        unlisted = self._unlisted_names(text)
        if not unlisted:
            return self._rewrite(text, self._choose_swap, {})
        counterparts = {
            key: counterpart_name(name, self._names_by_side[1 - side]) for key, (name, side) in unlisted.items()
        }

        def choose(key: str, text: str, lowered: str, start: int, end: int) -> tuple[str, int]:
            if key in counterparts:
                return _possessive(text[start:end], match_case(text[start:end], counterparts[key]), lowered, end)
            return self._choose_swap(key, text, lowered, start, end)

        return self._rewrite(text, choose, counterparts)

    def swap_subject_with_count(self, text: str) -> tuple[str, int]:
        """``(text with the words about its subject swapped, number of words swapped)``, for texts about one
        person such as bios.

        The subject's side (gender) is that of most subject pronouns (he against she), else of most pronouns.
        Only words of that side are swapped: its pronouns, titles, first names (listed, or unlisted after a
        title) and singular nouns that describe a person ("actress", "chairman"). Words of the other side,
        kinship nouns ("her husband" -> "his husband", the relative keeps their gender) and plural nouns
        ("treats men and women") stay, as third parties. Pronouns and names of the subject's side that refer to
        someone else are swapped too (no coreference is resolved). Without a majority side it is
        :meth:`swap_with_count`.
        """
        side = self._majority_side(text, _SUBJECT_PRONOUN_PATTERN)
        if side is None:
            side = self._majority_side(text, _ANY_PRONOUN_PATTERN)
        if side is None:
            return self.swap_with_count(text)
        unlisted = self._unlisted_names(text)
        counterparts = {
            key: counterpart_name(name, self._names_by_side[1 - name_side])
            for key, (name, name_side) in unlisted.items() if name_side == side
        }
        swapped = 0

        def choose(key: str, text: str, lowered: str, start: int, end: int) -> tuple[str, int] | None:
            nonlocal swapped
            if key in counterparts:
                swapped += 1
                return _possessive(text[start:end], match_case(text[start:end], counterparts[key]), lowered, end)
            if key in unlisted or self._word_sides.get(key) != side or key in KINSHIP_NOUNS \
                    or key in self._group_nouns:
                return None
            swapped += 1
            return self._choose_swap(key, text, lowered, start, end)

        rewritten, _ = self._rewrite(text, choose, counterparts)
        return rewritten, swapped

    def neutralize_with_count(
        self, text: str, name_replacement: str = "_", term_replacement: str | None = None
    ) -> tuple[str, int]:
        """Scrub explicit attribute indicators (De-Arteaga et al. 2019 style); returns ``(text, words found)``.

        - pronouns -> singular they: he/she -> they, him -> them, her -> their/them, his -> their/theirs,
          hers -> theirs, himself/herself -> themselves (case kept), and the verb after a subject "they" in
          agreement: "She is based" -> "They are based", "he also works" -> "they also work" (:mod:`.verb_agreement`);
        - titles (Mr, Mrs, Ms, Sir, Lady, ...) directly before a capitalised word are removed with their
          period: "Mr. Smith" -> "Smith";
        - first names from the name lists, and unlisted first names after a title ("Dr. Shubhada Karavade"),
          -> ``name_replacement`` ("John's" -> "_'s"); names inside place names ("San Francisco") stay;
        - other attribute words (man, sister, black, church, ...) -> ``term_replacement``, or kept when None.

        Only words in this swapper's vocabulary are touched, so a race swapper leaves pronouns alone.
        The count includes the removed titles and the kept words.
        """
        unlisted = self._unlisted_names(text)
        titles = 0
        if self._title_pattern is not None:
            text, titles = self._remove_titles(text)

        def choose(key: str, text: str, lowered: str, start: int, end: int) -> tuple[str, int] | None:
            if key in self._names or key in unlisted:
                return name_replacement, end
            neutral = NEUTRAL_PRONOUNS.get(key)
            if neutral is None:
                return None if term_replacement is None else (term_replacement, end)
            replacement = match_case(text[start:end], _resolve(neutral, lowered, start, end, self._names))
            if key in _SUBJECT_PRONOUNS:
                agreement = plural_verb_after(text, lowered, end)
                if agreement is not None:
                    return replacement + agreement[0], agreement[1]
            return replacement, end

        scrubbed, count = self._rewrite(text, choose, {key: name for key, (name, _) in unlisted.items()})
        return scrubbed, titles + count

    def _remove_titles(self, text: str) -> tuple[str, int]:
        """``text`` without the titles that stand directly before a capitalised word, and how many went."""
        assert self._title_pattern is not None
        lowered = _aligned_lower(text)
        pieces: list[str] = []
        last = 0
        for match in self._title_pattern.finditer(lowered):
            start, end = match.span()
            if end < len(text) and text[end].isupper():
                pieces.append(text[last:start])
                last = end
        if not pieces:
            return text, 0
        removed = len(pieces)
        pieces.append(text[last:])
        return "".join(pieces), removed

    # ------------------------------------------------------------------ group labels

    def _group_word_counterpart(self, word: str) -> str:
        target = self._targets[normalize_term(word)]
        return match_case(word, target if isinstance(target, str) else target[0])

    def counterpart_groups(self, group_names: Sequence[str]) -> list[int]:
        """For group ids ``0..G-1`` named ``group_names``, the id of the group a swapped row belongs to.

        A plain name is swapped as a word (``["male", "female"] -> [1, 0]``). An intersectional name
        such as ``female|black`` has each ``|``-separated part swapped when it is a word of this swapper
        and kept otherwise, so a gender swapper maps ``female|black`` to ``male|black``. Names compare
        case-insensitively.

        Raises ``ValueError`` when a group contains no attribute word or its counterpart is not among
        ``group_names``.
        """
        keys = [normalize_term(name) for name in group_names]
        permutation = []
        for name in group_names:
            parts = name.split("|")
            swappable = [normalize_term(part) in self._targets for part in parts]
            if not any(swappable):
                raise ValueError(
                    f"group {name!r} contains no {self.attribute} word, so a swapped row has no group to move to; "
                    "name the groups with words of the list (e.g. male/female), or use another attribute"
                )
            counterpart = "|".join(
                self._group_word_counterpart(part.strip()) if swap else part
                for part, swap in zip(parts, swappable, strict=True)
            )
            if normalize_term(counterpart) not in keys:
                raise ValueError(
                    f"group {name!r} swaps to {counterpart!r}, which is not one of the groups {list(group_names)}"
                )
            permutation.append(keys.index(normalize_term(counterpart)))
        return permutation
