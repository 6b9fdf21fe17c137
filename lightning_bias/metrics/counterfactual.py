"""Counterfactual token fairness (Garg et al. 2019): how often and how much predictions move under a swap."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_bias.metrics import functional as F
from lightning_bias.metrics.input_validation import ValueRange, check_value_ranges
from lightning_bias.metrics.state_sync import all_reduce_sum


class CounterfactualFlipRate(Metric):
    """Flip rate and mean probability change between original inputs and their counterfactual copies.

    ``update(probs_original, probs_counterfactual)`` takes row-aligned ``[N, C]`` class probabilities for
    each input and for its counterfactual (e.g. with the identity term swapped). For row ``i`` let
    ``c_i = argmax_k probs_original[i, k]`` (the originally predicted class). ``compute()`` returns:

    * ``"flip_rate"``: fraction of rows with ``argmax_k probs_counterfactual[i, k] != c_i``;
    * ``"mean_abs_prob_change"``: mean over rows of ``|probs_counterfactual[i, c_i] - probs_original[i, c_i]|``,
      the absolute change of the probability of the originally predicted class.

    Both are NaN before any row was seen. State: three sums (flips, probability change, rows), summed
    across processes. With ``validate_args=True`` (default) ``update`` checks that the probabilities are
    finite and in [0, 1] (one host sync per call); with ``False`` it does no host sync.

    Example:
        >>> import torch
        >>> metric = CounterfactualFlipRate()
        >>> original = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
        >>> swapped = torch.tensor([[0.8, 0.2], [0.7, 0.3], [0.3, 0.7], [0.1, 0.9]])
        >>> {name: value.round(decimals=4) for name, value in metric(original, swapped).items()}
        {'flip_rate': tensor(0.2500), 'mean_abs_prob_change': tensor(0.1250)}
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    flips: Tensor
    probability_change: Tensor
    rows: Tensor

    def __init__(self, validate_args: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("dist_sync_fn", all_reduce_sum)
        super().__init__(**kwargs)
        self.validate_args = bool(validate_args)
        self.add_state("flips", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("probability_change", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("rows", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, probs_original: Tensor, probs_counterfactual: Tensor) -> None:
        """Add a batch of row-aligned ``[N, C]`` probabilities (original, counterfactual)."""
        owner = f"{type(self).__name__}.update"
        for name, probs in (("probs_original", probs_original), ("probs_counterfactual", probs_counterfactual)):
            if not isinstance(probs, Tensor) or probs.dim() != 2 or not probs.is_floating_point():
                shape = list(probs.shape) if isinstance(probs, Tensor) else type(probs).__name__
                raise ValueError(f"{owner}: `{name}` must be a floating [N, C] tensor of probabilities; got {shape}.")
        if probs_original.shape != probs_counterfactual.shape:
            raise ValueError(
                f"{owner}: `probs_original` and `probs_counterfactual` must have the same shape [N, C]; got "
                f"{list(probs_original.shape)} and {list(probs_counterfactual.shape)}."
            )
        if self.validate_args:
            check_value_ranges(
                owner,
                [
                    ValueRange("probs_original", probs_original, 0.0, 1.0, "Apply softmax to logits first."),
                    ValueRange("probs_counterfactual", probs_counterfactual, 0.0, 1.0, "Apply softmax to logits first."),
                ],
            )
        if probs_original.shape[0] == 0:
            return
        flips, change = F.counterfactual_flip_statistics(probs_original, probs_counterfactual)
        self.flips += flips
        self.probability_change += change.to(self.probability_change.dtype)
        self.rows += probs_original.shape[0]

    def compute(self) -> dict[str, Tensor]:
        """``{"flip_rate": scalar, "mean_abs_prob_change": scalar}``."""
        dtype = torch.get_default_dtype()
        return {
            "flip_rate": F.safe_divide(self.flips, self.rows).to(dtype),
            "mean_abs_prob_change": F.safe_divide(self.probability_change, self.rows).to(dtype),
        }
