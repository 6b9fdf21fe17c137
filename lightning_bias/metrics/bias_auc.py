"""Score-based group metrics for binary tasks: per-group AUROC and the bias AUCs of Borkan et al. (2019).

All of them come from one ``[G, 2, B + 1]`` int64 histogram of positive-class scores per group and true
label over fixed bins (``B`` thresholds), summed across processes: memory and sync size do not grow with N.
AUCs are the trapezoidal area under the binned ROC curve (:func:`~lightning_bias.metrics.functional.binned_auc`),
so they are exact for scores that only take threshold values and otherwise close to the exact AUROC
(the error shrinks with finer thresholds; 200 bins is typically within 1e-3).
"""

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
    check_thresholds,
    check_value_ranges,
    positive_class_scores,
)
from lightning_bias.metrics.state_sync import all_reduce_sum


def add_histogram_state(metric: Metric, thresholds: int | Sequence[float] | Tensor, num_groups: int, owner: str) -> None:
    """Give ``metric`` the score-histogram state of the bias AUCs: ``thresholds`` (a buffer), ``num_bins`` and
    ``histograms`` ``[num_groups, 2, num_bins]`` int64 counts (negatives, positives per bin), summed across ranks."""
    metric.register_buffer("thresholds", check_thresholds(thresholds, owner), persistent=False)
    metric.num_bins = int(metric.thresholds.numel()) + 1
    metric.add_state(
        "histograms", default=torch.zeros(num_groups, 2, metric.num_bins, dtype=torch.int64), dist_reduce_fx="sum"
    )


