"""Counterfactual evaluation: does the prediction change when the attribute words of the input are swapped?

Counterfactual token fairness (Garg et al. 2019). At the end of every validation epoch (not the
sanity check) and of the test epoch, the evaluation takes the split's untokenized texts
(``trainer.datamodule.tables[split]``), keeps those with at least one attribute word, swaps them
("He is a nurse" -> "She is a nurse") through the counterfactual engine
(:func:`lightning_bias.counterfactual.augment`, mode ``two_sided_filtered``), runs the model on both
versions and compares:

- ``flip_rate``: share of swapped rows whose predicted class changes;
- ``mean_abs_prob_change``: mean absolute change of the probability of the originally predicted class;
- ``num_swapped``: rows that had an attribute word (the denominator); ``num_rows``: rows looked at.

Under DDP every rank takes the same disjoint shard as the evaluation dataloader
(:class:`lightning_bias.data.samplers.UnpaddedDistributedSampler`, every row once), and
:class:`lightning_bias.metrics.CounterfactualFlipRate` sums the counts across ranks. The result
is logged (``val/counterfactual_flip_rate``, ...) and is this evaluation's ``report_section`` of the
split, under ``evaluations.counterfactual`` in the bias report (the validation report holds the last epoch's).

It is an evaluation, not a mitigation: list it under ``evaluations:`` (``{name: counterfactual_evaluation,
attribute: gender}``) or by class path under ``trainer.callbacks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.data import DatasetInfo
from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.samplers import UnpaddedDistributedSampler
from lightning_bias.metrics import CounterfactualFlipRate
from lightning_bias.mitigation import Evaluation


def _classification_data(trainer: pl.Trainer) -> BiasDataModule:
    """The run's ``BiasDataModule``: the evaluation reads its untokenized tables, ``max_length`` and ``info``."""
    datamodule = trainer.datamodule
    if not isinstance(datamodule, BiasDataModule):
        raise ValueError(
            "counterfactual_evaluation swaps the untokenized texts of a classification split, so it needs a "
            f"lightning_bias.data.datamodule.BiasDataModule; got {type(datamodule).__name__}"
        )
    return datamodule


