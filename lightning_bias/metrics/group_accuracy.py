"""Accuracy within each group and of the worst group."""

from __future__ import annotations

from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.group_confusion import GroupConfusionMetric


class GroupAccuracy(GroupConfusionMetric):
    """Accuracy within each group: ``compute()`` -> ``[G]``, NaN for a group with no examples.

    Inputs and arguments as in :class:`~lightning_bias.metrics.group_confusion.GroupConfusionMetric`.

    Example:
        >>> import torch
        >>> metric = GroupAccuracy(num_classes=3, num_groups=3)
        >>> metric.update(torch.tensor([0, 2, 1, 1]), torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor([0.5000, 1.0000,    nan])
    """

    higher_is_better = True

    def compute(self) -> Tensor:
        """``[G]`` accuracies, NaN for empty groups."""
        return self._as_output(F.group_accuracies(self.confusion))


class WorstGroupAccuracy(GroupConfusionMetric):
    """Lowest accuracy over the non-empty groups: ``compute()`` -> scalar, NaN when every group is empty.

    Example:
        >>> import torch
        >>> metric = WorstGroupAccuracy(num_classes=2, num_groups=3)
        >>> metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]), torch.tensor([0, 0, 1]),
        ...               torch.tensor([0, 0, 2]))
        >>> metric.compute()
        tensor(0.5000)
    """

    higher_is_better = True

    def compute(self) -> Tensor:
        """Scalar: minimum accuracy over non-empty groups."""
        return self._as_output(F.worst_group_accuracy(self.confusion))
