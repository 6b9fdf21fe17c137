"""Does a checkpoint belong to this model? A clear answer before PyTorch's ``load_state_dict`` error.

Resuming or evaluating with ``--ckpt_path`` from another run (a model with another size, or data
with another number of labels) otherwise ends in a ``RuntimeError`` traceback from deep inside
Lightning. ``check_checkpoint_compatible`` compares the checkpoint's weights, name by name and
shape by shape, with the model about to receive them and raises one ``ValueError`` that names the
checkpoint and the first differences.

It is meant for ``LightningModule.on_load_checkpoint``, which Lightning calls with the loaded
checkpoint right before it loads the weights. DeepSpeed checkpoints (directories) reach that hook
without weights (DeepSpeed loads its own shards) and are left to DeepSpeed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

MAX_LISTED = 3


def _shape(tensor: Any) -> tuple[int, ...] | None:
    """A tensor's full shape; for a ZeRO-3 partitioned parameter, the shape before partitioning."""
    shape = getattr(tensor, "ds_shape", None)
    if shape is None and isinstance(tensor, torch.Tensor):
        shape = tensor.shape
    return tuple(shape) if shape is not None else None


def checkpoint_mismatches(expected: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """Differences between the model's state (``expected``) and a checkpoint's (``saved``), as sentences.

    Args:
        expected: the model's ``state_dict()`` (or its named parameters and buffers).
        saved: the checkpoint's ``"state_dict"``.

    Returns:
        e.g. ``["'net.classifier.weight' has shape (16, 32) in the checkpoint but (2, 32) in this model",
        "'net.pooler.dense.weight' is missing from the checkpoint"]``; empty when they match.
    """
    differences = []
    for name, tensor in expected.items():
        if name not in saved:
            differences.append(f"{name!r} is missing from the checkpoint")
            continue
        mine, theirs = _shape(tensor), _shape(saved[name])
        if mine is not None and theirs is not None and mine != theirs:
            differences.append(f"{name!r} has shape {theirs} in the checkpoint but {mine} in this model")
    differences.extend(f"{name!r} is in the checkpoint but not in this model" for name in saved if name not in expected)
    return differences


def check_checkpoint_compatible(
    model: torch.nn.Module, checkpoint: Mapping[str, Any], ckpt_path: str | Path | None, strict: bool = True
) -> None:
    """Raise ``ValueError`` naming ``ckpt_path`` when ``checkpoint``'s weights do not fit ``model``.

    Args:
        model: the module about to load the weights (a LightningModule, after ``configure_model``).
        checkpoint: the loaded checkpoint dict; without a ``"state_dict"`` entry (DeepSpeed) nothing is checked.
        ckpt_path: where the checkpoint came from, for the message.
        strict: ``False`` tolerates missing and unexpected names (shapes must still agree).
    """
    saved = checkpoint.get("state_dict")
    if not isinstance(saved, Mapping):
        return
    differences = checkpoint_mismatches(model.state_dict(keep_vars=True), saved)
    if not strict:
        differences = [d for d in differences if "has shape" in d]
    if not differences:
        return
    listed = "; ".join(differences[:MAX_LISTED])
    more = f" (and {len(differences) - MAX_LISTED} more)" if len(differences) > MAX_LISTED else ""
    raise ValueError(
        f"checkpoint {ckpt_path} does not fit this model: {listed}{more}. It was saved by another model or for "
        "data with other labels; use the config and data it was trained with, or leave out --ckpt_path"
    )
