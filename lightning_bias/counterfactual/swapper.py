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
from .pronoun_context import noun_phrase_follows
from .scrubbing_forms import NEUTRAL_PRONOUNS, TITLES
from .term_pattern import compile_term_pattern
from .wordlist_format import WordList, normalize_term, read_word_list
from .wordlists import BUILTIN_ATTRIBUTES, builtin_name_files, builtin_term_files

__all__ = ["AttributeSwapper"]

# A target: one word, or (when a noun phrase follows, otherwise).
Target = str | tuple[str, str]
# Chooses the replacement of one match: (key, original word, lowered text, end of match) -> text or None to keep.
_Chooser = Callable[[str, str, str, int], str | None]


def _resolve(target: Target, lowered_text: str, end: int, first_names: frozenset[str]) -> str:
    if isinstance(target, str):
        return target
    return target[0] if noun_phrase_follows(lowered_text, end, first_names) else target[1]


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
        self._ignorecase_pattern: re.Pattern[str] | None = None
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

    def _rewrite(self, text: str, choose: _Chooser) -> tuple[str, int]:
        """Replace every attribute word of ``text`` by ``choose(...)``; returns (new text, number of words matched)."""
        lowered = text.lower()
        if len(lowered) != len(text):
            # Rare characters whose lower case has another length ("İ"): match on the original instead.
            return self._rewrite_unaligned(text, choose)
        pieces: list[str] = []
        last = 0
        count = 0
        for match in self._pattern.finditer(lowered):
            start, end = match.span()
            count += 1
            replacement = choose(match.group(), text[start:end], lowered, end)
            if replacement is not None:
                pieces.append(text[last:start])
                pieces.append(replacement)
                last = end
        if last == 0:
            return text, count
        pieces.append(text[last:])
        return "".join(pieces), count

    def _rewrite_unaligned(self, text: str, choose: _Chooser) -> tuple[str, int]:
        if self._ignorecase_pattern is None:
            self._ignorecase_pattern = re.compile(self._pattern.pattern, re.IGNORECASE)
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            count += 1
            original = match.group()
            following = text[match.end() : match.end() + 64].lower()
            replacement = choose(normalize_term(original), original, following, 0)
            return original if replacement is None else replacement

        return self._ignorecase_pattern.sub(replace, text), count

    def _target(self, key: str) -> Target:
        target = self._targets.get(key)
        if target is None:  # multi-word term matched across irregular whitespace
            target = self._targets[" ".join(key.split())]
        return target

    def _choose_swap(self, key: str, original: str, lowered: str, end: int) -> str:
        return match_case(original, _resolve(self._target(key), lowered, end, self._names))

    # ------------------------------------------------------------------ public text API

    def swap_with_count(self, text: str) -> tuple[str, int]:
        """``(text with every attribute word replaced by its counterpart, number of words swapped)``.

        Case and punctuation are kept: ``"He gave her John's book."`` -> ``("She gave him Mary's book.", 3)``.
        """
        return self._rewrite(text, self._choose_swap)

    def neutralize_with_count(
        self, text: str, name_replacement: str = "_", term_replacement: str | None = None
    ) -> tuple[str, int]:
        """Scrub explicit attribute indicators (De-Arteaga et al. 2019 style); returns ``(text, words found)``.

        - pronouns -> singular they: he/she -> they, him -> them, her -> their/them, his -> their/theirs,
          hers -> theirs, himself/herself -> themselves (case kept; verbs are not re-conjugated);
        - titles (Mr, Mrs, Ms, Sir, Lady, ...) directly before a capitalised word are removed with their
          period: "Mr. Smith" -> "Smith";
        - first names from the name lists -> ``name_replacement`` ("John's" -> "_'s");
        - other attribute words (man, sister, black, church, ...) -> ``term_replacement``, or kept when None.

        Only words in this swapper's vocabulary are touched, so a race swapper leaves pronouns alone.
        The count includes the removed titles and the kept words.
        """
        titles = 0
        if self._title_pattern is not None:
            text, titles = self._remove_titles(text)

        def choose(key: str, original: str, lowered: str, end: int) -> str | None:
            key = " ".join(key.split())
            if key in self._names:
                return name_replacement
            neutral = NEUTRAL_PRONOUNS.get(key)
            if neutral is not None:
                return match_case(original, _resolve(neutral, lowered, end, self._names))
            return term_replacement

        scrubbed, count = self._rewrite(text, choose)
        return scrubbed, titles + count

    def _remove_titles(self, text: str) -> tuple[str, int]:
        """``text`` without the titles that stand directly before a capitalised word, and how many went."""
        assert self._title_pattern is not None
        lowered = text.lower()
        if len(lowered) != len(text):
            return text, 0  # titles are left in place in the rare unaligned case
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
