"""The optimiser both training modules use: AdamW without decay on biases and norm weights, fused where supported."""

from __future__ import annotations

import torch


def fused_adamw_supported(device: torch.device) -> bool:
    """The fused AdamW kernel (several times faster on small models) exists for CPU and CUDA tensors."""
    return device.type in ("cpu", "cuda")


def adamw(
    module: torch.nn.Module, learning_rate: float, weight_decay: float, device: torch.device, eps: float = 1e-8
) -> torch.optim.AdamW:
    """AdamW over ``module``'s trainable parameters: weight decay on matrices only, not on biases and norms.

    The shape test uses ``ds_shape`` when present, because DeepSpeed ZeRO-3 has flattened the parameters
    by the time Lightning asks for the optimiser.
    """
    decay, no_decay = [], []
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        ndim = len(getattr(parameter, "ds_shape", parameter.shape))
        (no_decay if ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        [group for group in groups if group["params"]], lr=learning_rate, eps=eps, fused=fused_adamw_supported(device)
    )
