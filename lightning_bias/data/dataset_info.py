"""``DatasetInfo``: what a data module tells the model and the plugins about the data it serves.

Both data modules expose one as ``datamodule.info`` after ``setup``: the classification module with
label and group names, per-split sizes and the measured train co-occurrence; the corpus module with
sizes and the corpus record (no labels or groups). The model reads its label and group names from it,
the bias report its co-occurrence and source, and plugins whatever they need — one typed hand-off
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
        train_cooccurrence: measured P(group | label) of the train split with its counts
            (``cooccurrence``), or ``None`` for a corpus.
        source: where the data came from: the source's name and options (and, for a corpus, the
            sizes before and after every mitigation).
    """

    label_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    train_cooccurrence: Mapping[str, Any] | None = None
    source: Mapping[str, Any] = field(default_factory=dict)

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
