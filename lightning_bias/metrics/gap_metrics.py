"""Between-group gaps and ratios of one-vs-rest rates, per class and aggregated over classes."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.group_confusion import GroupConfusionMetric
from lightning_bias.metrics.input_validation import check_choice

GapAggregate = Literal["rms", "max", "none"]
RatioAggregate = Literal["min", "mean", "none"]


class _ClassGapMetric(GroupConfusionMetric):
    """A per-class ``[C]`` fairness quantity, reduced over the classes where it is defined."""

    aggregate_choices: tuple[str, ...] = ("rms", "max", "none")

    def __init__(
        self,
        num_classes: int,
        num_groups: int,
        aggregate: str = "rms",
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, num_groups, validate_args=validate_args, **kwargs)
        self.aggregate = check_choice("aggregate", aggregate, self.aggregate_choices, type(self).__name__)

    def per_class(self, confusion: Tensor) -> Tensor:
        """``[G, C, C]`` confusion -> ``[C]`` per-class values (NaN where undefined)."""
        raise NotImplementedError

    def compute(self) -> Tensor:
        """``[C]`` per-class values for ``aggregate="none"``, else a scalar; NaN where undefined."""
        return self._as_output(F.aggregate_over_classes(self.per_class(self.confusion), self.aggregate))


class TPRGap(_ClassGapMetric):
    """True-positive-rate gap between groups, per class (one-vs-rest), aggregated over classes.

    For class ``c``: TPR in group ``g`` = #(pred=c, y=c) / #(y=c) among the group's examples; the gap is
    ``max - min`` over the groups where it is defined (NaN when fewer than two groups have an example of
    class ``c``). ``aggregate="rms"`` gives GAP-RMS (De-Arteaga et al. 2019): ``sqrt(mean_c gap_c**2)``,
    ``"max"`` the largest gap, both over the classes whose gap is defined (NaN if none); ``"none"`` the
    ``[C]`` gaps. For C = 2, entry 1 equals fairlearn's
    ``MetricFrame(metrics=true_positive_rate, ...).difference()`` whenever every group present has a
    positive example (fairlearn reports TPR = 0 for a group without positives, where this gives NaN and
    leaves the group out).

    Inputs and arguments as in :class:`~lightning_bias.metrics.group_confusion.GroupConfusionMetric`, plus
    ``aggregate`` in ``"rms" | "max" | "none"``.

    Example:
        >>> import torch
        >>> preds = torch.tensor([0, 1, 1, 0, 1, 1])
        >>> target = torch.tensor([0, 1, 1, 0, 1, 0])
        >>> groups = torch.tensor([0, 0, 0, 1, 1, 1])
        >>> metric = TPRGap(num_classes=2, num_groups=2, aggregate="none")
        >>> metric.update(preds, target, groups)
        >>> metric.compute()
        tensor([0.5000, 0.0000])
        >>> metric = TPRGap(num_classes=2, num_groups=2)
        >>> metric.update(torch.tensor([[2.0, -1.0], [0.1, 0.3]]), torch.tensor([0, 1]), torch.tensor([0, 1]))
        >>> metric.update(preds, target, groups)
        >>> metric.compute()
        tensor(0.3536)
    """

    higher_is_better = False

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.rate_gaps(F.true_positive_rates(confusion))


class FPRGap(_ClassGapMetric):
    """False-positive-rate gap between groups, per class (one-vs-rest), aggregated over classes.

    For class ``c``: FPR in group ``g`` = #(pred=c, y!=c) / #(y!=c); the gap is ``max - min`` over the
    groups where it is defined (NaN when fewer than two groups have an example of another class).
    Aggregation as in :class:`TPRGap`. For C = 2, entry 1 equals fairlearn's
    ``MetricFrame(metrics=false_positive_rate, ...).difference()`` whenever every group present has a
    negative example.

    Example:
        >>> import torch
        >>> metric = FPRGap(num_classes=3, num_groups=2, aggregate="none")
        >>> metric.update(
        ...     torch.tensor([0, 1, 2, 2, 0, 1, 1, 2]),  # predicted labels
        ...     torch.tensor([0, 1, 2, 0, 0, 1, 2, 2]),  # true labels
        ...     torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]),  # groups
        ... )
        >>> metric.compute()
        tensor([0.0000, 0.3333, 0.3333])
    """

    higher_is_better = False

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.rate_gaps(F.false_positive_rates(confusion))


class DemographicParityDifference(_ClassGapMetric):
    """Selection-rate gap between groups, per class, aggregated over classes.

    For class ``c``: selection rate in group ``g`` = #(pred=c) / #(examples in g); the gap is ``max - min``
    over the non-empty groups (NaN when fewer than two groups are non-empty). Aggregation as in
    :class:`TPRGap`. For C = 2, entry 1 equals fairlearn's ``demographic_parity_difference``.

    Example:
        >>> import torch
        >>> metric = DemographicParityDifference(num_classes=2, num_groups=3, aggregate="max")
        >>> metric.update(torch.tensor([1, 1, 0, 1, 0, 0]), torch.tensor([1, 0, 0, 1, 1, 0]),
        ...               torch.tensor([0, 0, 1, 1, 1, 1]))
        >>> metric.compute()  # group 0 selects class 1 at 1.0, group 1 at 0.25, group 2 is empty
        tensor(0.7500)
    """

    higher_is_better = False

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.rate_gaps(F.selection_rates(confusion))


class EqualizedOddsDifference(_ClassGapMetric):
    """Equalized-odds difference per class: ``max(TPR gap, FPR gap)``, aggregated over classes.

    When only one of the two gaps of a class is defined, that one is used; NaN when neither is.
    Aggregation as in :class:`TPRGap`. For C = 2, entry 1 equals fairlearn's ``equalized_odds_difference``
    (``agg="worst_case"``) whenever both gaps are defined.

    Example:
        >>> import torch
        >>> metric = EqualizedOddsDifference(num_classes=2, num_groups=2, aggregate="none")
        >>> metric.update(torch.tensor([1, 1, 0, 0, 1, 0]), torch.tensor([1, 0, 0, 1, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()
        tensor([0.5000, 0.5000])
    """

    higher_is_better = False

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.equalized_odds_gaps(
            F.rate_gaps(F.true_positive_rates(confusion)), F.rate_gaps(F.false_positive_rates(confusion))
        )


class _ClassRatioMetric(_ClassGapMetric):
    """Per-class ``min / max`` ratio over groups; reduced with ``"min"`` (worst class), ``"mean"`` or ``"none"``.

    Ratios run from 0 to 1 with 1 meaning parity, so the worst class is the one with the smallest ratio:
    the class reduction is the minimum by default (the mean is offered as a smoother summary). RMS and
    maximum, used for the gaps, would reward rather than expose the worst class, so they are not offered.
    """

    aggregate_choices = ("min", "mean", "none")

    def __init__(
        self,
        num_classes: int,
        num_groups: int,
        aggregate: str = "min",
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, num_groups, aggregate=aggregate, validate_args=validate_args, **kwargs)


class DemographicParityRatio(_ClassRatioMetric):
    """Selection-rate ratio ``min / max`` over non-empty groups, per class, reduced over classes.

    Per class ``c``: ``min_g sel(g, c) / max_g sel(g, c)`` over the non-empty groups; NaN when fewer than
    two groups are non-empty or when no group selects class ``c`` (0/0, as fairlearn). ``aggregate``:
    ``"min"`` (default: the worst class), ``"mean"``, or ``"none"`` (``[C]``), over the classes where the
    ratio is defined. For C = 2, entry 1 equals fairlearn's ``demographic_parity_ratio``.

    Example:
        >>> import torch
        >>> metric = DemographicParityRatio(num_classes=2, num_groups=2, aggregate="none")
        >>> metric.update(torch.tensor([1, 1, 0, 1, 0, 0]), torch.tensor([1, 0, 0, 1, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()
        tensor([0.5000, 0.5000])
    """

    higher_is_better = True

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.rate_ratios(F.selection_rates(confusion))


class EqualOpportunityRatio(_ClassRatioMetric):
    """True-positive-rate ratio ``min / max`` over groups, per class, reduced over classes.

    Per class ``c``: ``min_g TPR(g, c) / max_g TPR(g, c)`` over the groups having an example of class
    ``c``; NaN when fewer than two groups do or when every such TPR is 0. Class reduction as in
    :class:`DemographicParityRatio`. For C = 2, entry 1 equals torchmetrics' ``BinaryFairness``
    equal-opportunity ratio and fairlearn's ``MetricFrame(true_positive_rate).ratio()`` (when every group
    present has a positive example).

    Example:
        >>> import torch
        >>> metric = EqualOpportunityRatio(num_classes=2, num_groups=2)
        >>> metric.update(torch.tensor([1, 1, 0, 1, 0, 0]), torch.tensor([1, 1, 0, 1, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()  # class 1: TPR 1.0 vs 0.5; class 0: 1.0 vs 1.0
        tensor(0.5000)
    """

    higher_is_better = True

    def per_class(self, confusion: Tensor) -> Tensor:
        return F.rate_ratios(F.true_positive_rates(confusion))
