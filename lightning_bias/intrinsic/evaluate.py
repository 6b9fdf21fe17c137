"""``evaluate_intrinsic``: the intrinsic bias of a saved masked LM (what ``lightning_bias evaluate-intrinsic`` calls)."""

from __future__ import annotations

from typing import Any

import torch

from lightning_bias.intrinsic.suite import IntrinsicBiasOptions, measure_intrinsic_bias


def evaluate_intrinsic(
    model: str,
    crows_pairs: str | None = None,
    stereoset: str | None = None,
    bias_type: str | None = None,
    max_pairs: int | None = None,
    batch_size: int = 64,
    log_probability: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Measure the intrinsic bias of a masked LM given by hub name, local checkpoint dir or ``"minilm"``.

    The checkpoint needs a tokenizer and a *trained* masked-LM head: a checkpoint without one (an
    encoder-only export, a classifier) raises ``ValueError`` — its scores would reflect a randomly
    initialised head; pre-train it first (``lightning_bias pretrain``) and evaluate the
    ``hf_checkpoint`` it writes. Returns ``{"model", "measures": measure_intrinsic_bias(...),
    "summary": flat headline numbers}``. ``device`` defaults to CUDA when available.
    """
    from lightning_bias.intrinsic.suite import headline_numbers
    from lightning_bias.models.masked_lm import load_checkpoint_tokenizer, load_masked_lm

    tokenizer = load_checkpoint_tokenizer(model)
    loaded = load_masked_lm(model, vocab_size=len(tokenizer))
    if loaded.initialised_keys:
        raise ValueError(
            f"model {model!r} has no trained masked-LM head (missing from the checkpoint: "
            f"{', '.join(loaded.initialised_keys)}); intrinsic bias scores of a randomly initialised head are "
            "meaningless. Pre-train it first (lightning_bias pretrain) and evaluate the hf_checkpoint it writes"
        )
    options = IntrinsicBiasOptions(
        log_probability=log_probability, crows_pairs=crows_pairs, stereoset=stereoset, bias_type=bias_type,
        max_pairs=max_pairs, batch_size=batch_size,
    )
    options.validate()
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    network = loaded.model.to(target)
    measures = measure_intrinsic_bias(network, tokenizer, options)
    return {"model": model, "options": options.to_dict(), "measures": measures, "summary": headline_numbers(measures)}
