"""What the identity-term evaluations share: scoring fixed evaluation sets with the trained classifier under DDP.

At the end of every validation epoch (not the sanity check) and of the test epoch, each evaluation set
(:class:`~lightning_bias_plugins.evaluation.identity_term_examples.TermExamples`, read once in ``setup`` so
that a bad file stops the run before training) is split into the disjoint shards of
:class:`lightning_bias.data.samplers.UnpaddedDistributedSampler` (every row on exactly one rank), scored with
the model's probability of the toxic class, and counted into
:class:`lightning_bias.metrics.identity_term_bias.IdentityTermBias`, whose count states are summed across
ranks: the figures are exact under DDP.

A set's figures (``set_section``), in the bias report under ``evaluations.<name>``:
``file``, ``num_examples``, ``num_toxic``, ``overall_auc``, ``fpr`` / ``fnr`` with ``*_ci95`` (Wilson; a text is
flagged when its toxic probability exceeds ``decision_threshold``),
``fped`` / ``fned`` (Dixon et al.'s equality differences: sum over terms of |rate - overall rate|) with the
number of terms in them (``fped_terms``, ``fned_terms``; terms with fewer than ``min_term_examples`` texts,
``terms_below_min_examples``, stay out of these sums and of the means), the power means (p = ``power``) of the subgroup,
BPSN and BNSP AUCs, ``final_score`` (Jigsaw), ``per_term`` (per term: ``n``, ``n_toxic``, ``fpr``,
``fpr_ci95``, ``fnr``, ``fnr_ci95``, ``subgroup_auc``, ``bpsn_auc``, ``bnsp_auc``; ``null`` where
undefined) and ``undefined`` (the terms whose FPR, FNR or AUCs are undefined because they have no
non-toxic or no toxic text, named rather than silently missing).
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.data import DatasetInfo
from lightning_bias.data.samplers import UnpaddedDistributedSampler
from lightning_bias.metrics.identity_term_bias import IdentityTermBias
from lightning_bias.mitigation import Evaluation
from lightning_bias_plugins.evaluation.identity_term_examples import TermExamples

SPLITS = ("val", "test")


def _number(value: torch.Tensor | float) -> float | None:
    """A JSON-able float rounded to 6 places, ``None`` for NaN."""
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def _interval(low: torch.Tensor, high: torch.Tensor) -> list[float] | None:
    bounds = [_number(low), _number(high)]
    return None if None in bounds else bounds


def set_section(figures: Mapping[str, torch.Tensor], terms: Sequence[str], where: str, power: float,
                decision_threshold: float) -> dict[str, Any]:
    """One evaluation set's report section (module docstring) from :class:`IdentityTermBias` figures."""
    per_term = {}
    for t, term in enumerate(terms):
        per_term[term] = {
            "n": int(figures["term_n"][t]),
            "n_toxic": int(figures["term_toxic"][t]),
            **{key: value for rate in ("fpr", "fnr") for key, value in (
                (rate, _number(figures[f"term_{rate}"][t])),
                (f"{rate}_ci95", _interval(figures[f"term_{rate}_low"][t], figures[f"term_{rate}_high"][t])),
            )},
            **{name: _number(figures[name][t]) for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc")},
        }
    undefined = {
        "fpr": [term for term, row in per_term.items() if row["fpr"] is None],
        "fnr": [term for term, row in per_term.items() if row["fnr"] is None],
        "subgroup_auc": [term for term, row in per_term.items() if row["subgroup_auc"] is None],
    }
    num_examples = int(figures["num_examples"])
    return {
        "file": where,
        "num_examples": num_examples,
        "num_toxic": int(figures["num_toxic"]),
        "num_terms": len(terms),
        "overall_auc": _number(figures["overall_auc"]),
        "fpr": _number(figures["fpr"]),
        "fpr_ci95": _interval(figures["fpr_low"], figures["fpr_high"]),
        "fnr": _number(figures["fnr"]),
        "fnr_ci95": _interval(figures["fnr_low"], figures["fnr_high"]),
        "decision_threshold": decision_threshold,
        "fped": _number(figures["fped"]),
        "fped_terms": int(figures["fped_terms"]),
        "terms_below_min_examples": [term for t, term in enumerate(terms) if not bool(figures["summarised"][t])],
        "fned": _number(figures["fned"]),
        "fned_terms": int(figures["fned_terms"]),
        "power": power,
        **{f"{name}_power_mean": _number(figures[f"{name}_power_mean"])
           for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc")},
        "final_score": _number(figures["final_score"]),
        "per_term": per_term,
        "undefined": {key: names for key, names in undefined.items() if names},
    }


class IdentityTermEvaluation(Evaluation, metaclass=ABCMeta):
    """Base of the identity-term evaluations: scores their sets at validation and test end (module docstring).

    Subclasses read their sets in ``load_sets`` and may reshape the sections in ``section_of``.

    Args:
        toxic_class: the model's class that means toxic, by name; default the second of two classes.
        splits: at which ends to measure (``"val"``, ``"test"``).
        batch_size: texts per forward pass.
        max_length: truncation length; default the data module's ``max_length``.
        thresholds: score thresholds of the AUC histograms.
        decision_threshold: a text counts as flagged toxic (for FPR and FNR) when its toxic probability exceeds it;
            0.5 is the argmax of two classes.
        power: exponent of the power means of the bias AUCs (-5 in the Jigsaw benchmark).
        min_term_examples: a term with fewer texts in a set keeps its row in ``per_term`` but stays out of FPED,
            FNED and the power means (named under ``terms_below_min_examples``).
    """

    def __init__(
        self,
        toxic_class: str | None = None,
        splits: Sequence[str] = SPLITS,
        batch_size: int = 128,
        max_length: int | None = None,
        thresholds: int = 500,
        decision_threshold: float = 0.5,
        power: float = -5.0,
        min_term_examples: int = 10,
    ) -> None:
        name = self.report_name
        unknown = set(splits) - set(SPLITS)
        if unknown or not splits:
            raise ValueError(f"{name}: splits must be a non-empty list among {list(SPLITS)}; got {list(splits)}")
        if batch_size < 1:
            raise ValueError(f"{name}: batch_size must be positive, got {batch_size}")
        if isinstance(thresholds, bool) or not isinstance(thresholds, int) or thresholds < 2:
            raise ValueError(f"{name}: thresholds must be an integer >= 2, got {thresholds!r}")
        if not 0.0 <= decision_threshold <= 1.0:
            raise ValueError(f"{name}: decision_threshold must be in [0, 1], got {decision_threshold!r}")
        self.toxic_class = toxic_class
        self.splits = tuple(splits)
        self.batch_size = batch_size
        self.max_length = max_length
        self.thresholds = thresholds
        self.decision_threshold = float(decision_threshold)
        self.power = float(power)
        if isinstance(min_term_examples, bool) or not isinstance(min_term_examples, int) or min_term_examples < 0:
            raise ValueError(f"{name}: min_term_examples must be a non-negative integer, got {min_term_examples!r}")
        self.min_term_examples = min_term_examples
        self.sets: dict[str, TermExamples] = {}
        self.results: dict[str, dict[str, Any]] = {}

    @abstractmethod
    def load_sets(self) -> dict[str, TermExamples]:
        """The evaluation sets by name (subclasses read their files here)."""

    def section_of(self, sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The report section from the sections of the sets (default: keyed by set name)."""
        return sections

    # --- Lightning hooks ------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check the toxic class against the model's labels and read the sets, before any training."""
        self._toxic_index(trainer)
        if not self.sets:
            self.sets = self.load_sets()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.evaluate(trainer, pl_module, "test")

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """The last measurement at the end of ``split``, or ``None`` when none was made."""
        return self.results.get(split)

    # --- the measurement ------------------------------------------------------------------------

    def _toxic_index(self, trainer: pl.Trainer) -> int:
        names = list(DatasetInfo.of(trainer).label_names)
        if self.toxic_class is None:
            if len(names) != 2:
                raise ValueError(
                    f"{self.report_name}: the model has {len(names)} classes {names}; name the one that means toxic "
                    "with the toxic_class option"
                )
            return 1
        if self.toxic_class not in names:
            raise ValueError(f"{self.report_name}: toxic_class {self.toxic_class!r} is not one of the model's classes "
                             f"{names}")
        return names.index(self.toxic_class)

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> dict[str, Any] | None:
        """Score every set on this rank's shard, sum the counts across ranks, log, keep the section.

        Every rank must call it (the metrics sync). Returns the section, or ``None`` when ``split`` is not measured.
        """
        if split not in self.splits:
            return None
        if not self.sets:
            self.sets = self.load_sets()
        toxic_index = self._toxic_index(trainer)
        max_length = self.max_length or getattr(trainer.datamodule, "max_length", None)
        was_training = pl_module.training
        pl_module.eval()
        sections = {}
        for name, examples in self.sets.items():
            memberships = [examples.membership]
            if examples.templates is not None:
                templates = sorted(set(examples.templates))
                index = {template: i for i, template in enumerate(templates)}
                by_template = np.zeros((len(examples.texts), len(templates)), dtype=bool)
                by_template[np.arange(len(examples.texts)), [index[t] for t in examples.templates]] = True
                memberships.append(by_template)
            figures = self._score(trainer, pl_module, examples, memberships, toxic_index, max_length)
            sections[name] = set_section(figures[0], examples.terms, examples.where, self.power,
                                         self.decision_threshold)
            if examples.templates is not None:
                sections[name]["by_template"] = set_section(figures[1], templates, examples.where, self.power,
                                                            self.decision_threshold)["per_term"]
        pl_module.train(was_training)
        section = self.section_of(sections)
        self.results[split] = section
        logged = {f"{split}/{self.report_name}{'_' + name if len(sections) > 1 else ''}_{key}": value
                  for name, figures in sections.items()
                  for key, value in figures.items() if key in ("overall_auc", "fped", "fned", "final_score")
                  and value is not None}
        if logged:
            pl_module.log_dict(logged, sync_dist=False)
        rank_zero_info(f"{self.report_name} ({split}): " + "; ".join(
            f"{name or 'set'}: {figures['num_examples']} texts, {figures['num_terms']} terms, AUC "
            f"{figures['overall_auc']}, FPED {figures['fped']}, FNED {figures['fned']}, final score "
            f"{figures['final_score']}" for name, figures in sections.items()))
        return section

    def _score(self, trainer: pl.Trainer, pl_module: pl.LightningModule, examples: TermExamples,
               memberships: list[np.ndarray], toxic_index: int, max_length: int | None) -> list[dict[str, torch.Tensor]]:
        """The figures of each membership matrix's columns (terms, templates) on the set, counts summed over
        ranks; the texts are scored once."""
        device = pl_module.device
        shard = list(UnpaddedDistributedSampler(len(examples.texts), num_replicas=trainer.world_size,
                                                rank=trainer.global_rank))
        shard.sort(key=lambda row: len(examples.texts[row]))  # similar lengths batch together: less padding
        metrics = [IdentityTermBias(membership.shape[1], thresholds=self.thresholds,
                                    decision_threshold=self.decision_threshold, power=self.power,
                                    min_examples=self.min_term_examples, validate_args=False).to(device) for membership in memberships]
        num_batches = -(-len(shard) // self.batch_size)
        most_batches = num_batches
        if trainer.world_size > 1:  # sharded strategies gather parameters collectively: equal forward passes
            most = trainer.strategy.reduce(torch.tensor(num_batches, device=device), reduce_op="max")
            most_batches = int(most.item())
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            for batch in range(most_batches):
                if batch >= num_batches:
                    self._toxic_scores(pl_module, ["."], toxic_index, max_length)  # placeholder, not counted
                    continue
                rows = shard[batch * self.batch_size:(batch + 1) * self.batch_size]
                scores = self._toxic_scores(pl_module, [examples.texts[row] for row in rows], toxic_index, max_length)
                target = torch.as_tensor(examples.toxic[rows], device=device)
                for metric, membership in zip(metrics, memberships, strict=True):
                    metric.update(scores, target, torch.as_tensor(membership[rows], device=device))
            if not shard:  # every rank must reach the sync in compute()
                for metric, membership in zip(metrics, memberships, strict=True):
                    metric.update(torch.zeros(0, device=device), torch.zeros(0, dtype=torch.long, device=device),
                                  torch.zeros((0, membership.shape[1]), dtype=torch.bool, device=device))
            return [metric.compute() for metric in metrics]

    def _toxic_scores(self, pl_module: pl.LightningModule, texts: list[str], toxic_index: int,
                      max_length: int | None) -> torch.Tensor:
        """``[len(texts)]`` probabilities of the toxic class."""
        encoded = pl_module.tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        logits = pl_module(encoded["input_ids"].to(pl_module.device), encoded["attention_mask"].to(pl_module.device))
        return logits.float().softmax(-1)[:, toxic_index]

