"""Intersectional group ids: one group per combination of several protected attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np


def intersectional_groups(
    attributes: Mapping[str, Sequence[int]],
    names: Mapping[str, Sequence[str]],
    separator: str = "|",
) -> tuple[list[int], list[str]]:
    """Derive one intersectional group id per row from several protected attributes.

    Groups are every combination of attribute values, in the attributes' order, numbered row-major (the
    last attribute varies fastest): with ``gender`` in (female, male) and ``race`` in (white, black), the
    groups are ``female|white = 0, female|black = 1, male|white = 2, male|black = 3``. All combinations are
    listed, even those absent from the rows, so ids and names agree between splits and runs; a metric over
    these groups reports absent ones as empty.

    Args:
        attributes: attribute name -> ``[N]`` integer values, each in ``0..len(names[attribute])-1``
            (lists, tuples, numpy arrays or 1-D tensors; all of the same length).
        names: attribute name -> names of its values; same keys as ``attributes``.
        separator: joins value names into a group name; must not occur in any value name.

    Returns:
        ``(group_ids, group_names)``: ``[N]`` ids in ``0..G-1`` as a list of ints, and the ``G`` group names.

    Raises:
        ValueError: on missing/extra attributes, unequal lengths, or a value out of range (naming the
            attribute and the first offending row).

    Example:
        >>> ids, group_names = intersectional_groups(
        ...     {"gender": [0, 1, 1, 0], "race": [1, 0, 1, 1]},
        ...     {"gender": ["female", "male"], "race": ["white", "black"]},
        ... )
        >>> ids
        [1, 2, 3, 1]
        >>> group_names
        ['female|white', 'female|black', 'male|white', 'male|black']
    """
    if not attributes:
        raise ValueError("intersectional_groups: `attributes` must name at least one protected attribute; got none.")
    if set(attributes) != set(names):
        raise ValueError(
            "intersectional_groups: `attributes` and `names` must have the same keys; got "
            f"attributes {sorted(attributes)} and names {sorted(names)}."
        )
    if not separator:
        raise ValueError("intersectional_groups: `separator` must be a non-empty string.")

    value_names: list[list[str]] = []
    columns: list[np.ndarray] = []
    for attribute, values in attributes.items():
        labels = [str(label) for label in names[attribute]]
        if not labels:
            raise ValueError(f"intersectional_groups: names[{attribute!r}] must list at least one value name.")
        clashing = [label for label in labels if separator in label]
        if clashing:
            raise ValueError(
                f"intersectional_groups: value names of {attribute!r} contain the separator {separator!r}: "
                f"{clashing}; pass another `separator`."
            )
        column = _integer_column(attribute, values)
        if columns and column.shape[0] != columns[0].shape[0]:
            first = next(iter(attributes))
            raise ValueError(
                f"intersectional_groups: every attribute needs one value per row; {first!r} has "
                f"{columns[0].shape[0]} rows but {attribute!r} has {column.shape[0]}."
            )
        out_of_range = np.flatnonzero((column < 0) | (column >= len(labels)))
        if out_of_range.size:
            row = int(out_of_range[0])
            raise ValueError(
                f"intersectional_groups: attribute {attribute!r} has value {int(column[row])} at row {row}; "
                f"expected 0..{len(labels) - 1} ({', '.join(labels)})."
            )
        value_names.append(labels)
        columns.append(column)

    group_ids = np.zeros_like(columns[0])
    for column, labels in zip(columns, value_names, strict=True):
        group_ids = group_ids * len(labels) + column
    group_names = [separator.join(parts) for parts in product(*value_names)]
    return group_ids.tolist(), group_names


def _integer_column(attribute: str, values: Sequence[int]) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()  # type: ignore[union-attr]
    column = np.asarray(values)
    if column.ndim != 1:
        raise ValueError(
            f"intersectional_groups: attribute {attribute!r} must be a flat sequence of ints; got shape {column.shape}."
        )
    if column.size and not (np.issubdtype(column.dtype, np.integer) or column.dtype == np.bool_):
        raise ValueError(
            f"intersectional_groups: attribute {attribute!r} must hold integer value ids; got dtype {column.dtype}."
        )
    return column.astype(np.int64)

