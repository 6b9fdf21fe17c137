"""``lightning_bias evaluate-intrinsic``: the intrinsic bias of a saved masked LM, without training.

The verb's options are the parameters of ``evaluate_intrinsic`` (read by jsonargparse), so the
command line and the Python call cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.intrinsic.suite import IntrinsicBiasOptions, headline_numbers, measure_intrinsic_bias
from lightning_bias.models.head_calibration import HeadCalibration, calibrate_head
from lightning_bias.models.masked_lm import load_masked_lm
from lightning_bias.models.pretrained import load_tokenizer
from lightning_bias.reports.artifacts import atomic_write_text


def evaluate_intrinsic(
    model: str,
    crows_pairs: str | None = None,
    stereoset: str | None = None,
    bias_type: str | None = None,
    max_pairs: int | None = None,
    batch_size: int = 64,
    log_probability: bool = True,
    device: str | None = None,
    calibration_corpus: str | None = None,
    head_calibration: HeadCalibration | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """Measure the intrinsic bias of a masked LM given by hub name, local checkpoint dir or ``"minilm"``.

    The checkpoint needs a tokenizer and a masked-LM head. For a checkpoint without a head (MiniLM, an
    encoder-only export) give ``calibration_corpus``: a new head is fitted to the frozen encoder first
    (see ``lightning_bias.models.head_calibration``) and the scores read the encoder through it — a probe,
    not the model's own LM. Without a calibration corpus such a checkpoint raises ``ValueError``: its
    scores would reflect a random head.

    Args:
        model: hub name, local checkpoint directory (e.g. a pretrain run's hf_checkpoint) or "minilm".
        crows_pairs: CrowS-Pairs CSV to score (pseudo-log-likelihood stereotype score).
        stereoset: StereoSet intrasentence file to score.
        bias_type: only pairs of this bias type (e.g. "gender").
        max_pairs: score at most this many pairs per benchmark.
        batch_size: masked queries per forward pass.
        log_probability: compute the log-probability bias score on occupation templates.
        device: where to run (default: CUDA when available, else CPU).
        calibration_corpus: for a model without a masked-LM head: general text on which a new head is
            fitted to the frozen encoder before scoring.
        head_calibration: how that head is fitted (default: 60 batches, early-stopped on 8 held out).
        output: JSON file to write the result to (atomically).

    Returns:
        ``{"model", "options", "head_calibration", "measures": measure_intrinsic_bias(...), "summary": flat
        headline numbers}``.
    """
    tokenizer = load_tokenizer(model)
    loaded = load_masked_lm(model, vocab_size=len(tokenizer))
    if loaded.initialised_keys and calibration_corpus is None:
        raise ValueError(
            f"model {model!r} has no trained masked-LM head (missing from the checkpoint: "
            f"{', '.join(loaded.initialised_keys)}); intrinsic bias scores of a randomly initialised head are "
            "meaningless. Give --calibration_corpus (general text) to fit a head to the frozen encoder first, or "
            "pre-train it (lightning_bias pretrain) and evaluate the hf_checkpoint it writes"
        )
    settings = head_calibration or HeadCalibration()
    settings.validate()
    options = IntrinsicBiasOptions(
        log_probability=log_probability, crows_pairs=crows_pairs, stereoset=stereoset, bias_type=bias_type,
        max_pairs=max_pairs, batch_size=batch_size,
    )
    options.validate()
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    network = loaded.model.to(target)
    calibration = None
    if loaded.initialised_keys:
        corpus = CorpusDataModule(path=calibration_corpus)
        corpus.connect(tokenizer)
        corpus.setup("fit")
        batches = corpus.calibration_dataloader(settings.batch_size, settings.seed)
        calibration = calibrate_head(network, loaded.initialised_keys, batches, settings, target)
        calibration["corpus"] = calibration_corpus
    measures = measure_intrinsic_bias(network, tokenizer, options)
    result = {
        "model": model, "options": options.to_dict(), "head_calibration": calibration, "measures": measures,
        "summary": headline_numbers(measures),
    }
    if output:
        atomic_write_text(output, json.dumps(result, indent=2, default=float) + "\n")
    return result
