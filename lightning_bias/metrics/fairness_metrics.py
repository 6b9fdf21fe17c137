"""All group-fairness metrics of a run from one shared count state: one sync per compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bias_auc import add_histogram_state
from lightning_bias.metrics.bootstrap import DEFAULT_REPLICATES
from lightning_bias.metrics.fairness_report import DEFAULT_MIN_SUPPORT, fairness_report, flat_fairness_metrics
from lightning_bias.metrics.group_confusion import GroupConfusionMetric
from lightning_bias.metrics.input_validation import (
    ValueRange,
    check_count,
    check_names,
    positive_class_scores,
)


class FairnessMetrics(GroupConfusionMetric):
    """Accuracy, per-group accuracy, TPR/FPR/selection-rate gaps and ratios (and bias AUCs) in one metric.

    State: one ``[G, C, C]`` int64 confusion tensor (``confusion[group, target, pred]``), plus, when
    ``thresholds`` is given on a binary task, one ``[G, 2, B + 1]`` int64 histogram of positive-class scores.
    Both are summed across processes with one ``all_reduce`` each, so ``compute()`` (followed by
    ``report()``) syncs ``8 * G * C * C`` bytes (+ the histogram) once, whatever the number of examples and
    of metrics derived. Every metric of
    :mod:`lightning_bias.metrics` that is computable from these counts is computed from them, with the same
    definitions as the standalone classes (:class:`~lightning_bias.metrics.TPRGap` etc.).

    ``update(preds, target, groups)``: ``preds`` ``[N, C]`` scores (argmax taken) or ``[N]`` integer labels
    (mixable across calls; with AUC enabled, scores are required), ``target`` ``[N]`` in ``0..C-1``,
    ``groups`` ``[N]`` in ``0..G-1``. No host sync with ``validate_args=False``; one per call with
    ``validate_args=True`` (value-range checks).

    ``compute()`` returns a flat dict of scalar tensors for ``LightningModule.log_dict`` (see
    :func:`~lightning_bias.metrics.fairness_report.flat_fairness_metrics` for the keys); ``report()`` the
    JSON-ready dict of :func:`~lightning_bias.metrics.fairness_report.fairness_report`.

    Args:
        num_classes: ``C`` (>= 2).
        num_groups: ``G`` (>= 2).
        group_names: ``G`` display names (default ``"0", "1", ...``); used in keys such as ``acc/<name>``.
        class_names: ``C`` display names (default ``"0", "1", ...``).
        thresholds: score thresholds for the bias AUCs (an int ``n`` for ``linspace(0, 1, n)``, or an
            ascending sequence); only for ``num_classes == 2``, where class 1 is the positive class.
        from_logits: the ``[N, 2]`` scores are logits (softmax is applied for the AUC histograms).
        auc_power: exponent of the generalised mean of the bias AUCs (-5 as in the Jigsaw benchmark).
        min_support: a group x class cell with fewer true examples than this is flagged in ``report()``
            (``small_cells``), and the markdown report marks its figures.
        bootstrap_replicates: replicates behind the report's bootstrap intervals of gaps, ratios and AUCs
            (drawn from the counts, so the cost does not grow with the number of examples); 0 leaves those
            intervals out. Wilson and Newcombe intervals are always given.
        bootstrap_seed: seed of the report's bootstrap, so the same counts give the same intervals.
        validate_args: check input value ranges in ``update`` (one host sync per call).
        kwargs: passed to :class:`torchmetrics.Metric`.

    Example:
        >>> import torch
        >>> metric = FairnessMetrics(num_classes=2, num_groups=2, group_names=["female", "male"])
        >>> metric.update(torch.tensor([1, 0, 1, 1, 0, 0]), torch.tensor([1, 0, 0, 1, 1, 0]),
        ...               torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> values = metric.compute()
        >>> values["accuracy"], values["tpr_gap_max"], values["acc/female"]
        (tensor(0.6667), tensor(0.5000), tensor(0.6667))
        >>> report = metric.report()
        >>> report["by_group"]["male"]["tpr"], round(report["gaps"]["dp_difference_max"], 4)
        ({'0': 1.0, '1': 0.5}, 0.3333)
        >>> report["gaps"]["signed_by_class"]["tpr"]["female - male"]["1"]  # female's TPR minus male's
        0.5
        >>> len(report["small_cells"]["cells"])  # 1 or 2 examples per group and class, all under 10
        4
    """

    histograms: Tensor
    thresholds: Tensor

    def __init__(
        self,
        num_classes: int,
        num_groups: int,
        group_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        thresholds: int | Sequence[float] | Tensor | None = None,
        from_logits: bool = False,
        auc_power: float = F.JIGSAW_POWER,
        min_support: int = DEFAULT_MIN_SUPPORT,
        bootstrap_replicates: int = DEFAULT_REPLICATES,
        bootstrap_seed: int = 0,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, num_groups, validate_args=validate_args, **kwargs)
        owner = type(self).__name__
        self.group_names = check_names("group_names", group_names, num_groups, owner)
        self.class_names = check_names("class_names", class_names, num_classes, owner)
        self.from_logits = bool(from_logits)
        self.auc_power = float(auc_power)
        self.min_support = check_count("min_support", min_support, 1, owner)
        self.bootstrap_replicates = check_count("bootstrap_replicates", bootstrap_replicates, 0, owner)
        self.bootstrap_seed = check_count("bootstrap_seed", bootstrap_seed, 0, owner)
        self.with_auc = thresholds is not None
        self._synced_counts: tuple[Tensor, Tensor | None] | None = None
        if self.with_auc:
            if num_classes != 2:
                raise ValueError(
                    f"{owner}: `thresholds` enables the bias AUCs, which are defined for binary tasks only "
                    f"(num_classes=2); got num_classes={num_classes}. Pass thresholds=None."
                )
            add_histogram_state(self, thresholds, num_groups, owner)

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch: ``preds`` ``[N, C]`` scores or ``[N]`` labels, ``target`` ``[N]``, ``groups`` ``[N]``."""
        if not self.with_auc:
            super().update(preds, target, groups)
            return
        owner = f"{type(self).__name__}.update"
        if isinstance(preds, Tensor) and not (preds.dim() == 2 and preds.is_floating_point()):
            raise ValueError(
                f"{owner}: with `thresholds` set (bias AUCs), `preds` must be [N, 2] floating scores; got shape "
                f"{list(preds.shape)} with dtype {preds.dtype}. Integer labels carry no ranking."
            )
        scores = positive_class_scores(preds, self.from_logits, owner)
        score_range = [] if self.from_logits else [ValueRange("preds", scores, 0.0, 1.0, _PROBABILITY_HINT)]
        labels, target, groups = self._prepare_inputs(preds, target, groups, extra_ranges=score_range)
        F.group_confusion_counts(labels, target, groups, self.num_classes, self.num_groups, out=self.confusion)
        bins = F.score_bin_indices(scores, self.thresholds)
        F.group_score_histograms(bins, target, groups, self.num_bins, self.num_groups, out=self.histograms)

    def compute(self) -> dict[str, Tensor]:
        """Flat dict of scalar tensors (NaN where undefined), for ``LightningModule.log_dict``."""
        # runs inside torchmetrics' sync context: the states here are the ones summed over processes
        confusion, histograms = self._synced_counts = self._count_snapshot()
        flat = flat_fairness_metrics(confusion, self.group_names, histograms, self.auc_power)
        return {key: self._as_output(value) for key, value in flat.items()}

    def report(self) -> dict[str, Any]:
        """JSON-serialisable fairness report (NaN -> ``None``) from the counts synced across processes.

        Right after ``compute()`` (no ``update``/``reset`` in between, cached compute), it reuses the counts
        that ``compute()`` synced, so ``compute()`` + ``report()`` cost one sync; otherwise it syncs itself.
        """
        if self._computed is not None and self._synced_counts is not None:
            confusion, histograms = self._synced_counts
        else:
            with self.sync_context(
                dist_sync_fn=self.dist_sync_fn, should_sync=self._to_sync, should_unsync=self._should_unsync
            ):
                confusion, histograms = self._count_snapshot()
        return fairness_report(
            confusion,
            self.group_names,
            self.class_names,
            histograms,
            self.auc_power,
            min_support=self.min_support,
            bootstrap_replicates=self.bootstrap_replicates,
            seed=self.bootstrap_seed,
        )

    def reset(self) -> None:
        """Zero the counts (and forget the counts synced by the last ``compute``)."""
        self._synced_counts = None
        super().reset()

    def _count_snapshot(self) -> tuple[Tensor, Tensor | None]:
        return self.confusion.clone(), (self.histograms.clone() if self.with_auc else None)

    def synced_state_bytes(self) -> int:
        """Bytes of the count states that a sync moves per process (confusion, plus histograms if any)."""
        return sum(getattr(self, name).numel() * getattr(self, name).element_size() for name in self._defaults)


_PROBABILITY_HINT = "Scores must be probabilities for the AUC histograms; pass from_logits=True for logits."
