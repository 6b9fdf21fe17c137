"""The public plugin API: the ``Mitigation`` base class.

A mitigation is a Lightning ``Callback`` with a few extra hooks that the framework calls at
fixed points of a run. Every hook is optional; the defaults change nothing.

Order of calls in ``fit`` (and ``pretrain`` for ``stage = "upstream"``):

1. ``transform(table, split)`` for every split, right after loading and before tokenization,
   in the order the mitigations are listed; each receives the previous one's output.
2. ``sample_weights(table)`` on the transformed train table; the weights of several plugins
   multiply, and the training loss becomes the weighted mean of per-example losses.
3. ``sampler(table, num_replicas, rank, seed)`` on the transformed train table; at most one
   plugin may return a sampler, which then replaces the training sampler under every strategy.
4. ``loss(outputs, batch, loss)`` on every training step, after weighting, in listed order.

Plus any ordinary Lightning callback hook (``on_train_epoch_start``, ``on_validation_end``...).

Tables are ``datasets.Dataset`` objects: downstream tables have at least the columns
``text`` (str), ``label`` (int) and ``group`` (int); upstream (masked-LM corpus) tables have
``text``. A transform must be deterministic given its seed and must not empty the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pytorch_lightning import Callback

if TYPE_CHECKING:
    import datasets
    import torch
    from torch.utils.data import Sampler

Split = Literal["train", "val", "test", "predict"]
STAGES = ("upstream", "downstream")


class Mitigation(Callback):
    """Base class of every bias mitigation, built-in or third-party.

    Subclasses set ``stage`` to ``"upstream"`` (acts on masked-LM pre-training, used by
    ``lightning_bias pretrain``) or ``"downstream"`` (acts on fine-tuning, used by
    ``lightning_bias fit``), and override the hooks they need. The first line of the class
    docstring is the one-line description that ``lightning_bias plugins`` prints.
    """

    stage: ClassVar[str] = "downstream"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.stage not in STAGES:
            raise TypeError(f"{cls.__qualname__}.stage must be one of {STAGES}, got {cls.stage!r}")

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """Return the table for ``split``, changed or not (default: unchanged)."""
        return table

    def sample_weights(self, table: datasets.Dataset) -> Sequence[float] | torch.Tensor | None:
        """Per-row loss weights for the train table, or ``None`` for no opinion."""
        return None

    def sampler(self, table: datasets.Dataset, num_replicas: int, rank: int, seed: int) -> Sampler[int] | None:
        """A training sampler over the train table for this rank, or ``None``."""
        return None

    def loss(self, outputs: Any, batch: dict[str, Any], loss: torch.Tensor) -> torch.Tensor:
        """Change the training loss of one step (default: unchanged)."""
        return loss

    @classmethod
    def description(cls) -> str:
        """The first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def mitigations_of(callbacks: Sequence[Any], stage: str | None = None) -> list[Mitigation]:
    """The mitigations among ``callbacks``, in order, optionally only those of ``stage``."""
    found = [cb for cb in callbacks if isinstance(cb, Mitigation)]
    return [m for m in found if stage is None or m.stage == stage]
