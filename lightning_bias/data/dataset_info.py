"""``DatasetInfo``: what a data module tells the model and the plugins about the data it serves.

Both data modules expose one as ``datamodule.info`` after ``setup``: the classification module with
label and group names, per-split sizes (before and after the mitigations), the measured co-occurrence
of every split, the distribution the source declares and the seeds; the corpus module with sizes and the
corpus record (no labels or groups). The model reads its label and group names from it, the bias report
its co-occurrence, sizes, seeds and source, and plugins whatever they need — one typed hand-off
instead of attribute lookups on the data module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetInfo:
    """Names, sizes and provenance of a run's data (after the mitigations' transforms).

    Attributes:
        label_names: class names, index = label id (empty for a masked-LM corpus).
        group_names: protected-group names, index = group id (``female|black`` for intersectional groups).
        sizes: rows per split, e.g. ``{"train": 1400, "val": 300, "test": 300}``.
        sizes_before_mitigation: rows per split as loaded (a missing validation or test split already
            cut from train), before the mitigations' transforms.
        cooccurrence: per split, the measured P(group | label), its counts and the group shares
            (``datamodule.cooccurrence``); empty for a corpus.
        declared_distribution: per split, the distribution the source declares it generated (e.g. the
            synthetic bios' ``female_rate``); empty when the source declares none.
        seeds: the data module's seeds by role, e.g. ``{"data": 0, "split": 0, "source": 0}`` (training
            order and samplers, the cut of missing splits, the source's own generator).
        source: where the data came from: the source's name and options (and, for a corpus, the
            sizes before and after every mitigation).
    """

    label_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    sizes_before_mitigation: Mapping[str, int] = field(default_factory=dict)
    cooccurrence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    declared_distribution: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seeds: Mapping[str, int] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def train_cooccurrence(self) -> Mapping[str, Any] | None:
        """The measured co-occurrence of the train split the model fine-tunes on; ``None`` for a corpus."""
        return self.cooccurrence.get("train")

    @classmethod
    def of(cls, trainer: Any) -> DatasetInfo:
        """The ``info`` of ``trainer.datamodule`` (after its ``setup``); ``ValueError`` when it exposes none."""
        datamodule = getattr(trainer, "datamodule", None)
        info = getattr(datamodule, "info", None)
        if not isinstance(info, cls):
            raise ValueError(
                f"the data module {type(datamodule).__name__} exposes no DatasetInfo as `info` (or its setup has not "
                "run); use lightning_bias.data.BiasDataModule / CorpusDataModule, or set `self.info` in your own setup"
            )
        return info

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def num_groups(self) -> int:
        return len(self.group_names)
