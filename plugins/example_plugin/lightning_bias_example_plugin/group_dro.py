"""Group DRO (Sagawa et al. 2020, "Distributionally Robust Neural Networks") as a loss-stage mitigation.

Instead of the average loss, training minimises a weighted sum of per-group average losses,
``sum_g q_g L_g``, where the group weights ``q`` (a probability vector) climb towards the groups
with the highest loss by an exponentiated-gradient step after every batch:
``q_g <- q_g exp(step_size * L_g)``, then ``q <- q / sum(q)``. The model is pushed to do well on its
worst group rather than on the average.

Groups are the protected-attribute groups (``groups_by: group``) or the (label, group) cells
(``groups_by: label_group``, the variant of the paper). Sample weights from other mitigations are
honoured: ``L_g`` is the weighted mean loss of group ``g`` in the batch.

Under DDP and DeepSpeed, the per-group loss sums of a batch are all-reduced before ``q`` is updated
(two tensors of a few floats per step) so every rank keeps the same ``q``; the gradient still
comes from each rank's own batch, and the strategy averages it as usual. ``q`` is saved in
checkpoints (``state_dict``), logged as ``group_dro/q_<name>`` at the end of every train epoch and
reported in the validation bias report under ``group_dro``. Label and group names come from the data
module's ``DatasetInfo`` (``trainer.datamodule.info``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from lightning_bias import Mitigation
from lightning_bias.data import DatasetInfo
from lightning_bias.data.batching import BatchKeys


class GroupDRO(Mitigation):
    """Group DRO: minimise the worst group's loss with exponentiated-gradient group weights.

    Args:
        step_size: the exponentiated-gradient step ``eta`` of the group weights (> 0); larger moves
            ``q`` faster towards the worst group.
        groups_by: ``"group"`` (protected-attribute groups) or ``"label_group"`` ((label, group) cells).
        sync_across_ranks: all-reduce the per-group losses before updating ``q`` (keeps ranks identical).
    """

    stage = "downstream"
    report_name = "group_dro"  # not the default "group_d_r_o"

    def __init__(
        self,
        step_size: float = 0.01,
        groups_by: Literal["group", "label_group"] = "group",
        sync_across_ranks: bool = True,
    ) -> None:
        if not step_size > 0:
            raise ValueError(f"group_dro: step_size must be positive, got {step_size}")
        if groups_by not in ("group", "label_group"):
            raise ValueError(f"group_dro: groups_by must be 'group' or 'label_group', got {groups_by!r}")
        self.step_size = float(step_size)
        self.groups_by = groups_by
        self.sync_across_ranks = sync_across_ranks
        self.names: list[str] = []
        self.num_groups = 0
        self.num_attribute_groups = 0
        self.q: torch.Tensor | None = None
        self._restored: list[float] | None = None

    # --- Lightning hooks ------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Size ``q`` from the data module's label and group names (the data module is set up by now)."""
        try:
            info = DatasetInfo.of(trainer)
        except ValueError as err:
            raise ValueError(f"group_dro needs the label and group names: {err}") from err
        groups, labels = list(info.group_names), list(info.label_names)
        if not groups:
            raise ValueError("group_dro needs protected groups, but the data module's DatasetInfo names none")
        if self.groups_by == "label_group":
            if not labels:
                raise ValueError("group_dro with groups_by: label_group needs labels, but the DatasetInfo names none")
            self.names = [f"{label}|{group}" for label in labels for group in groups]
        else:
            self.names = groups
        self.num_groups = len(self.names)
        self.num_attribute_groups = len(groups)
        if self._restored is not None and len(self._restored) == self.num_groups:
            self.q = torch.tensor(self._restored, dtype=torch.float64)
        elif self.q is None or len(self.q) != self.num_groups:
            self.q = torch.full((self.num_groups,), 1.0 / self.num_groups, dtype=torch.float64)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.q is None:
            return
        pl_module.log_dict({f"group_dro/q_{name}": float(w) for name, w in zip(self.names, self.q, strict=True)},
                           sync_dist=False)

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """The group weights in the validation report (they are a training state; the test report omits them)."""
        return self.summary() if split == "val" and self.q is not None else None

    def state_dict(self) -> dict[str, Any]:
        return {"q": [] if self.q is None else self.q.tolist(), "names": list(self.names)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = list(state_dict.get("q") or []) or None
        if self._restored is not None and len(self._restored) == self.num_groups:
            self.q = torch.tensor(self._restored, dtype=torch.float64)

    # --- the mitigation hook --------------------------------------------------------------------

    def group_ids(self, batch: dict[str, Any]) -> torch.Tensor:
        """The DRO group of every row of ``batch``: ``[B]`` int64."""
        groups = batch[BatchKeys.GROUPS].long()
        if self.groups_by == "group":
            return groups
        return batch[BatchKeys.LABELS].long() * self.num_attribute_groups + groups

    def loss(self, outputs: Any, batch: dict[str, Any], loss: torch.Tensor) -> torch.Tensor:
        """``sum_g q_g L_g`` over the groups of this batch, after one exponentiated-gradient step on ``q``."""
        if self.q is None:
            raise RuntimeError("group_dro: setup() did not run; use it as a callback of a lightning_bias Trainer")
        per_example = outputs["per_example_loss"]
        ids = self.group_ids(batch).to(per_example.device)
        weights = batch.get(BatchKeys.WEIGHTS)
        weights = torch.ones_like(per_example) if weights is None else weights.to(per_example.dtype)
        sums = torch.zeros(self.num_groups, dtype=per_example.dtype, device=per_example.device)
        sums = sums.index_add(0, ids, per_example * weights)
        counts = torch.zeros_like(sums).index_add(0, ids, weights)
        group_loss = sums / counts.clamp_min(torch.finfo(sums.dtype).tiny)
        with torch.no_grad():
            global_sums, global_counts = sums.detach().double(), counts.detach().double()
            if self.sync_across_ranks and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                stacked = torch.stack([global_sums, global_counts])
                dist.all_reduce(stacked)
                global_sums, global_counts = stacked[0], stacked[1]
            global_loss = global_sums / global_counts.clamp_min(torch.finfo(torch.float64).tiny)
            q = self.q.to(global_loss.device) * torch.exp(self.step_size * global_loss)
            self.q = (q / q.sum()).cpu()
        return (self.q.to(group_loss.device, group_loss.dtype) * group_loss).sum()

    def summary(self) -> dict[str, Any]:
        """The current group weights by name, for the bias report."""
        weights = {} if self.q is None else {n: round(float(w), 6) for n, w in zip(self.names, self.q, strict=True)}
        return {"step_size": self.step_size, "groups_by": self.groups_by, "group_weights": weights}
