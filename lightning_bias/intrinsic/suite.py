"""Which intrinsic bias measures to run, and running them on one model: ``measure_intrinsic_bias``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn
from transformers import PreTrainedTokenizerBase

from lightning_bias.intrinsic.crows_pairs import crows_pairs_score, load_crows_pairs
from lightning_bias.intrinsic.log_probability_bias import log_probability_bias
from lightning_bias.intrinsic.stereoset import load_stereoset_intrasentence, stereoset_intrasentence_score
from lightning_bias.intrinsic.templates import ATTRIBUTE_WORDS


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

    def validate(self) -> None:
        """Read the probe files once, so a bad path or column fails before training starts."""
        if self.crows_pairs is not None:
            load_crows_pairs(self.crows_pairs, self.bias_type, self.max_pairs)
        if self.stereoset is not None:
            load_stereoset_intrasentence(self.stereoset, self.bias_type, self.max_pairs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_intrinsic_bias(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, options: IntrinsicBiasOptions
) -> dict[str, Any]:
    """Run the selected measures on a Hugging Face masked LM.

    Returns ``{"log_probability_bias": {...}, "crows_pairs": {...}, "stereoset": {...}}`` with only
    the measures selected (see each module for the keys). Every process that calls it computes the
    full result (the probe sets are small), so under DDP or DeepSpeed ZeRO-3 all ranks must call it.
    """
    result: dict[str, Any] = {}
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
    return result


def headline_numbers(result: dict[str, Any]) -> dict[str, float]:
    """The scalar summary of a ``measure_intrinsic_bias`` result, flat (for loggers and comparisons)."""
    keys = {
        "log_probability_bias": ("mean", "mean_abs", "male_leaning_share"),
        "crows_pairs": ("metric_score", "stereo_score", "antistereo_score"),
        "stereoset": ("ss", "lms", "icat"),
    }
    return {
        f"{measure}/{key}": float(result[measure][key])
        for measure, names in keys.items()
        if measure in result
        for key in names
    }