class GroupScoreHistogramMetric(Metric):
    """Base class: accumulates ``histograms[group, label, bin]`` of positive-class scores (binary tasks).

    ``update(scores, target, groups)``:

    * ``scores``: ``[N]`` positive-class probabilities or ``[N, 2]`` class probabilities (column 1 is the
      positive class); logits with ``from_logits=True`` (sigmoid / softmax applied).
    * ``target``: ``[N]`` binary labels (1 = positive).
    * ``groups``: ``[N]`` group ids in ``0..G-1``.

    With ``validate_args=False``, ``update`` does no device-to-host synchronisation; with ``True`` (default)
    it checks value ranges at the cost of one sync per call.

    Args:
        num_groups: number of groups ``G`` (>= 2).
        thresholds: an int ``n`` (``linspace(0, 1, n)``) or an ascending sequence/tensor of thresholds.
        from_logits: apply sigmoid/softmax to the scores first.
        validate_args: check input value ranges (scores in [0, 1] unless ``from_logits``) in ``update``.
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> import torch
        >>> class PositivesPerGroup(GroupScoreHistogramMetric):
        ...     def compute(self):
        ...         return self.histograms[:, 1].sum(dim=1)
        >>> metric = PositivesPerGroup(num_groups=2, thresholds=[0.5])  # two bins: below / from 0.5
        >>> metric.update(torch.tensor([0.2, 0.8, 0.6]), torch.tensor([1, 1, 0]), torch.tensor([0, 0, 1]))
        >>> metric.histograms[0]  # group 0: [negatives per bin], [positives per bin]
        tensor([[0, 0],
                [1, 1]])
        >>> metric.compute()
        tensor([2, 0])
    """

    is_differentiable = False
    full_state_update = False
    higher_is_better = True

    histograms: Tensor
    thresholds: Tensor

    def __init__(
        self,
        num_groups: int,
        thresholds: int | Sequence[float] | Tensor = 200,
        from_logits: bool = False,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dist_sync_fn", all_reduce_sum)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.num_groups = check_count("num_groups", num_groups, 2, owner)
        self.from_logits = bool(from_logits)
        self.validate_args = bool(validate_args)
        add_histogram_state(self, thresholds, num_groups, owner)

    def update(self, scores: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch: ``scores`` ``[N]`` or ``[N, 2]``, ``target`` ``[N]`` in {0, 1}, ``groups`` ``[N]``."""
        owner = f"{type(self).__name__}.update"
        positive = positive_class_scores(scores, self.from_logits, owner)
        target = check_integer_vector("target", target, owner)
        groups = check_integer_vector("groups", groups, owner)
        check_same_length(owner, scores=positive, target=target, groups=groups)
        if self.validate_args:
            check_value_ranges(owner, score_histogram_ranges(positive, target, groups, self.num_groups, self.from_logits))
        bins = F.score_bin_indices(positive, self.thresholds)
        F.group_score_histograms(bins, target, groups, self.num_bins, self.num_groups, out=self.histograms)

    def _bias_aucs(self) -> dict[str, Tensor]:
        return F.bias_aucs(self.histograms)


def score_histogram_ranges(
    positive_scores: Tensor, target: Tensor, groups: Tensor, num_groups: int, from_logits: bool
) -> list[ValueRange]:
    """The value ranges checked for score-histogram inputs (scores, binary target, group ids)."""
    low, high = (-float("inf"), float("inf")) if from_logits else (0.0, 1.0)
    return [
        ValueRange("scores", positive_scores, low, high, "" if from_logits else "Pass from_logits=True for logits."),
        ValueRange("target", target, 0, 1, "AUC metrics are for binary tasks (1 = positive class)."),
        ValueRange("groups", groups, 0, num_groups - 1, "Check that num_groups matches the data's group ids."),
    ]


def _output(value: Tensor) -> Tensor:
    return value.to(torch.get_default_dtype())


class GroupAUROC(GroupScoreHistogramMetric):
    """AUROC within each group (Borkan et al.'s *subgroup AUC*): ``compute()`` -> ``[G]``.

    NaN for a group lacking positives or negatives. Inputs and arguments as in
    :class:`GroupScoreHistogramMetric`.

    Example:
        >>> import torch
        >>> metric = GroupAUROC(num_groups=2, thresholds=5)
        >>> metric.update(torch.tensor([0.9, 0.3, 0.6, 0.2, 0.4, 0.8]), torch.tensor([1, 0, 1, 0, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()
        tensor([1.0000, 0.5000])
    """

    def compute(self) -> Tensor:
        """``[G]`` per-group AUROC."""
        return _output(self._bias_aucs()["subgroup_auc"])


class BPSNAUC(GroupScoreHistogramMetric):
    """Background-Positive, Subgroup-Negative AUC per group (Borkan et al. 2019): ``compute()`` -> ``[G]``.

    For group ``g``: AUROC of the positives of every *other* group against the negatives of ``g``. Low
    values mean the model scores the subgroup's negatives higher than other groups' positives (e.g. false
    toxicity alarms on texts mentioning an identity). NaN where either side is empty.

    Example:
        >>> import torch
        >>> metric = BPSNAUC(num_groups=2, thresholds=5)
        >>> metric.update(torch.tensor([0.9, 0.3, 0.6, 0.2, 0.4, 0.8]), torch.tensor([1, 0, 1, 0, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()
        tensor([0.5000, 0.6250])
    """

    def compute(self) -> Tensor:
        """``[G]`` BPSN AUC per group."""
        return _output(self._bias_aucs()["bpsn_auc"])


class BNSPAUC(GroupScoreHistogramMetric):
    """Background-Negative, Subgroup-Positive AUC per group (Borkan et al. 2019): ``compute()`` -> ``[G]``.

    For group ``g``: AUROC of the positives of ``g`` against the negatives of every other group. Low
    values mean the subgroup's positives are scored lower than other groups' negatives. NaN where either
    side is empty.

    Example:
        >>> import torch
        >>> metric = BNSPAUC(num_groups=2, thresholds=5)
        >>> metric.update(torch.tensor([0.9, 0.3, 0.6, 0.2, 0.4, 0.8]), torch.tensor([1, 0, 1, 0, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> metric.compute()
        tensor([0.6250, 0.5000])
    """

    def compute(self) -> Tensor:
        """``[G]`` BNSP AUC per group."""
        return _output(self._bias_aucs()["bnsp_auc"])


class BiasAUC(GroupScoreHistogramMetric):
    """All bias AUCs at once, with their generalised means and the Jigsaw final score.

    ``compute()`` returns a dict of tensors:

    * ``overall_auc``: AUROC over all examples (scalar);
    * ``subgroup_auc``, ``bpsn_auc``, ``bnsp_auc``: ``[G]`` per group (see :class:`GroupAUROC`,
      :class:`BPSNAUC`, :class:`BNSPAUC`);
    * ``subgroup_auc_power_mean``, ``bpsn_auc_power_mean``, ``bnsp_auc_power_mean``: the generalised mean
      ``(mean_g auc_g ** p) ** (1 / p)`` over the groups where the AUC is defined (``p = power``, -5 in the
      Jigsaw unintended-bias benchmark), which emphasises the worst groups;
    * ``final_score``: ``0.25 * overall_auc + 0.25 * (sum of the three power means)`` as in that benchmark.

    The background of a group is all other groups: if one group id means "no identity mentioned", its
    own entries are still reported; leave it out of the means yourself if the protocol requires.

    Args:
        power: exponent ``p`` of the generalised mean (default -5).
        others: as in :class:`GroupScoreHistogramMetric`.

    Example:
        >>> import torch
        >>> metric = BiasAUC(num_groups=2, thresholds=5)
        >>> metric.update(torch.tensor([0.9, 0.3, 0.6, 0.2, 0.4, 0.8]), torch.tensor([1, 0, 1, 0, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> result = metric.compute()
        >>> result["overall_auc"], result["bpsn_auc"], result["final_score"].round(decimals=4)
        (tensor(0.6667), tensor([0.5000, 0.6250]), tensor(0.5807))
    """

    def __init__(
        self,
        num_groups: int,
        thresholds: int | Sequence[float] | Tensor = 200,
        from_logits: bool = False,
        power: float = F.JIGSAW_POWER,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_groups, thresholds, from_logits=from_logits, validate_args=validate_args, **kwargs)
        self.power = float(power)

    def compute(self) -> dict[str, Tensor]:
        """Dict of overall AUC, per-group bias AUCs, their power means and the final score."""
        return {key: _output(value) for key, value in summarise_bias_aucs(self.histograms, self.power).items()}


def summarise_bias_aucs(histograms: Tensor, power: float = F.JIGSAW_POWER) -> dict[str, Tensor]:
    """Bias AUCs from ``[..., G, 2, B]`` histograms plus their power means and the Jigsaw final score (float64)."""
    aucs = F.bias_aucs(histograms)
    means = {
        f"{name}_power_mean": F.generalized_mean(aucs[name], power) for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc")
    }
    final = F.jigsaw_final_score(aucs["overall_auc"], torch.stack(list(means.values()), dim=-1))
    return {**aucs, **means, "final_score": final}
