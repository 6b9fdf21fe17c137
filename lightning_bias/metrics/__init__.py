"""Group-fairness metrics for classifiers: torchmetrics ``Metric`` subclasses with summed count states.

Gap and ratio metrics, per-group and worst-group accuracy, the bias AUCs, and the intervals of all of them
(bootstrap replicates drawn from the counts, :mod:`~lightning_bias.metrics.bootstrap`) derive from small
integer count tensors (a ``[G, C, C]`` per-group confusion tensor, and per-group score histograms for
AUCs), so a DDP sync moves a few KB whatever the dataset size, and ``update`` can run without any
device-to-host synchronisation (``validate_args=False``). :class:`FairnessMetrics` computes everything from
one shared state; :mod:`lightning_bias.metrics.functional` holds the arithmetic.
"""

from lightning_bias.metrics import functional
from lightning_bias.metrics.bias_auc import (
    BNSPAUC,
    BPSNAUC,
    BiasAUC,
    GroupAUROC,
    GroupScoreHistogramMetric,
    summarise_bias_aucs,
)
from lightning_bias.metrics.cooccurrence_correlation import gap_train_share_correlation
from lightning_bias.metrics.counterfactual import CounterfactualFlipRate
from lightning_bias.metrics.fairness_metrics import FairnessMetrics
from lightning_bias.metrics.fairness_report import fairness_report, flat_fairness_metrics, per_class_fairness
from lightning_bias.metrics.gap_metrics import (
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    EqualOpportunityRatio,
    FPRGap,
    TPRGap,
)
from lightning_bias.metrics.group_accuracy import GroupAccuracy, WorstGroupAccuracy
from lightning_bias.metrics.group_confusion import GroupConfusionMetric

__all__ = [
    "BNSPAUC",
    "BPSNAUC",
    "BiasAUC",
    "CounterfactualFlipRate",
    "DemographicParityDifference",
    "DemographicParityRatio",
    "EqualOpportunityRatio",
    "EqualizedOddsDifference",
    "FPRGap",
    "FairnessMetrics",
    "GroupAUROC",
    "GroupAccuracy",
    "GroupConfusionMetric",
    "GroupScoreHistogramMetric",
    "TPRGap",
    "WorstGroupAccuracy",
    "fairness_report",
    "flat_fairness_metrics",
    "functional",
    "gap_train_share_correlation",
    "per_class_fairness",
    "summarise_bias_aucs",
]
