"""Which intrinsic bias measures to run, and running them on one model: ``measure_intrinsic_bias``.

Two families of measures:

- *masked-LM measures* (log-probability bias, CrowS-Pairs, StereoSet) read the model's masked-LM
  head. They measure the model only when that head is its own trained head. Through a head fitted
  to a frozen encoder (head calibration, e.g. for the MiniLM sentence encoder, which ships without
  one) they are *probe readings*: a poor head (held-out loss near 6.9 nats, StereoSet LMS near 56)
  cannot tell an unbiased encoder from one that cannot model language. Every result says which
  (``masked_lm_head``), and each masked-LM measure carries its ``reading``;
- *head-free measures* (``association_test``: SEAT-style effect sizes on sentence embeddings;
  ``gender_probe``: a linear probe of gender from occupation-word contexts) read only the encoder's
  hidden states, so they are sound for any encoder, a sentence encoder or a model trained from scratch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.intrinsic.association_test import association_tests
from lightning_bias.intrinsic.crows_pairs import crows_pairs_score, load_crows_pairs
from lightning_bias.intrinsic.gender_probe import gender_probe
from lightning_bias.intrinsic.log_probability_bias import log_probability_bias
from lightning_bias.intrinsic.stereoset import load_stereoset_intrasentence, stereoset_intrasentence_score
from lightning_bias.intrinsic.templates import ATTRIBUTE_WORDS

HeadOrigin = Literal["own", "calibrated", "random", "trained_from_new", "absent"]
HEAD_READINGS: dict[str, str] = {
    "absent": "not measured",
    "own": "model",
    "calibrated": "probe",
    "random": "random head",
    "trained_from_new": "probe",
}
"""What a masked-LM measure reads, by the origin of the head: the model itself, a probe, or noise."""

HEAD_NOTES: dict[str, str] = {
    "absent": (
        "the checkpoint has no masked-LM head and none was fitted, so the masked-LM measures were not run; the "
        "head-free measures (association_test, gender_probe) read the encoder"
    ),
    "own": "masked-LM measures read the checkpoint's own trained masked-LM head",
    "calibrated": (
        "PROBE READINGS: the checkpoint has no masked-LM head of its own; the masked-LM measures read the frozen "
        "encoder through a head fitted to it (head calibration), so they measure encoder + probe, not a language "
        "model; prefer the head-free measures (association_test, gender_probe)"
    ),
    "random": (
        "RANDOM HEAD: the checkpoint has no masked-LM head and none was fitted; the masked-LM measures read random "
        "head weights and mean nothing; only the head-free measures (association_test, gender_probe) are sound"
    ),
    "trained_from_new": (
        "PROBE READINGS: the masked-LM head did not come with the checkpoint; it was added (and fitted, if head "
        "calibration ran) and then trained with the encoder in this run only, so the masked-LM measures read a "
        "briefly trained head; prefer the head-free measures (association_test, gender_probe)"
    ),
}
MASKED_LM_MEASURES = ("log_probability_bias", "crows_pairs", "stereoset")


@dataclass
class IntrinsicBiasOptions:
    """Options of the intrinsic bias measures (all computed in eval mode, without gradients).

    Args:
        log_probability: compute the log-probability bias score on the occupation templates.
        occupations: occupations of that score (default: those of the synthetic bios).
        templates: templates with ``{target}``, ``{article}``, ``{occupation}`` (default: the built-in 14).
        attribute_words: the (male, female) attribute pair, one token each.
        crows_pairs: path of a CrowS-Pairs CSV; ``None`` skips it.
        stereoset: path of a StereoSet intrasentence JSONL/CSV; ``None`` skips it.
        bias_type: keep only this bias type of CrowS-Pairs / StereoSet (e.g. ``"gender"``).
        max_pairs: score only the first pairs / examples (after the bias-type filter).
        batch_size: sequences per forward pass.
        association_test: run the head-free SEAT-style association tests on sentence embeddings.
        gender_probe: run the head-free linear probe of gender from occupation-word contexts.
        seed: seed of the head-free measures' permutations, bootstraps and probe folds.
    """

    log_probability: bool = True
    occupations: list[str] | None = None
    templates: list[str] | None = None
    attribute_words: tuple[str, str] = ATTRIBUTE_WORDS
    crows_pairs: str | None = None
    stereoset: str | None = None
    bias_type: str | None = None
    max_pairs: int | None = None
    batch_size: int = 64
    association_test: bool = True
    gender_probe: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Read the probe files once, so a bad path or column fails before training starts."""
        if self.crows_pairs is not None:
            load_crows_pairs(self.crows_pairs, self.bias_type, self.max_pairs)
        if self.stereoset is not None:
            load_stereoset_intrasentence(self.stereoset, self.bias_type, self.max_pairs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_intrinsic_bias(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, options: IntrinsicBiasOptions, head: HeadOrigin = "own"
) -> dict[str, Any]:
    """Run the selected measures on a Hugging Face masked LM.

    ``head`` says where the masked-LM head came from (``"own"``: the checkpoint's; ``"calibrated"``:
    fitted to the frozen encoder; ``"random"``: newly initialised; ``"trained_from_new"``: new, then
    trained with the encoder in this run; ``"absent"``: none, so the masked-LM measures must be off). Returns ``{"masked_lm_head": {"origin", "readings",
    "note"}, "association_test": {test: {...}}, "gender_probe": {...}, "log_probability_bias": {...},
    "crows_pairs": {...}, "stereoset": {...}}`` with only the measures selected (see each module for
    the keys); each masked-LM measure also has ``"reading"`` (``"model"``, ``"probe"`` or ``"random
    head"``). Every process that calls it computes the full result (the probe sets are small), so
    under DDP or DeepSpeed ZeRO-3 all ranks must call it.
    """
    if head not in HEAD_READINGS:
        raise ValueError(f"head must be one of {sorted(HEAD_READINGS)}, got {head!r}")
    if head == "absent" and (options.log_probability or options.crows_pairs or options.stereoset):
        raise ValueError(
            "the model has no masked-LM head, so the masked-LM measures (log_probability, crows_pairs, stereoset) "
            "cannot run; turn them off or fit a head first (head calibration)"
        )
    result: dict[str, Any] = {
        "masked_lm_head": {"origin": head, "readings": HEAD_READINGS[head], "note": HEAD_NOTES[head]},
    }
    if options.association_test:
        result["association_test"] = association_tests(model, tokenizer, batch_size=options.batch_size, seed=options.seed)
    if options.gender_probe:
        result["gender_probe"] = gender_probe(
            model, tokenizer, options.occupations, options.templates, batch_size=options.batch_size, seed=options.seed
        )
    if options.log_probability:
        result["log_probability_bias"] = log_probability_bias(
            model, tokenizer, options.occupations, options.templates, options.attribute_words, options.batch_size
        )
    if options.crows_pairs is not None:
        pairs = load_crows_pairs(options.crows_pairs, options.bias_type, options.max_pairs)
        result["crows_pairs"] = crows_pairs_score(model, tokenizer, pairs, options.batch_size)
        result["crows_pairs"]["source"] = options.crows_pairs
    if options.stereoset is not None:
        examples = load_stereoset_intrasentence(options.stereoset, options.bias_type, options.max_pairs)
        result["stereoset"] = stereoset_intrasentence_score(model, tokenizer, examples, options.batch_size)
        result["stereoset"]["source"] = options.stereoset
    for measure in MASKED_LM_MEASURES:
        if measure in result:
            result[measure]["reading"] = HEAD_READINGS[head]
    return result


def headline_numbers(result: dict[str, Any]) -> dict[str, float]:
    """The scalar summary of a ``measure_intrinsic_bias`` result, flat (for loggers and comparisons).

    Head-free numbers are ``association_test/<test>/effect_size``, ``gender_probe/accuracy`` and
    ``gender_probe/alignment_r``; the masked-LM ones keep their names (their ``reading`` says whether
    they are probe readings)."""
    keys = {
        "log_probability_bias": ("mean", "mean_abs", "male_leaning_share"),
        "crows_pairs": ("metric_score", "stereo_score", "antistereo_score"),
        "stereoset": ("ss", "lms", "icat"),
    }
    numbers = {
        f"{measure}/{key}": float(result[measure][key])
        for measure, names in keys.items()
        if measure in result
        for key in names
    }
    for name, test in result.get("association_test", {}).items():
        numbers[f"association_test/{name}/effect_size"] = float(test["effect_size"])
    if "gender_probe" in result:
        numbers["gender_probe/accuracy"] = float(result["gender_probe"]["accuracy"])
        alignment = result["gender_probe"]["alignment"]
        if alignment is not None:
            numbers["gender_probe/alignment_r"] = float(alignment["pearson_r"])
    return numbers


def headline_intervals(result: dict[str, Any]) -> dict[str, list[float]]:
    """The 95% intervals a single run gives for its headline numbers (templates, words, frames or
    occupations resampled; see each measure), keyed as in ``headline_numbers``; numbers without one are absent."""
    intervals: dict[str, list[float]] = {}
    if "log_probability_bias" in result:
        intervals["log_probability_bias/mean"] = list(result["log_probability_bias"]["mean_ci95"])
    for name, test in result.get("association_test", {}).items():
        intervals[f"association_test/{name}/effect_size"] = list(test["effect_size_ci95"])
    if "gender_probe" in result:
        intervals["gender_probe/accuracy"] = list(result["gender_probe"]["accuracy_ci95"])
        alignment = result["gender_probe"]["alignment"]
        if alignment is not None and alignment.get("pearson_r_ci95") is not None:
            intervals["gender_probe/alignment_r"] = list(alignment["pearson_r_ci95"])
    return intervals
