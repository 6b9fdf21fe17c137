"""Writing a trained model as a Hugging Face checkpoint directory (safetensors + tokenizer).

``full_state_dict`` is the one routine that gathers a model's full weights: under DeepSpeed ZeRO-3
every rank holds only a shard of each parameter, so parameters are gathered one at a time (the peak
is one full tensor) — a collective, so every rank must call it. Global rank 0 receives the weights
on CPU and ``export_hf`` writes them through a staging directory swapped into place, so an
interrupted export never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lightning_bias.reports.artifacts import atomic_directory

if TYPE_CHECKING:  # transformers' modeling code (torch.distributed.checkpoint) would add ~0.3 s to every start-up
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _is_zero_stage_3(strategy: Any) -> bool:
    from pytorch_lightning.strategies import DeepSpeedStrategy

    return isinstance(strategy, DeepSpeedStrategy) and strategy.zero_stage_3


def full_state_dict(model: torch.nn.Module, strategy: Any) -> dict[str, torch.Tensor] | None:
    """The full weights on CPU on global rank 0 (``None`` elsewhere); a collective under ZeRO-3.

    Tied parameters appear once, and only persistent buffers are kept.
    """
    writer = strategy.is_global_zero
    zero3 = _is_zero_stage_3(strategy)
    persistent = set(model.state_dict().keys())
    state: dict[str, torch.Tensor] = {}
    for name, parameter in model.named_parameters():
        if zero3:
            import deepspeed

            with deepspeed.zero.GatheredParameters([parameter], modifier_rank=None):
                if writer:
                    state[name] = parameter.detach().cpu().clone()
        elif writer:
            state[name] = parameter.detach().cpu().clone()
    if writer:
        state.update({n: b.detach().cpu().clone() for n, b in model.named_buffers() if n in persistent})
    return state if writer else None


def export_hf(
    strategy: Any,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    directory: str | Path,
    extra_weights: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Save ``model`` (full weights, safetensors) and ``tokenizer`` to ``directory``; call on every rank.

    ``extra_weights`` are added to the saved state (checkpoint weights the training class does not
    hold but a classifier loading the export does, such as BERT's pooler).
    """
    directory = Path(directory)
    state = full_state_dict(model, strategy)
    if state is not None:
        state.update({k: v.detach().cpu().clone() for k, v in (extra_weights or {}).items()})
        with atomic_directory(directory) as staging:
            model.save_pretrained(staging, state_dict=state, safe_serialization=True)
            tokenizer.save_pretrained(staging)
    strategy.barrier("export_hf")
    return directory
