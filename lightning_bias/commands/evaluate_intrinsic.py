"""``lightning_bias evaluate-intrinsic``: the intrinsic bias of a saved encoder or masked LM, without training.

The verb's options are the parameters of ``evaluate_intrinsic`` (read by jsonargparse), so the
command line and the Python call cannot drift apart. Several checkpoints (one configuration trained
with different seeds) give, besides each run's result, every headline number over the seeds with an
interval that combines between-seed and probe-set variance (``intrinsic.seed_variation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.intrinsic.seed_variation import interval_over_seeds
from lightning_bias.intrinsic.suite import IntrinsicBiasOptions, headline_numbers, measure_intrinsic_bias
from lightning_bias.models.head_calibration import HeadCalibration, calibrate_head
from lightning_bias.models.masked_lm import load_masked_lm
from lightning_bias.models.pretrained import load_tokenizer
from lightning_bias.reports.artifacts import atomic_write_text, write_json_atomic
from lightning_bias.reports.intrinsic_markdown import intrinsic_markdown, seed_interval_markdown


def _evaluate_one(
    model: str,
    options: IntrinsicBiasOptions,
    log_probability: bool | None,
    target: torch.device,
    calibration_corpus: str | None,
    settings: HeadCalibration,
) -> dict[str, Any]:
    """One checkpoint: load it, fit a head if it has none and a corpus is given, run the measures."""
    tokenizer = load_tokenizer(model)
    loaded = load_masked_lm(model, vocab_size=len(tokenizer))
    headless = bool(loaded.initialised_keys) and calibration_corpus is None
    if headless and (options.crows_pairs or options.stereoset or log_probability):
        raise ValueError(
            f"model {model!r} has no trained masked-LM head (missing from the checkpoint: "
            f"{', '.join(loaded.initialised_keys)}); masked-LM scores (log-probability bias, CrowS-Pairs, StereoSet) "
            "of a randomly initialised head are meaningless. Drop --log_probability/--crows_pairs/--stereoset (the "
            "head-free measures still run), give --calibration_corpus (general text) to fit a head to the frozen "
            "encoder first (probe readings), or pre-train it (lightning_bias pretrain) and evaluate the hf_checkpoint"
        )
    options = IntrinsicBiasOptions(
        **{**options.to_dict(), "log_probability": not headless if log_probability is None else log_probability}
    )
    network = loaded.model.to(target)
    calibration = None
    head = "absent" if headless else "own"
    if loaded.initialised_keys and not headless:
        corpus = CorpusDataModule(path=calibration_corpus)
        corpus.connect(tokenizer)
        corpus.setup("fit")
        batches = corpus.calibration_dataloader(settings.batch_size, settings.seed)
        calibration = calibrate_head(network, loaded.initialised_keys, batches, settings, target)
        calibration["corpus"] = calibration_corpus
        head = "calibrated"
    measures = measure_intrinsic_bias(network, tokenizer, options, head=head)
    return {
        "model": model,
        "options": options.to_dict(),
        "head_calibration": calibration,
        "masked_lm_head": measures["masked_lm_head"],
        "measures": measures,
        "summary": headline_numbers(measures),
    }


def _markdown(result: dict[str, Any]) -> str:
    runs = result.get("runs", [result])
    lines = ["# Intrinsic bias", ""]
    if "across_seeds" in result:
        lines += ["## Over seeds", "", *seed_interval_markdown(result["across_seeds"]), ""]
    for run in runs:
        lines += [f"## {run['model']}", "", *intrinsic_markdown(run["measures"])]
    return "\n".join(lines).rstrip() + "\n"


def evaluate_intrinsic(
    model: str | list[str],
    crows_pairs: str | None = None,
    stereoset: str | None = None,
    bias_type: str | None = None,
    max_pairs: int | None = None,
    batch_size: int = 64,
    log_probability: bool | None = None,
    association_test: bool = True,
    gender_probe: bool = True,
    seed: int = 0,
    device: str | None = None,
    calibration_corpus: str | None = None,
    head_calibration: HeadCalibration | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """Measure the intrinsic bias of an encoder given by hub name, local checkpoint dir or ``"minilm"``.

    The head-free measures (association tests on sentence embeddings, the gender probe) run on any
    encoder. The masked-LM measures need a masked-LM head: a checkpoint with its own is read through
    it; for one without (MiniLM, an encoder-only export) give ``calibration_corpus`` and a new head is
    fitted to the frozen encoder first (``lightning_bias.models.head_calibration``): its scores are
    then marked as *probe readings* (``masked_lm_head``) in the JSON, the markdown and the printed
    result. Without a calibration corpus such a checkpoint gets the head-free measures only; asking it
    for CrowS-Pairs or StereoSet raises ``ValueError``.

    Args:
        model: hub name, local checkpoint directory (e.g. a pretrain run's hf_checkpoint) or "minilm";
            a list of them (one configuration trained with different seeds) adds ``across_seeds``.
        crows_pairs: CrowS-Pairs CSV to score (pseudo-log-likelihood stereotype score).
        stereoset: StereoSet intrasentence file to score.
        bias_type: only pairs of this bias type (e.g. "gender").
        max_pairs: score at most this many pairs per benchmark.
        batch_size: sequences per forward pass.
        log_probability: the log-probability bias score on occupation templates (default: whenever the
            model has a masked-LM head, its own or a calibrated one).
        association_test: the head-free SEAT-style association tests.
        gender_probe: the head-free linear probe of gender from occupation-word contexts.
        seed: seed of the head-free measures' permutations, bootstraps and probe folds.
        device: where to run (default: CUDA when available, else CPU).
        calibration_corpus: for a model without a masked-LM head: general text on which a new head is
            fitted to the frozen encoder before the masked-LM measures (probe readings).
        head_calibration: how that head is fitted (default: 60 batches, early-stopped on 8 held out).
        output: JSON file to write the result to (atomically); the markdown goes beside it (``.md``).

    Returns:
        One model: ``{"model", "options", "head_calibration", "masked_lm_head", "measures":
        measure_intrinsic_bias(...), "summary": flat headline numbers}``. Several: ``{"models", "runs":
        [one result per model], "across_seeds": {number: {"mean", "ci95", "seeds", "between_seed_sd",
        "within_run_sd", "df"}}}``.
    """
    models = [model] if isinstance(model, str) else list(model)
    if not models:
        raise ValueError("evaluate-intrinsic got an empty list of models; give a checkpoint or a list of them")
    settings = head_calibration or HeadCalibration()
    settings.validate()
    options = IntrinsicBiasOptions(
        crows_pairs=crows_pairs, stereoset=stereoset, bias_type=bias_type, max_pairs=max_pairs,
        batch_size=batch_size, association_test=association_test, gender_probe=gender_probe, seed=seed,
    )
    options.validate()
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    runs = [_evaluate_one(name, options, log_probability, target, calibration_corpus, settings) for name in models]
    if len(runs) == 1:
        result = runs[0]
    else:
        result = {"models": models, "runs": runs,
                  "across_seeds": interval_over_seeds([run["measures"] for run in runs])}
    if output:
        path = write_json_atomic(output, result)
        atomic_write_text(Path(path).with_suffix(".md"), _markdown(result))
    return result
