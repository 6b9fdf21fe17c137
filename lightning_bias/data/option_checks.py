"""Checks of numeric options where they enter: a ``ValueError`` naming the option and its allowed range.

One function for every number a user sets (``data.batch_size``, ``model.learning_rate``...), so that a bad
value fails when the data module or model is constructed, before any data is read or a Trainer started,
with the option's name in the message, instead of as a framework error (or silently) much later.
"""

from __future__ import annotations

import math
import operator

_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def check_number(
    option: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``option`` unless ``value`` is a finite number in the given bounds.

    Args:
        option: the option's name as the user writes it, e.g. ``"data.batch_size"``.
        value: the value given.
        above, at_least: exclusive / inclusive lower bound, if any.
        below, at_most: exclusive / inclusive upper bound, if any.
        integer: the value must be an ``int`` (``True``/``False`` are not numbers here).
        optional: ``None`` is allowed (it means "not set" / "off").
    """
    if value is None and optional:
        return
    bounds = [(op, bound) for op, bound in ((">", above), (">=", at_least), ("<", below), ("<=", at_most))
              if bound is not None]
    is_number = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
    if is_number and math.isfinite(value) and all(_COMPARE[op](value, bound) for op, bound in bounds):
        return
    wanted = ("an integer" if integer else "a number") + (" " if bounds else "")
    wanted += " and ".join(f"{op} {bound:g}" for op, bound in bounds) + (" or null" if optional else "")
    raise ValueError(f"{option} must be {wanted}, got {value!r}")
