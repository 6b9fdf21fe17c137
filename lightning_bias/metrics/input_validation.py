"""Argument checks for the fairness metrics, with errors that say what was expected and what came.

Two kinds of checks:

* **Structural** (shapes, dtypes, constructor arguments): metadata only, always on, never touch data.
* **Value ranges** (:func:`check_value_ranges`): need the tensors' minima/maxima on the host, so they cost
  exactly ONE device-to-host synchronisation per ``update`` call (all the reductions are stacked into one
  small tensor that is copied once). The metrics run them when ``validate_args=True`` (the default); pass
  ``validate_args=False`` for a sync-free ``update`` once the data pipeline is trusted. Without them,
  out-of-range ids are the caller's responsibility: they raise an indexing error or silently land in
  another cell of the count tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import torch
from torch import Tensor

_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)


def check_count(name: str, value: object, minimum: int, owner: str) -> int:
    """Check that a constructor argument is an ``int >= minimum`` and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}: `{name}` must be an int >= {minimum}; got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{owner}: `{name}` must be >= {minimum}; got {value}.")
    return value


def check_choice(name: str, value: object, choices: Sequence[str], owner: str) -> str:
    """Check that a constructor argument is one of ``choices`` and return it."""
    if value not in choices:
        raise ValueError(f"{owner}: `{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value  # type: ignore[return-value]


def check_names(name: str, names: Sequence[str] | None, expected_length: int, owner: str) -> list[str]:
    """Return display names (``"0", "1", ...`` by default) after checking length, type and uniqueness."""
    if names is None:
        return [str(index) for index in range(expected_length)]
    names = list(names)
    if len(names) != expected_length:
        raise ValueError(
            f"{owner}: `{name}` must have one entry per id ({expected_length}); got {len(names)}: {names!r}."
        )
    if not all(isinstance(item, str) and item for item in names):
        raise ValueError(f"{owner}: `{name}` must be non-empty strings; got {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: `{name}` must be unique; got {names!r}.")
    return names


def check_integer_vector(name: str, tensor: object, owner: str) -> Tensor:
    """Check that ``tensor`` is a 1-D integer (or bool) tensor."""
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{owner}: `{name}` must be a torch.Tensor of shape [N]; got {type(tensor).__name__}.")
    if tensor.dim() != 1 or tensor.dtype not in _INTEGER_DTYPES:
        raise ValueError(
            f"{owner}: `{name}` must be a 1-D integer tensor of shape [N]; "
            f"got shape {list(tensor.shape)} with dtype {tensor.dtype}."
        )
    return tensor


def check_same_length(owner: str, **tensors: Tensor) -> int:
    """Check that all ``tensors`` have the same first dimension ``N`` and return it."""
    lengths = {name: tensor.shape[0] for name, tensor in tensors.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"`{name}` has {length}" for name, length in lengths.items())
        raise ValueError(f"{owner}: all inputs must have the same number of rows N; {described}.")
    return next(iter(lengths.values()))


def predicted_labels(preds: object, num_classes: int, owner: str) -> tuple[Tensor, Tensor | None]:
    """Turn ``[N, C]`` scores (argmax) or ``[N]`` integer labels into ``[N]`` predicted labels.

    Returns:
        ``(labels, top_scores)``: ``labels`` are int64, or bool (class 1 = True) for two-column scores;
        ``top_scores`` is the scores to check for NaN/inf: the ``[N, 2]`` scores themselves for two
        columns, else the ``[N]`` row maximum of ``[N, C]`` scores (NaN for a
        row holding a NaN, which then wins the argmax), for validation; ``None`` for ``[N]`` labels.
    """
    if not isinstance(preds, Tensor):
        raise ValueError(f"{owner}: `preds` must be a torch.Tensor; got {type(preds).__name__}.")
    if preds.dim() == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(
                f"{owner}: `preds` of shape [N, C] must have C = num_classes = {num_classes} columns; "
                f"got shape {list(preds.shape)}."
            )
        if preds.shape[0] == 0:
            return torch.zeros(0, dtype=torch.int64, device=preds.device), preds.new_zeros(0)
        if num_classes == 2 and preds.is_floating_point():
            # two columns: a comparison is the argmax (ties -> class 0, as torch.argmax) at a third of the
            # cost of a reduction over a 2-wide dimension; both scores are then checked, not just the larger
            negative, positive = preds.unbind(dim=1)
            return positive > negative, preds
        # one pass gives both the argmax (first maximal index, as torch.argmax) and the row maxima
        top_scores, labels = preds.max(dim=1)
        return labels, top_scores
    if preds.dim() == 1:
        if preds.dtype not in _INTEGER_DTYPES:
            raise ValueError(
                f"{owner}: `preds` of shape [N] must hold integer class labels; got dtype {preds.dtype}. "
                f"Pass [N, {num_classes}] scores to have the argmax taken."
            )
        return preds, None
    raise ValueError(
        f"{owner}: `preds` must be [N, {num_classes}] scores or [N] integer labels; got shape {list(preds.shape)}."
    )


class ValueRange(NamedTuple):
    """An inclusive range ``[low, high]`` that every value of ``tensor`` (called ``name``) must lie in."""

    name: str
    tensor: Tensor
    low: float
    high: float
    hint: str = ""


def check_value_ranges(owner: str, ranges: Sequence[ValueRange]) -> None:
    """Check value ranges (and absence of NaN/inf) with ONE device-to-host synchronisation.

    Empty tensors are skipped. Raises ``ValueError`` naming the first offending input, the expected range
    and the range that came.
    """
    ranges = [item for item in ranges if item.tensor.numel() > 0]
    if not ranges:
        return
    # per input one aminmax (NaN propagates to both ends, so it also reveals NaN/inf), one host copy in all
    extremes = [value for item in ranges for value in _min_max(item.tensor)]
    # stack promotes every extreme to the float64 of the trailing anchor: one op, one copy to the host
    values = torch.stack([*extremes, _float64_anchor(extremes[0].device)]).tolist()
    for index, item in enumerate(ranges):
        low, high = values[2 * index : 2 * index + 2]
        if item.tensor.is_floating_point() and not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{owner}: `{item.name}` contains NaN or infinite values; expected finite values.")
        if low < item.low or high > item.high:
            raise ValueError(
                f"{owner}: `{item.name}` must hold values in [{_format(item.low)}, {_format(item.high)}]; "
                f"got values in [{_format(low)}, {_format(high)}].{(' ' + item.hint) if item.hint else ''}"
            )


@cache
def _float64_anchor(device: torch.device) -> Tensor:
    """A float64 zero on ``device``: stacked with the extremes, it makes them all float64 (exact for ids)."""
    return torch.zeros((), dtype=torch.float64, device=device)


def _min_max(tensor: Tensor) -> tuple[Tensor, Tensor]:
    if tensor.dtype == torch.bool:  # aminmax has no bool kernel
        tensor = tensor.to(torch.uint8)
    minimum, maximum = torch.aminmax(tensor)
    return minimum, maximum


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_thresholds(thresholds: int | Sequence[float] | Tensor, owner: str) -> Tensor:
    """Build the ``[B]`` float32 tensor of ascending score thresholds (an int ``n`` means ``linspace(0, 1, n)``)."""
    if isinstance(thresholds, bool):
        raise ValueError(f"{owner}: `thresholds` must be an int >= 2 or an ascending 1-D sequence; got {thresholds!r}.")
    if isinstance(thresholds, int):
        if thresholds < 2:
            raise ValueError(f"{owner}: `thresholds` as an int must be >= 2 (bins over [0, 1]); got {thresholds}.")
        return torch.linspace(0.0, 1.0, thresholds, dtype=torch.float32)
    values = torch.as_tensor(thresholds, dtype=torch.float64).detach().cpu()
    if values.dim() != 1 or values.numel() < 1:
        raise ValueError(
            f"{owner}: `thresholds` must be a non-empty 1-D sequence of floats; got shape {list(values.shape)}."
        )
    if not bool(torch.isfinite(values).all()) or not bool((values[1:] > values[:-1]).all()):
        raise ValueError(f"{owner}: `thresholds` must be finite and strictly ascending; got {values.tolist()}.")
    return values.to(torch.float32)


def positive_class_scores(scores: object, from_logits: bool, owner: str) -> Tensor:
    """Turn binary-task scores into ``[N]`` positive-class probabilities.

    Accepts ``[N]`` positive-class scores or ``[N, 2]`` class scores (column 1 is the positive class).
    With ``from_logits=True`` a sigmoid (``[N]``) or softmax (``[N, 2]``) is applied first; otherwise the
    scores are taken to be probabilities already.
    """
    if not isinstance(scores, Tensor):
        raise ValueError(f"{owner}: scores must be a torch.Tensor; got {type(scores).__name__}.")
    if not scores.is_floating_point():
        raise ValueError(
            f"{owner}: AUC needs floating scores ([N] positive-class or [N, 2] class scores); got dtype "
            f"{scores.dtype} with shape {list(scores.shape)} (integer labels carry no ranking)."
        )
    if scores.dim() == 2 and scores.shape[1] == 2:
        return scores.softmax(dim=1)[:, 1] if from_logits else scores[:, 1]
    if scores.dim() == 1:
        return scores.sigmoid() if from_logits else scores
    raise ValueError(f"{owner}: scores must have shape [N] or [N, 2]; got {list(scores.shape)}.")