class CounterfactualEvaluation(Evaluation):
    """Counterfactual flip rate at validation and test end: predictions on attribute-swapped texts vs originals.

    Args:
        attribute: built-in word lists ``"gender"`` (default), ``"race"`` or ``"religion"``.
        include_names: with the built-in gender lists, swap first names too.
        term_files, name_files: your own word-list files instead of the built-in ones.
        seed: seeds the race/religion counterpart choice.
        splits: which evaluation splits to measure (``"val"``, ``"test"``).
        batch_size: rows per forward pass (each pass holds the originals or their swapped copies).
        max_length: truncation length; default the data module's ``max_length`` (else the tokenizer's).

    ``self.results[split]`` holds the last section measured for that split.
    """

    report_name = "counterfactual"

    def __init__(
        self,
        attribute: str = "gender",
        include_names: bool = True,
        term_files: list[str] | None = None,
        name_files: list[str] | None = None,
        seed: int = 0,
        splits: Sequence[str] = ("val", "test"),
        batch_size: int = 64,
        max_length: int | None = None,
    ) -> None:
        unknown = set(splits) - {"val", "test"}
        if unknown:
            raise ValueError(f"counterfactual_evaluation: splits must be among val, test; got {sorted(unknown)}")
        if batch_size < 1:
            raise ValueError(f"counterfactual_evaluation: batch_size must be positive, got {batch_size}")
        self.swapper = AttributeSwapper.from_options(attribute, include_names, term_files, name_files, seed)
        self.splits = tuple(splits)
        self.batch_size = batch_size
        self.max_length = max_length
        self.results: dict[str, dict[str, Any]] = {}

    # --- Lightning hooks ------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail before training when the data module cannot tell the label names (it is set up by now)."""
        _classification_data(trainer)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.evaluate(trainer, pl_module, "test")

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """The last measurement of ``split``, or ``None`` when it was not measured."""
        return self.results.get(split)

    # --- the measurement ------------------------------------------------------------------------

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> dict[str, Any] | None:
        """Measure ``split`` on this rank's shard, sync across ranks, log, and keep the section for the report.

        Every rank must call it (the metric syncs). Returns the section, or ``None`` when the split is
        not measured or the data module holds no untokenized table for it.
        """
        if split not in self.splits:
            return None
        datamodule = _classification_data(trainer)
        num_classes = DatasetInfo.of(trainer).num_labels
        table = datamodule.tables.get(split)
        if table is None:
            rank_zero_warn(f"counterfactual_evaluation: the data module holds no {split!r} table (datamodule.tables); "
                           "skipped")
            return None
        shard = list(UnpaddedDistributedSampler(len(table), num_replicas=trainer.world_size, rank=trainer.global_rank))
        # two_sided_filtered: each row with an attribute word, followed by its swapped version
        rows = augment(list(table.select(shard)["text"]) if shard else [], self.swapper.swap_with_count,
                       "two_sided_filtered")
        originals = [text for text, is_swapped in zip(rows.texts, rows.rewritten, strict=True) if not is_swapped]
        swapped = [text for text, is_swapped in zip(rows.texts, rows.rewritten, strict=True) if is_swapped]
        metric = CounterfactualFlipRate(validate_args=False).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        # Every rank runs as many forward passes as the busiest one (sharded strategies such as ZeRO-3
        # gather parameters collectively in forward); the extra passes use a placeholder and are not counted.
        num_batches = -(-len(originals) // self.batch_size)
        most_batches = num_batches
        if trainer.world_size > 1:
            most = trainer.strategy.reduce(torch.tensor(num_batches, device=pl_module.device), reduce_op="max")
            most_batches = int(most.item())
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            for batch in range(most_batches):
                if batch >= num_batches:
                    for _ in ("original", "swapped"):  # the same two passes as a real batch
                        self._probabilities(pl_module, ["."], datamodule)
                    continue
                window = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
                metric.update(
                    self._probabilities(pl_module, originals[window], datamodule),
                    self._probabilities(pl_module, swapped[window], datamodule),
                )
            if not originals:  # every rank must reach the sync in compute(), with or without rows
                empty = torch.zeros((0, max(num_classes, 1)), device=pl_module.device)
                metric.update(empty, empty)
            values = metric.compute()
        pl_module.train(was_training)
        counts = torch.tensor([len(originals), len(shard)], dtype=torch.float64, device=pl_module.device)
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        num_swapped, num_rows = int(counts[0].item()), int(counts[1].item())
        section = {
            "attribute": self.swapper.attribute,
            "flip_rate": float(values["flip_rate"]) if num_swapped else None,
            "mean_abs_prob_change": float(values["mean_abs_prob_change"]) if num_swapped else None,
            "num_swapped": num_swapped,
            "num_rows": num_rows,
        }
        self.results[split] = section
        if num_swapped:
            pl_module.log_dict({f"{split}/counterfactual_flip_rate": section["flip_rate"],
                                f"{split}/counterfactual_mean_abs_prob_change": section["mean_abs_prob_change"]},
                               sync_dist=False)
        rank_zero_info(f"counterfactual evaluation ({split}, {self.swapper.attribute}): {section}")
        return section

    def _probabilities(self, pl_module: pl.LightningModule, texts: list[str], datamodule: BiasDataModule) -> torch.Tensor:
        """``[len(texts), C]`` class probabilities, padded to the longest text of the batch."""
        tokenizer = pl_module.tokenizer
        max_length = self.max_length or datamodule.max_length
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        logits = pl_module(encoded["input_ids"].to(pl_module.device), encoded["attention_mask"].to(pl_module.device))
        return logits.float().softmax(-1)
