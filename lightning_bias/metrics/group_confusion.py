"""The shared count state of the group-fairness metrics: a per-group confusion tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.input_validation import (
    ValueRange,
    check_count,
    check_integer_vector,
    check_same_length,
    check_value_ranges,
    predicted_labels,
)
from lightning_bias.metrics.state_sync import all_reduce_sum


class GroupConfusionMetric(Metric):
    """Base class: accumulates a ``[G, C, C]`` int64 confusion tensor ``confusion[group, target, pred]``.

    The state is summed across processes (``dist_reduce_fx="sum"``) with one ``all_reduce``
    (:func:`~lightning_bias.metrics.state_sync.all_reduce_sum`, unless ``dist_sync_fn`` is given), so a DDP
    sync moves ``G * C * C * 8`` bytes whatever the number of examples. Subclasses implement ``compute`` from ``self.confusion`` with
    :mod:`lightning_bias.metrics.functional`.

    ``update(preds, target, groups)``:

    * ``preds``: ``[N, C]`` scores (the argmax is taken; probabilities or logits alike) or ``[N]`` integer
      labels in ``0..C-1``; the two forms can be mixed across calls.
    * ``target``: ``[N]`` integer labels in ``0..C-1``.
    * ``groups``: ``[N]`` integer group ids in ``0..G-1``.

    ``update`` never synchronises the device with the host when ``validate_args=False``: counting uses
    ``index_add_`` into a fixed-size tensor. With ``validate_args=True`` (default) it additionally checks the
    value ranges of the inputs (ids in range, scores finite), which costs exactly one device-to-host copy of
    a few numbers per call.

    Args:
        num_classes: number of classes ``C`` (>= 2).
        num_groups: number of groups ``G`` (>= 2).
        validate_args: check input value ranges in ``update`` (one host sync per call).
        kwargs: passed to :class:`torchmetrics.Metric` (e.g. ``sync_on_compute``, ``process_group``).

    Example:
        >>> import torch
        >>> class GroupSizes(GroupConfusionMetric):
        ...     def compute(self):
        ...         return self.confusion.sum(dim=(1, 2))
        >>> metric = GroupSizes(num_classes=2, num_groups=3)
        >>> metric.update(torch.tensor([[0.3, 0.7], [0.9, 0.1]]), torch.tensor([1, 1]), torch.tensor([0, 2]))
        >>> metric.confusion[0]  # group 0: one example of class 1 predicted as class 1
        tensor([[0, 0],
                [0, 1]])
        >>> metric.compute()
        tensor([1, 0, 1])
    """

    is_differentiable = False
    full_state_update = False

    confusion: Tensor

    def __init__(self, num_classes: int, num_groups: int, validate_args: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("dist_sync_fn", all_reduce_sum)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.num_classes = check_count("num_classes", num_classes, 2, owner)
        self.num_groups = check_count("num_groups", num_groups, 2, owner)
        self.validate_args = bool(validate_args)
        self.add_state(
            "confusion",
            default=torch.zeros(num_groups, num_classes, num_classes, dtype=torch.int64),
            dist_reduce_fx="sum",
        )

    def _prepare_inputs(
        self, preds: Tensor, target: Tensor, groups: Tensor, extra_ranges: Sequence[ValueRange] = ()
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Validate the update inputs and return ``(pred_labels, target, groups)`` as ``[N]`` tensors.

        ``extra_ranges`` are checked in the same single host sync (only with ``validate_args=True``).
        """
        owner = f"{type(self).__name__}.update"
        labels, top_scores = predicted_labels(preds, self.num_classes, owner)
        target = check_integer_vector("target", target, owner)
        groups = check_integer_vector("groups", groups, owner)
        check_same_length(owner, preds=labels, target=target, groups=groups)
        if self.validate_args:
            ranges = [
                ValueRange("target", target, 0, self.num_classes - 1, "Labels must be 0..num_classes-1."),
                ValueRange(
                    "groups", groups, 0, self.num_groups - 1, "Check that num_groups matches the data's group ids."
                ),
            ]
            if top_scores is None:
                ranges.append(ValueRange("preds", labels, 0, self.num_classes - 1, "Labels must be 0..num_classes-1."))
            elif top_scores.is_floating_point():  # a NaN/+inf score wins the argmax and makes it meaningless
                ranges.append(ValueRange("preds", top_scores, -float("inf"), float("inf")))
            check_value_ranges(owner, [*ranges, *extra_ranges])
        return labels, target, groups

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch: ``preds`` ``[N, C]`` scores or ``[N]`` labels, ``target`` ``[N]``, ``groups`` ``[N]``."""
        labels, target, groups = self._prepare_inputs(preds, target, groups)
        F.group_confusion_counts(labels, target, groups, self.num_classes, self.num_groups, out=self.confusion)

    def _as_output(self, value: Tensor) -> Tensor:
        """Cast a float64 result to the default floating dtype, as torchmetrics outputs are."""
        return value.to(torch.get_default_dtype())
