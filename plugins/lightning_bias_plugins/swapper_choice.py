"""Which word swapper a counterfactual plugin uses, and which group a swapped row belongs to.

Shared by ``counterfactual_augmentation``, ``scrubbing`` and ``counterfactual_evaluation``: they
all take the same arguments (``attribute``, ``include_names``, ``term_files``, ``name_files``,
``seed``) and build one :class:`lightning_bias.counterfactual.AttributeSwapper` from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning_bias.counterfactual import BUILTIN_ATTRIBUTES, AttributeSwapper


def build_swapper(
    attribute: str = "gender",
    include_names: bool = True,
    term_files: Sequence[str | Path] | None = None,
    name_files: Sequence[str | Path] | None = None,
    seed: int = 0,
) -> AttributeSwapper:
    """The built-in lists of ``attribute``, or the user's word-list files when ``term_files`` is given.

    ``name_files`` (first-name lists) are only read with ``term_files``; with the built-in lists
    ``include_names`` decides whether the built-in first names are used (gender only).
    Raises ``ValueError`` for an unknown attribute or a malformed list (naming file and line).
    """
    if term_files:
        return AttributeSwapper.from_files(*term_files, name_files=list(name_files or []), seed=seed,
                                           attribute=attribute)
    if name_files:
        raise ValueError("name_files is only used together with term_files; give term_files too, or drop name_files")
    if attribute not in BUILTIN_ATTRIBUTES:
        raise ValueError(
            f"no built-in word lists for attribute {attribute!r}; choose one of {list(BUILTIN_ATTRIBUTES)} "
            "or give term_files (and name_files) with your own lists"
        )
    return AttributeSwapper.builtin(attribute, include_names=include_names, seed=seed)


def counterpart_groups(swapper: AttributeSwapper, group_names: Sequence[str]) -> list[int]:
    """For group ids ``0..G-1`` named ``group_names``, the id of the group a swapped row belongs to.

    A plain name is swapped as a word (``male -> female``). An intersectional name such as
    ``female|black`` has each ``|``-separated part swapped when it is a word of the swapper and kept
    otherwise, so a gender swapper maps ``female|black`` to ``male|black``.

    Raises ``ValueError`` when a group has no counterpart among ``group_names``.
    """
    lowered = [name.lower() for name in group_names]
    vocabulary = swapper.vocabulary
    permutation = []
    for name in group_names:
        parts = name.split("|")
        swappable = [part for part in parts if part.strip().lower() in vocabulary]
        if not swappable:
            raise ValueError(
                f"group {name!r} contains no {swapper.attribute} word, so a swapped row has no group to move to; "
                f"name the groups with words of the list (e.g. male/female), or use another attribute"
            )
        counterpart = "|".join(
            swapper.swap_group_name(part.strip()) if part.strip().lower() in vocabulary else part for part in parts
        )
        if counterpart.lower() not in lowered:
            raise ValueError(
                f"group {name!r} swaps to {counterpart!r}, which is not one of the groups {list(group_names)}"
            )
        permutation.append(lowered.index(counterpart.lower()))
    return permutation
