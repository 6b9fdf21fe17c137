"""Dropout debiasing (Webster et al., 2020): continue pre-training with higher dropout.

At ``on_fit_start`` every ``nn.Dropout`` of the Hugging Face model inside the LightningModule is
set to ``attention_dropout`` (attention-probability dropouts) or ``hidden_dropout`` (all others:
embeddings, attention output, feed-forward), and the model config's dropout fields are set to
match. Defaults are the BERT/RoBERTa values of the paper (hidden 0.20, attention 0.15).

Decision: the raised dropout is a *training-time* intervention on the upstream model. At
``on_train_end`` (before the model's own end-of-training export) the modules and the config get
their original values back, so the exported checkpoint's config — and any fine-tuning from it —
uses the model's usual dropout. The raised and the original values are recorded in the
pre-training report (this plugin's ``args`` and ``state``).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch import nn
from transformers import PreTrainedModel

from lightning_bias.mitigation import Mitigation

HIDDEN_CONFIG_KEYS = ("hidden_dropout_prob", "hidden_dropout", "dropout", "resid_pdrop", "embd_pdrop")
ATTENTION_CONFIG_KEYS = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")
_ATTENTION_NAMES = ("attn_dropout", "attention_dropout")
_ATTENTION_PARENTS = ("attention.self", "attention", "self_attn", "attn")


def is_attention_dropout(name: str) -> bool:
    """Whether the dropout module at ``name`` acts on attention probabilities (BERT, RoBERTa, DistilBERT,
    ALBERT, GPT-2 naming)."""
    parent, _, last = name.rpartition(".")
    if last in _ATTENTION_NAMES:
        return True
    return last == "dropout" and parent.endswith(_ATTENTION_PARENTS)


def find_hf_model(module: nn.Module) -> PreTrainedModel:
    """The first Hugging Face model inside ``module`` (itself included)."""
    for sub in module.modules():
        if isinstance(sub, PreTrainedModel):
            return sub
    raise ValueError(f"{type(module).__name__} holds no Hugging Face model; dropout_debiasing needs one")


class DropoutDebiasing(Mitigation):
    """Dropout debiasing (Webster et al. 2020): raise hidden/attention dropout during continued pre-training."""

    stage = "upstream"

    def __init__(self, hidden_dropout: float = 0.20, attention_dropout: float = 0.15) -> None:
        for name, value in (("hidden_dropout", hidden_dropout), ("attention_dropout", attention_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"dropout_debiasing.{name} must be in [0, 1), got {value}")
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.changed_modules: dict[str, int] = {"hidden": 0, "attention": 0}
        self.original_config: dict[str, float] = {}
        self._original_modules: dict[nn.Dropout, float] = {}
        self._config: Any = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model = find_hf_model(pl_module)
        self._original_modules, self.changed_modules = {}, {"hidden": 0, "attention": 0}
        for name, sub in model.named_modules():
            if isinstance(sub, nn.Dropout):
                kind = "attention" if is_attention_dropout(name) else "hidden"
                self._original_modules[sub] = sub.p
                sub.p = self.attention_dropout if kind == "attention" else self.hidden_dropout
                self.changed_modules[kind] += 1
        if not self._original_modules:
            raise ValueError(f"{type(model).__name__} has no nn.Dropout modules; dropout_debiasing cannot act on it")
        self._config = model.config
        self.original_config = {}
        for keys, value in ((HIDDEN_CONFIG_KEYS, self.hidden_dropout), (ATTENTION_CONFIG_KEYS, self.attention_dropout)):
            for key in keys:
                current = getattr(self._config, key, None)
                if isinstance(current, float | int) and not isinstance(current, bool):
                    self.original_config[key] = float(current)
                    setattr(self._config, key, value)

    def restore(self) -> None:
        """Give every changed module and config field its original dropout back."""
        for module, p in self._original_modules.items():
            module.p = p
        for key, value in self.original_config.items():
            setattr(self._config, key, value)
        self._original_modules = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.restore()
