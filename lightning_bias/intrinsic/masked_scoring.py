"""Batched log-probabilities of given tokens at one masked position: the primitive of every intrinsic metric.

A *query* is a token sequence (special tokens included) with one position to read and the token
ids whose log-probability is wanted there. Queries of all lengths are sorted by length, padded per
batch and run through the model in eval mode without gradients; the answers come back in the
order the queries were given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MaskedQuery:
    """``input_ids`` (the whole sequence), the ``position`` to read, the ``targets`` to score there."""

    input_ids: tuple[int, ...]
    position: int
    targets: tuple[int, ...]


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; the model's previous train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameterless model)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def masked_lm_head(model: nn.Module) -> nn.Module | None:
    """The vocabulary head of a Hugging Face masked LM when it is the one module beside the encoder
    (BERT ``cls``, RoBERTa ``lm_head``, ALBERT ``predictions``...), else ``None`` (e.g. DistilBERT).

    With it, logits can be computed at chosen positions only: ``head(model.base_model(...)[0][rows, cols])``.
    """
    base = getattr(model, "base_model", model)
    if base is model:
        return None
    others = [module for module in model.children() if module is not base]
    return others[0] if len(others) == 1 else None


def logits_at(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits ``[batch, vocab]`` at one position per row (the head runs on those positions only)."""
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    head = masked_lm_head(model)
    if head is None:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, positions]
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
    return head(hidden[rows, positions])


def target_log_probs(
    model: nn.Module, queries: Sequence[MaskedQuery], pad_token_id: int, batch_size: int = 64
) -> list[list[float]]:
    """log P(target | sequence) at each query's position, one list per query (same order as ``targets``).

    ``model`` is a Hugging Face masked LM (``model(input_ids=..., attention_mask=...).logits`` of
    shape ``[batch, length, vocab]``); log-probabilities are a float32 log-softmax over the vocabulary.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    answers: list[list[float]] = [[] for _ in queries]
    order = sorted(range(len(queries)), key=lambda i: len(queries[i].input_ids))
    device = model_device(model)
    with evaluation_mode(model):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(queries[i].input_ids) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids = queries[i].input_ids
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention_mask[row, : len(ids)] = 1
            positions = torch.tensor([queries[i].position for i in chunk], device=device)
            logits = logits_at(model, input_ids.to(device), attention_mask.to(device), positions)
            log_probs = logits.float().log_softmax(dim=-1).cpu()
            for row, i in enumerate(chunk):
                answers[i] = [float(log_probs[row, t]) for t in queries[i].targets]
    return answers
