"""Hidden states of any Hugging Face encoder, pooled over a sentence or over a span: the input of the head-free measures.

The head-free measures (``association_test``, ``gender_probe``) read the encoder's last hidden layer
and never its masked-LM head, so they are sound for a sentence encoder without a head, a model
with a freshly fitted head and a model trained from scratch alike. ``model`` may be a masked LM
(its ``base_model`` is used) or a bare encoder (``AutoModel``).

- ``sentence_embeddings``: the mean of the last hidden states over the attention mask, special
  tokens included (the pooling of sentence-transformers' MiniLM);
- ``span_embeddings``: the mean of the last hidden states over the tokens that overlap a character
  span of each text (e.g. the occupation word in "She works as a nurse.").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.intrinsic.masked_scoring import evaluation_mode, model_device


def _encoder(model: nn.Module) -> nn.Module:
    """The bare encoder of a masked LM (``base_model``), or the model itself when it is one."""
    return getattr(model, "base_model", model)


def _pooled_states(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    spans: Sequence[tuple[int, int]] | None,
    batch_size: int,
) -> np.ndarray:
    """``[len(texts), hidden]`` float64 means of the last hidden states, over each text's mask or span."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not texts:
        raise ValueError("no texts to embed; give at least one sentence")
    encoder = _encoder(model)
    device = model_device(model)
    pooled: list[np.ndarray] = []
    with evaluation_mode(model):
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            encoded = tokenizer(chunk, padding=True, return_tensors="pt", return_offsets_mapping=spans is not None)
            weights = encoded["attention_mask"].clone()
            if spans is not None:
                offsets = encoded.pop("offset_mapping")
                low = torch.tensor([s[0] for s in spans[start : start + batch_size]]).unsqueeze(1)
                high = torch.tensor([s[1] for s in spans[start : start + batch_size]]).unsqueeze(1)
                inside = (offsets[..., 1] > offsets[..., 0]) & (offsets[..., 0] < high) & (offsets[..., 1] > low)
                weights = weights * inside.long()
                empty = (weights.sum(dim=1) == 0).nonzero().flatten().tolist()
                if empty:
                    row = start + empty[0]
                    raise ValueError(
                        f"span {tuple(spans[row])} of {texts[row]!r} covers no token; give the character span of a word"
                    )
            inputs = {k: v.to(device) for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = encoder(**inputs)[0].float()
            mask = weights.to(device).unsqueeze(-1).float()
            pooled.append(((hidden * mask).sum(dim=1) / mask.sum(dim=1)).double().cpu().numpy())
    return np.concatenate(pooled)


def sentence_embeddings(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], batch_size: int = 64
) -> np.ndarray:
    """``[len(texts), hidden]``: each text's last hidden states averaged over its tokens (special tokens included)."""
    return _pooled_states(model, tokenizer, texts, None, batch_size)


def span_embeddings(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    spans: Sequence[tuple[int, int]],
    batch_size: int = 64,
) -> np.ndarray:
    """``[len(texts), hidden]``: each text's last hidden states averaged over the tokens overlapping its
    character span ``[start, end)``. Needs a fast tokenizer (offsets); raises ``ValueError`` for a span
    that covers no token."""
    if len(spans) != len(texts):
        raise ValueError(f"span_embeddings got {len(texts)} texts but {len(spans)} spans; give one span per text")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("span embeddings need a fast tokenizer (character offsets); load the model's fast tokenizer")
    return _pooled_states(model, tokenizer, texts, spans, batch_size)
