"""The one routine that turns rows of text into counterfactual rows: copies, substitutions or rewrites.

Fine-tuning CDA, corpus CDA, scrubbing and counterfactual evaluation all call :func:`augment` on a
batch of texts (a ``datasets.Dataset.map(batched=True)`` batch, say) with a rewrite of one text —
usually :meth:`AttributeSwapper.swap_with_count <lightning_bias.counterfactual.AttributeSwapper.swap_with_count>`
or :meth:`~lightning_bias.counterfactual.AttributeSwapper.neutralize_with_count` — and a mode:

================== =====================================================================================
mode               output rows, in input order
================== =====================================================================================
two_sided          every row; a row with an attribute word is followed by its rewritten copy
two_sided_filtered only the rows with an attribute word, each followed by its rewritten copy
                   (bias-bench's CDA, Meade et al. 2022)
one_sided          every row; a row of ``source_group`` with an attribute word is followed by its copy
substitution       every row; a row with an attribute word whose draw is below ``probability`` is
                   replaced by its rewritten version
in_place           every row, replaced by its rewritten version (scrubbing)
================== =====================================================================================

A rewritten row (copy or replacement) of a row with an attribute word moves to the counterpart group
when group ids and a counterpart permutation are given (:meth:`AttributeSwapper.counterpart_groups
<lightning_bias.counterfactual.AttributeSwapper.counterpart_groups>`). The routine draws nothing itself:
substitution takes the caller's seeded draws, one per row, so every caller keeps its own seeding.

>>> from lightning_bias.counterfactual import AttributeSwapper
>>> swapper = AttributeSwapper.builtin("gender")
>>> rows = augment(["He is a nurse.", "The sky."], swapper.swap_with_count, "two_sided", groups=[0, 0],
...                counterpart=[1, 0])
>>> rows.texts, rows.groups, rows.sources
(['He is a nurse.', 'She is a nurse.', 'The sky.'], [0, 1, 0], [0, 0, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Literal

__all__ = ["MODES", "AugmentedRows", "Mode", "Rewrite", "augment"]

Mode = Literal["two_sided", "two_sided_filtered", "one_sided", "substitution", "in_place"]
MODES: tuple[str, ...] = ("two_sided", "two_sided_filtered", "one_sided", "substitution", "in_place")
# Rewrites one text: text -> (rewritten text, number of attribute words found in it).
Rewrite = Callable[[str], tuple[str, int]]


@dataclass(frozen=True)
class AugmentedRows:
    """The output rows of :func:`augment`, in order, and what was found and rewritten.

    Attributes:
        sources: ``[N_out]`` index of the input row every output row comes from (to copy other columns).
        texts: ``[N_out]`` the output texts.
        groups: ``[N_out]`` group ids, counterpart groups on rewritten rows; ``None`` when no groups were given.
        rewritten: ``[N_out]`` True on the rows that are rewritten versions (copies or replacements) of a
            row with an attribute word.
        rows_with_words: examined input rows with at least one attribute word (all rows are examined,
            except in ``one_sided``: only those of the source group).
        words_found: attribute words in the examined input rows.
        words_rewritten: attribute words in the input rows behind the rewritten output rows.
        rows_changed: output rows whose text differs from their input row's.
    """

    sources: list[int]
    texts: list[str]
    groups: list[int] | None
    rewritten: list[bool]
    rows_with_words: int
    words_found: int
    words_rewritten: int
    rows_changed: int

    @property
    def rows_rewritten(self) -> int:
        """Output rows that are rewritten versions of a row with an attribute word."""
        return sum(self.rewritten)


def _check(
    texts: Sequence[str],
    mode: str,
    groups: Sequence[int] | None,
    counterpart: Sequence[int] | None,
    source_group: int | None,
    draws: Sequence[float] | None,
    probability: float,
) -> None:
    if mode not in MODES:
        raise ValueError(f"augment: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"augment: text of row {row} is {type(text).__name__}, expected str")
    if groups is not None and len(groups) != len(texts):
        raise ValueError(f"augment: {len(groups)} group ids for {len(texts)} texts; give one per row")
    if counterpart is not None and groups is None:
        raise ValueError("augment: a counterpart permutation needs the rows' group ids (groups=...)")
    if (mode == "one_sided") != (source_group is not None) or (mode == "one_sided" and groups is None):
        raise ValueError("augment: mode one_sided needs groups and source_group, and only it takes source_group")
    if (mode == "substitution") != (draws is not None):
        raise ValueError("augment: mode substitution needs draws (one number in [0, 1) per row), and only it takes them")
    if draws is not None and len(draws) != len(texts):
        raise ValueError(f"augment: {len(draws)} draws for {len(texts)} texts; give one per row")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"augment: probability must be in [0, 1], got {probability!r}")
    if counterpart is not None and groups is not None:
        for row, group in enumerate(groups):
            if isinstance(group, bool) or not isinstance(group, Integral) or not 0 <= group < len(counterpart):
                raise ValueError(
                    f"augment: group id {group!r} of row {row} is not in 0..{len(counterpart) - 1} "
                    f"(the counterpart permutation has {len(counterpart)} groups)"
                )


def augment(
    texts: Sequence[str],
    rewrite: Rewrite,
    mode: Mode,
    *,
    groups: Sequence[int] | None = None,
    counterpart: Sequence[int] | None = None,
    source_group: int | None = None,
    draws: Sequence[float] | None = None,
    probability: float = 1.0,
) -> AugmentedRows:
    """Counterfactual rows of ``texts`` (see the module docstring for the modes).

    Args:
        texts: ``[N]`` input texts.
        rewrite: one text -> ``(rewritten text, attribute words found)``; a row "has an attribute word"
            when the count is positive.
        mode: one of :data:`MODES`.
        groups: ``[N]`` group ids of the rows (needed for ``one_sided`` and to move rewritten rows).
        counterpart: ``[G]`` the group id a rewritten row of group ``g`` moves to; without it groups stay.
        source_group: for ``one_sided``, the group whose rows get copies.
        draws: for ``substitution``, ``[N]`` seeded numbers in [0, 1), one per row.
        probability: for ``substitution``, a row with an attribute word is replaced when its draw is below it.

    Returns:
        :class:`AugmentedRows` with ``N_out`` output rows (``N_out = N`` for ``substitution`` and ``in_place``).

    Raises:
        ValueError: an unknown mode, missing or extra arguments for the mode, lengths that differ from
            ``len(texts)``, a text that is not a string, or a group id outside the counterpart permutation.
    """
    _check(texts, mode, groups, counterpart, source_group, draws, probability)
    sources: list[int] = []
    output: list[str] = []
    rewritten: list[bool] = []
    rows_with_words = words_found = words_rewritten = 0
    copies = mode in ("two_sided", "two_sided_filtered", "one_sided")

    def emit(row: int, text: str, is_rewritten: bool) -> None:
        sources.append(row)
        output.append(text)
        rewritten.append(is_rewritten)

    for row, text in enumerate(texts):
        if mode == "one_sided" and groups[row] != source_group:
            emit(row, text, False)
            continue
        new_text, count = rewrite(text)
        rows_with_words += count > 0
        words_found += count
        if copies:
            if count > 0 or mode != "two_sided_filtered":
                emit(row, text, False)
            if count > 0:
                emit(row, new_text, True)
                words_rewritten += count
            continue
        replace = count > 0 and (mode == "in_place" or draws[row] < probability)
        emit(row, new_text if replace else text, replace)
        words_rewritten += count if replace else 0
    out_groups = None
    if groups is not None:
        out_groups = [
            counterpart[groups[row]] if is_rewritten and counterpart is not None else groups[row]
            for row, is_rewritten in zip(sources, rewritten, strict=True)
        ]
    rows_changed = sum(new != texts[row] for row, new in zip(sources, output, strict=True))
    return AugmentedRows(sources, output, out_groups, rewritten, rows_with_words, words_found, words_rewritten,
                         rows_changed)
