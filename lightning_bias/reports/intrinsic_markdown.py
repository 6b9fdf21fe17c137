"""Markdown of intrinsic bias results (``measure_intrinsic_bias`` output), shared by ``pretrain`` and ``evaluate-intrinsic``.

Head-free measures come first; masked-LM measures follow under a heading that says what they read
(the model's own head, or a probe), and the head's note is repeated in bold above them, so a probe
reading cannot be quoted as the model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _interval(values: Any) -> str:
    return f"[{values[0]:.3f}, {values[1]:.3f}]" if values else "(no interval)"


def _head_free_lines(result: Mapping[str, Any]) -> list[str]:
    lines = []
    tests = result.get("association_test") or {}
    if tests:
        lines += [
            "**Association tests** (SEAT-style, sentence embeddings; d > 0: first targets closer to first attributes; "
            "95% interval resampling words and frames; p one-sided, permuting target words)",
            "",
            "| test | effect size d | 95% interval | p | targets | attributes | frames |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, test in tests.items():
            lines.append(
                f"| {name} | {test['effect_size']:+.3f} | {_interval(test['effect_size_ci95'])} | {test['p_value']:.4f} "
                f"| {test['targets'][0]} vs {test['targets'][1]} | {test['attributes'][0]} vs {test['attributes'][1]} "
                f"| {test['frames']} |"
            )
        lines.append("")
    probe = result.get("gender_probe")
    if probe:
        lines.append(
            f"**Gender probe** (occupation-word contexts): held-out accuracy {probe['accuracy']:.3f} "
            f"{_interval(probe['accuracy_ci95'])} over {probe['contexts']} contexts, {probe['folds']} folds over "
            f"{probe['occupations']} occupations (interval resampling occupations)."
        )
        alignment = probe.get("alignment")
        if alignment:
            lines.append(
                f"Occupation-gender alignment: Pearson r {alignment['pearson_r']:+.3f} "
                f"{_interval(alignment.get('pearson_r_ci95'))} with the occupations' share of men, permutation "
                f"p {alignment['p_value']:.4f}, n = {alignment['occupations']} occupations."
            )
        lines.append("")
    return lines


def _masked_lm_lines(result: Mapping[str, Any]) -> list[str]:
    head = result.get("masked_lm_head") or {"readings": "model", "note": ""}
    lines = []
    if "log_probability_bias" in result:
        score = result["log_probability_bias"]
        lines.append(
            f"- log-probability bias: mean {score['mean']:+.3f} {_interval(score.get('mean_ci95'))} "
            f"({score['num_templates']} templates x {score['num_occupations']} occupations)"
        )
    if "crows_pairs" in result:
        score = result["crows_pairs"]
        lines.append(f"- CrowS-Pairs metric score {score['metric_score']:.2f} ({score['num_pairs']} pairs)")
    if "stereoset" in result:
        score = result["stereoset"]
        lines.append(f"- StereoSet SS {score['ss']:.2f}, LMS {score['lms']:.2f}, ICAT {score['icat']:.2f}")
    if not lines:
        return []
    title = "**Masked-LM measures — PROBE READINGS**" if head["readings"] != "model" else "**Masked-LM measures**"
    return [title, "", f"**{head['note']}**", "", *lines, ""]


def intrinsic_markdown(result: Mapping[str, Any] | None) -> list[str]:
    """Markdown lines of one ``measure_intrinsic_bias`` result (empty when there is none)."""
    if not result:
        return []
    return _head_free_lines(result) + _masked_lm_lines(result)


def seed_interval_markdown(across_seeds: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A table of ``interval_over_seeds`` output: each headline number over seeds with its combined interval."""
    lines = [
        "| number | mean over seeds | 95% interval (seeds + probe set) | seeds | between-seed sd | within-run sd |",
        "|---|---|---|---|---|---|",
    ]
    for key, value in across_seeds.items():
        between = "-" if value["between_seed_sd"] is None else f"{value['between_seed_sd']:.3f}"
        lines.append(
            f"| {key} | {value['mean']:+.3f} | {_interval(value['ci95'])} | {value['seeds']} | {between} "
            f"| {value['within_run_sd']:.3f} |"
        )
    return lines
