"""``BaseDataModule``: what ``BiasDataModule`` and ``CorpusDataModule`` share.

- a **source** looked up by name in the registry (``lightning_bias.sources``) and built from the data
  module's own options (those named like the source's parameters) plus ``source_options``;
- the **tokenizer**, bound late: ``connect(tokenizer)``, or in ``setup`` the attached model's ``tokenizer``;
- the run's **mitigation pipeline** of the trainer's callbacks, for the data module's stage;
- ``info``: a ``DatasetInfo`` that ``setup`` sets (``None`` before).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pytorch_lightning import LightningDataModule
from transformers import PreTrainedTokenizerBase

from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.sources.base import Source, build_source
from lightning_bias.mitigation import MitigationPipeline, Stage


def offered_options(init: Callable[..., None], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A data module's options by name, offered to its source: ``init``'s parameters (but ``self``,
    ``source`` and ``source_options``) with their values in ``arguments`` (``init``'s ``locals()``)."""
    skip = {"self", "source", "source_options"}
    return {name: arguments[name] for name in inspect.signature(init).parameters if name not in skip}


class BaseDataModule(LightningDataModule):
    """A data module that reads a registered source and tokenizes with the model's tokenizer.

    Args:
        source: the registered name of the source (``data.source``).
        source_options: options of the source's own (``data.source_options``).
        offered: the subclass's other options by name (``offered_options``); the source takes those named
            like its parameters.

    Subclasses set ``source_kind`` (the source base class they read) and ``stage`` (of their mitigations).
    """

    source_kind: ClassVar[type[Source]]
    stage: ClassVar[Stage]

    def __init__(self, source: str, source_options: Mapping[str, Any] | None, offered: Mapping[str, Any]) -> None:
        super().__init__()
        self.source_name = source
        self.source_options = dict(source_options or {})
        self.source, self.source_record = build_source(source, self.source_kind, offered, self.source_options)
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.info: DatasetInfo | None = None

    def connect(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Give the data module its tokenizer (otherwise ``setup`` takes the attached model's)."""
        self.tokenizer = tokenizer

    def bind_tokenizer(self) -> PreTrainedTokenizerBase:
        """The connected tokenizer, else the attached model's ``tokenizer``; ``RuntimeError`` when there is none."""
        if self.tokenizer is None:
            model = self.trainer.lightning_module if self.trainer is not None else None
            if getattr(model, "tokenizer", None) is None:
                raise RuntimeError(
                    f"{type(self).__name__} needs a tokenizer: call connect(tokenizer), or attach it to a Trainer "
                    "whose model has a `tokenizer`"
                )
            self.tokenizer = model.tokenizer
        return self.tokenizer

    def mitigation_pipeline(self) -> MitigationPipeline:
        """The trainer's mitigations for this module's stage (none without a trainer); ``ValueError`` for a
        mitigation of the other stage or a hook the stage does not allow."""
        callbacks = self.trainer.callbacks if self.trainer is not None else []
        return MitigationPipeline.from_callbacks(callbacks, self.stage)
