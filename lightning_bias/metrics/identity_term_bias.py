"""Per-identity-term error rates and bias AUCs of a binary toxicity classifier, from summed count states.

An identity-term evaluation set (the madlibs of Dixon et al. 2018, their Wikipedia test sets) asks whether
texts that mention an identity term ("gay", "muslim"...) are scored differently from the rest. A text may
mention several terms or none, so membership is a ``[N, T]`` boolean matrix rather than one group id; a text
that mentions no term only counts in the overall figures.

State (int64 counts, summed across processes by one ``all_reduce`` each, so the result is exact under DDP
when every example is counted once):

* ``histograms`` ``[T, 2, B]`` (per term) and ``all_histogram`` ``[2, B]``: positive-class scores binned over
  ``B - 1`` thresholds, per true label (0 non-toxic, 1 toxic), for each term's texts and for all texts;
* ``term_confusion`` ``[T, 2, 2]`` and ``all_confusion`` ``[2, 2]``: ``[true, predicted]`` counts, a text
  predicted toxic when its score exceeds ``decision_threshold`` (0.5: the argmax of two classes).

From these (:func:`identity_term_figures`): per term FPR and FNR with Wilson intervals, the equality
differences of Dixon et al. (FPED = sum over terms of |FPR_t - FPR|, FNED likewise, over the terms where the
rate is defined), the subgroup, BPSN and BNSP AUCs of Borkan et al. (2019) with the term's texts as the
subgroup and every other text as the background, their power means (p = -5) and the Jigsaw final score.
AUCs are binned (see :mod:`lightning_bias.metrics.bias_auc`): within about 1e-3 of the exact AUROC at 500
thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.bias_auc import add_histogram_state
from lightning_bias.metrics.input_validation import ValueRange, check_count, check_value_ranges
from lightning_bias.metrics.state_sync import all_reduce_sum


class IdentityTermBias(Metric):
    """Per-term FPR/FNR and bias AUCs of a binary classifier on texts that mention identity terms.

    ``update(scores, target, membership)``: ``scores`` ``[N]`` positive-class probabilities, ``target`` ``[N]``
    in {0, 1} (1 = toxic), ``membership`` ``[N, T]`` booleans (text ``i`` mentions term ``t``). ``compute()``
    returns :func:`identity_term_figures` of the summed state. With ``validate_args=False`` ``update`` does no
    device-to-host synchronisation.

    Args:
        num_terms: ``T`` (>= 1).
        thresholds: score thresholds of the AUC histograms (an int ``n``: ``linspace(0, 1, n)``).
        decision_threshold: a text is predicted toxic when its score exceeds it.
        power: exponent of the power means of the bias AUCs (-5 in the Jigsaw benchmark).
        min_examples: terms with fewer texts keep their own figures but stay out of FPED, FNED and the power
            means (a term seen in two texts would otherwise decide them).
        validate_args: check value ranges in ``update`` (one host sync per call).

    Example:
        >>> import torch
        >>> metric = IdentityTermBias(num_terms=2, thresholds=5)
        >>> scores = torch.tensor([0.9, 0.6, 0.2, 0.7, 0.1, 0.3])
        >>> target = torch.tensor([1, 0, 0, 1, 0, 1])
        >>> membership = torch.tensor([[1, 0], [1, 0], [1, 1], [0, 1], [0, 1], [0, 0]], dtype=torch.bool)
        >>> figures = metric(scores, target, membership)
        >>> figures["fpr"], figures["term_fpr"]  # term 0: 1 of its 2 non-toxic texts flagged
        (tensor(0.3333, dtype=torch.float64), tensor([0.5000, 0.0000], dtype=torch.float64))
    """

    is_differentiable = False
    full_state_update = False
    higher_is_better = None

    histograms: Tensor
    all_histogram: Tensor
    term_confusion: Tensor
    all_confusion: Tensor
    thresholds: Tensor

    def __init__(
        self,
        num_terms: int,
        thresholds: int | Sequence[float] | Tensor = 500,
        decision_threshold: float = 0.5,
        power: float = F.JIGSAW_POWER,
        min_examples: int = 0,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dist_sync_fn", all_reduce_sum)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.num_terms = check_count("num_terms", num_terms, 1, owner)
        if not 0.0 <= decision_threshold <= 1.0:
            raise ValueError(f"{owner}: decision_threshold must be in [0, 1], got {decision_threshold!r}")
        self.decision_threshold = float(decision_threshold)
        self.power = float(power)
        self.min_examples = check_count("min_examples", min_examples, 0, owner)
        self.validate_args = bool(validate_args)
        add_histogram_state(self, thresholds, num_terms, owner)  # "histograms": [T, 2, B] per term
        self.add_state("all_histogram", default=torch.zeros(2, self.num_bins, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("term_confusion", default=torch.zeros(num_terms, 2, 2, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("all_confusion", default=torch.zeros(2, 2, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, scores: Tensor, target: Tensor, membership: Tensor) -> None:
        """Add a batch: ``scores`` ``[N]``, ``target`` ``[N]`` in {0, 1}, ``membership`` ``[N, T]`` booleans."""
        owner = f"{type(self).__name__}.update"
        if scores.dim() != 1 or target.shape != scores.shape or membership.shape != (len(scores), self.num_terms):
            raise ValueError(
                f"{owner}: expected scores [N], target [N] and membership [N, {self.num_terms}]; got "
                f"{list(scores.shape)}, {list(target.shape)} and {list(membership.shape)}"
            )
        if self.validate_args:
            check_value_ranges(owner, [
                ValueRange("scores", scores, 0.0, 1.0, "Pass positive-class probabilities."),
                ValueRange("target", target, 0, 1, "1 = toxic, 0 = not."),
            ])
        target = target.long()
        bins = F.score_bin_indices(scores, self.thresholds)
        histogram_cells = target * self.num_bins + bins
        predicted = (scores > self.decision_threshold).long()
        confusion_cells = target * 2 + predicted
        members = membership.to(torch.float32).T  # [T, N]: sums of 0/1 stay exact in float32 for any batch
        for state, cells, width in ((self.histograms, histogram_cells, 2 * self.num_bins),
                                    (self.term_confusion, confusion_cells, 4)):
            one_hot = torch.nn.functional.one_hot(cells, width).to(torch.float32)
            state += (members @ one_hot).round().to(torch.int64).view(state.shape)
        ones = torch.ones_like(histogram_cells)
        self.all_histogram.view(-1).scatter_add_(0, histogram_cells, ones)
        self.all_confusion.view(-1).scatter_add_(0, confusion_cells, ones)

    def compute(self) -> dict[str, Tensor]:
        """:func:`identity_term_figures` of the summed state."""
        return identity_term_figures(
            self.histograms, self.all_histogram, self.term_confusion, self.all_confusion, self.power, self.min_examples
        )


def identity_term_figures(
    term_histograms: Tensor,
    all_histogram: Tensor,
    term_confusion: Tensor,
    all_confusion: Tensor,
    power: float = F.JIGSAW_POWER,
    min_examples: int = 0,
) -> dict[str, Tensor]:
    """Every per-term figure of an identity-term evaluation set from its counts (float64 where supported).

    Args:
        term_histograms: ``[T, 2, B]`` score histograms per term and true label.
        all_histogram: ``[2, B]`` the same over all texts (terms or none).
        term_confusion: ``[T, 2, 2]`` ``[true, predicted]`` counts per term.
        all_confusion: ``[2, 2]`` the same over all texts.
        power: exponent of the power means of the bias AUCs.
        min_examples: terms with fewer texts stay out of the sums and means (``summarised``).

    Returns a dict of tensors: ``num_examples``, ``num_toxic`` (all texts); ``term_n``, ``term_toxic``, ``term_non_toxic`` ``[T]`` (texts, toxic texts,
    non-toxic texts per term); ``term_fpr``, ``term_fnr`` and their Wilson bounds ``term_fpr_low``/``_high``,
    ``term_fnr_low``/``_high`` ``[T]`` (NaN where a term has no non-toxic / toxic text); ``fpr``, ``fnr`` and
    their bounds over all texts; ``fped``, ``fned`` (sums over the terms where the rate is defined) and
    ``fped_terms``, ``fned_terms`` (how many terms entered them); ``summarised`` ``[T]`` (the terms with at least
    ``min_examples`` texts, the only ones in the sums and means); ``overall_auc``; ``subgroup_auc``,
    ``bpsn_auc``, ``bnsp_auc`` ``[T]``; their ``*_power_mean``; and ``final_score`` (Jigsaw: a quarter overall
    AUC, three quarters the mean of the three power means).
    """
    negatives, positives = term_confusion[:, 0].sum(-1), term_confusion[:, 1].sum(-1)
    term_fp, term_fn = term_confusion[:, 0, 1], term_confusion[:, 1, 0]
    all_fp, all_fn = all_confusion[0, 1], all_confusion[1, 0]
    all_negatives, all_positives = all_confusion[0].sum(), all_confusion[1].sum()
    figures: dict[str, Tensor] = {
        "num_examples": all_negatives + all_positives, "num_toxic": all_positives,
        "term_n": negatives + positives, "term_toxic": positives, "term_non_toxic": negatives,
    }
    summarised = figures["term_n"] >= min_examples
    figures["summarised"] = summarised
    for name, errors, trials, all_errors, all_trials in (("fpr", term_fp, negatives, all_fp, all_negatives),
                                                         ("fnr", term_fn, positives, all_fn, all_positives)):
        rates = F.safe_divide(errors, trials)
        overall = F.safe_divide(all_errors, all_trials)
        figures[f"term_{name}"] = rates
        figures[f"term_{name}_low"], figures[f"term_{name}_high"] = F.wilson_interval(errors, trials)
        figures[name] = overall
        figures[f"{name}_low"], figures[f"{name}_high"] = F.wilson_interval(all_errors, all_trials)
        defined = ~torch.isnan(rates) & summarised
        figures[f"{name[:2]}ed"] = (rates[defined] - overall).abs().sum()
        figures[f"{name[:2]}ed_terms"] = defined.sum()
    # each term against its background (every other text): [T, 2 (term, background), 2, B]
    pairs = torch.stack([term_histograms, all_histogram.unsqueeze(0) - term_histograms], dim=1)
    aucs = F.bias_aucs(pairs)
    figures["overall_auc"] = F.binned_auc(all_histogram[1], all_histogram[0])
    means = []
    for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
        figures[name] = aucs[name][:, 0]
        figures[f"{name}_power_mean"] = F.generalized_mean(torch.where(summarised, figures[name], torch.nan), power)
        means.append(figures[f"{name}_power_mean"])
    figures["final_score"] = F.jigsaw_final_score(figures["overall_auc"], torch.stack(means))
    return figures
