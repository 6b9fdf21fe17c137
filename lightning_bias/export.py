"""Writing a trained model as a Hugging Face checkpoint directory (safetensors + tokenizer).

Under DeepSpeed ZeRO-3 every rank holds only a shard of each parameter; the export gathers
the full weights on every rank (a collective, so every rank must call ``export_hf``) and rank
0 writes them. The directory is written to a temporary sibling and renamed into place, so an
interrupted export never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytorch_lightning as pl
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _gathered_parameters(trainer: pl.Trainer, model: PreTrainedModel) -> contextlib.AbstractContextManager:
    from pytorch_lightning.strategies import DeepSpeedStrategy

    strategy = trainer.strategy
    if isinstance(strategy, DeepSpeedStrategy) and strategy.zero_stage_3:
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None)
    return contextlib.nullcontext()


def export_hf(
    trainer: pl.Trainer, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, directory: str | Path
) -> Path:
    """Save ``model`` (full weights, safetensors) and ``tokenizer`` to ``directory``; call on every rank."""
    directory = Path(directory)
    with _gathered_parameters(trainer, model):
        if trainer.is_global_zero:
            directory.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
            try:
                state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                model.save_pretrained(staging, state_dict=state, safe_serialization=True)
                tokenizer.save_pretrained(staging)
                if directory.exists():
                    old = directory.with_name(f".{directory.name}.old")
                    shutil.rmtree(old, ignore_errors=True)
                    directory.rename(old)
                    staging.rename(directory)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    staging.rename(directory)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    trainer.strategy.barrier("export_hf")
    return directory
