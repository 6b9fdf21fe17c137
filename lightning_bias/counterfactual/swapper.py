"""``AttributeSwapper``: counterfactual word swapping, scrubbing and attribute-word counting.

One swapper holds one vocabulary (e.g. gender terms + first names) compiled into a single
whole-word regex that runs on the lower-cased text; each match is replaced through a dict
lookup, with the case of the original word carried over. Used by downstream CDA (swapped
copies of training rows), scrubbing, counterfactual evaluation, and upstream CDA of an MLM
corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .casing import match_case
from .pronoun_context import noun_phrase_follows
from .scrubbing_forms import NEUTRAL_PRONOUNS, TITLES
from .term_pattern import compile_term_pattern
from .wordlist_format import WordList, normalize_term, read_word_list
from .wordlists import builtin_name_files, builtin_term_files

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

    def swap(self, text: str) -> str:
        """``text`` with every attribute word replaced by its counterpart, case and punctuation kept."""
        return self._rewrite(text, self._choose_swap)[0]

    def swap_with_count(self, text: str) -> tuple[str, int]:
        """``(swap(text), number of attribute words swapped)``."""
        return self._rewrite(text, self._choose_swap)

    def contains_attribute(self, text: str) -> bool:
        """Whether ``text`` contains at least one attribute word."""
        lowered = text.lower()
        if len(lowered) != len(text):
            return self._rewrite_unaligned(text, lambda *_: None)[1] > 0
        return self._pattern.search(lowered) is not None

    def count_attribute_words(self, texts: Iterable[str]) -> int:
        """Total number of attribute-word occurrences in ``texts`` (an iterable of strings)."""
        total = 0
        for text in texts:
            lowered = text.lower()
            if len(lowered) == len(text):
                total += sum(1 for _ in self._pattern.finditer(lowered))
            else:
                total += self._rewrite_unaligned(text, lambda *_: None)[1]
        return total

    def neutralize(self, text: str, name_replacement: str = "_", term_replacement: str | None = None) -> str:
        """Scrub explicit attribute indicators (De-Arteaga et al. 2019 style).

        - pronouns -> singular they: he/she -> they, him -> them, her -> their/them, his -> their/theirs,
          hers -> theirs, himself/herself -> themselves (case kept; verbs are not re-conjugated);
        - titles (Mr, Mrs, Ms, Sir, Lady, ...) directly before a capitalised word are removed with their
          period: "Mr. Smith" -> "Smith";
        - first names from the name lists -> ``name_replacement`` ("John's" -> "_'s");
        - other attribute words (man, sister, black, church, ...) -> ``term_replacement``, or kept when None.

        Only words in this swapper's vocabulary are touched, so a race swapper leaves pronouns alone.
        """
        if self._title_pattern is not None:
            text = self._remove_titles(text)

        def choose(key: str, original: str, lowered: str, end: int) -> str | None:
            key = " ".join(key.split())
            if key in self._names:
                return name_replacement
            neutral = NEUTRAL_PRONOUNS.get(key)
            if neutral is not None:
                return match_case(original, _resolve(neutral, lowered, end, self._names))
            return term_replacement

        return self._rewrite(text, choose)[0]

    def _remove_titles(self, text: str) -> str:
        assert self._title_pattern is not None
        lowered = text.lower()
        if len(lowered) != len(text):
            return text  # titles are left in place in the rare unaligned case
        pieces: list[str] = []
        last = 0
        for match in self._title_pattern.finditer(lowered):
            start, end = match.span()
            if end < len(text) and text[end].isupper():
                pieces.append(text[last:start])
                last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    # ------------------------------------------------------------------ group labels

    def swap_group_name(self, name: str) -> str:
        """The counterpart of a group label ("male" -> "female", "Christian" -> e.g. "Muslim"), case kept.

        Raises ValueError when ``name`` is not an attribute word of this swapper.
        """
        key = normalize_term(name)
        if key not in self._targets:
            examples = ", ".join(sorted(self._targets)[:8])
            raise ValueError(
                f"group name {name!r} is not a {self.attribute} word of this swapper (known words include: "
                f"{examples}, ...); rename the group or add it to a word list."
            )
        target = self._targets[key]
        return match_case(name, target if isinstance(target, str) else target[0])

    def group_permutation(self, group_names: Sequence[str]) -> list[int]:
        """For group ids ``0..G-1`` named ``group_names``, the id of each group's counterpart.

        ``["male", "female"] -> [1, 0]``. Raises ValueError naming a group whose counterpart is missing.
        """
        keys = [normalize_term(name) for name in group_names]
        permutation = []
        for name in group_names:
            counterpart = normalize_term(self.swap_group_name(name))
            if counterpart not in keys:
                raise ValueError(
                    f"group {name!r} swaps to {counterpart!r}, which is not one of the group names {list(group_names)}."
                )
            permutation.append(keys.index(counterpart))
        return permutation

    # ------------------------------------------------------------------ datasets.Dataset.map(batched=True) helpers

    @staticmethod
    def _texts(batch: Mapping[str, list], text_column: str) -> list[str]:
        if text_column not in batch:
            raise ValueError(
                f"the batch has no column {text_column!r} (columns: {list(batch)}); pass text_column=..."
            )
        texts = batch[text_column]
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"column {text_column!r}, row {row} of the batch is {type(text).__name__}, expected str."
                )
        return texts

    def swap_batch(self, batch: Mapping[str, list], text_column: str = "text") -> dict[str, list]:
        """``{text_column: swapped texts}`` for ``Dataset.map(swapper.swap_batch, batched=True)`` (same row count)."""
        return {text_column: [self.swap(text) for text in self._texts(batch, text_column)]}

    def neutralize_batch(
        self,
        batch: Mapping[str, list],
        text_column: str = "text",
        name_replacement: str = "_",
        term_replacement: str | None = None,
    ) -> dict[str, list]:
        """``{text_column: neutralized texts}`` for ``Dataset.map(..., batched=True)``; see :meth:`neutralize`."""
        return {
            text_column: [
                self.neutralize(text, name_replacement, term_replacement)
                for text in self._texts(batch, text_column)
            ]
        }

    def augment_batch(
        self,
        batch: Mapping[str, list],
        text_column: str = "text",
        group_column: str | None = None,
        group_names: Sequence[str] | None = None,
        keep_unmatched: bool = True,
        counterfactual_column: str | None = None,
    ) -> dict[str, list[Any]]:
        """Counterfactual data augmentation of a batch: each row, followed by its swapped copy if it has attribute words.

        Use as ``dataset.map(swapper.augment_batch, batched=True, fn_kwargs={...})``; the output has
        every input column (more rows than the input).

        Args:
            batch: column name -> list of values (a ``datasets`` batch).
            text_column: the column to swap.
            group_column: integer group-id column to flip in the copies, using ``group_names`` (id -> name)
                and :meth:`group_permutation`. Both or neither.
            keep_unmatched: keep rows without attribute words (False = bias-bench's "two-sided, filtered" CDA:
                only rows with attribute words, each with its copy).
            counterfactual_column: if set, add a bool column, True on the swapped copies.
        """
        texts = self._texts(batch, text_column)
        if (group_column is None) != (group_names is None):
            raise ValueError("augment_batch: pass group_column and group_names together (or neither).")
        permutation = self.group_permutation(group_names) if group_names is not None else None
        if group_column is not None and group_column not in batch:
            raise ValueError(f"the batch has no group column {group_column!r} (columns: {list(batch)}).")
        output: dict[str, list[Any]] = {column: [] for column in batch}
        if counterfactual_column is not None:
            if counterfactual_column in batch:
                raise ValueError(
                    f"counterfactual_column {counterfactual_column!r} already exists in the batch."
                )
            output[counterfactual_column] = []
        for row, text in enumerate(texts):
            swapped, count = self.swap_with_count(text)
            if count == 0 and not keep_unmatched:
                continue
            for column, values in batch.items():
                output[column].append(values[row])
            if counterfactual_column is not None:
                output[counterfactual_column].append(False)
            if count == 0:
                continue
            for column, values in batch.items():
                value = values[row]
                if column == text_column:
                    value = swapped
                elif column == group_column:
                    if not isinstance(value, int) or not 0 <= value < len(permutation):
                        raise ValueError(
                            f"column {group_column!r}, row {row}: group id {value!r} is not in [0, {len(permutation) - 1}] "
                            f"(group_names={list(group_names)})."
                        )
                    value = permutation[value]
                output[column].append(value)
            if counterfactual_column is not None:
                output[counterfactual_column].append(True)
        return output
