"""Markdown of intrinsic results: head-free tables, probe readings flagged above the masked-LM numbers, seeds."""

from __future__ import annotations

from lightning_bias.intrinsic.seed_variation import combine
from lightning_bias.intrinsic.suite import HEAD_NOTES
from lightning_bias.reports.intrinsic_markdown import intrinsic_markdown, seed_interval_markdown

RESULT = {
    "association_test": {"gender_terms_occupations": {
        "effect_size": 1.23, "effect_size_ci95": [1.0, 1.5], "p_value": 0.0001, "targets": [10, 10],
        "attributes": [7, 5], "frames": 8}},
    "gender_probe": {"accuracy": 0.82, "accuracy_ci95": [0.71, 0.92], "contexts": 4480, "folds": 4, "occupations": 16,
                     "alignment": {"pearson_r": 0.44, "pearson_r_ci95": [-0.07, 0.77], "p_value": 0.086,
                                   "occupations": 16}},
    "log_probability_bias": {"mean": 0.06, "mean_ci95": [0.03, 0.09], "num_templates": 14, "num_occupations": 16},
}


def test_probe_readings_are_flagged_and_head_free_numbers_shown():
    probe = "\n".join(intrinsic_markdown({**RESULT, "masked_lm_head": {"readings": "probe",
                                                                         "note": HEAD_NOTES["calibrated"]}}))
    assert "| gender_terms_occupations | +1.230 | [1.000, 1.500] | 0.0001 | 10 vs 10 | 7 vs 5 | 8 |" in probe
    assert "held-out accuracy 0.820 [0.710, 0.920] over 4480 contexts" in probe
    assert "Pearson r +0.440 [-0.070, 0.770]" in probe and "n = 16 occupations" in probe
    assert "Masked-LM measures — PROBE READINGS" in probe and f"**{HEAD_NOTES['calibrated']}**" in probe
    assert probe.index("Association tests") < probe.index("log-probability bias: mean +0.060 [0.030, 0.090]")
    own = "\n".join(intrinsic_markdown({**RESULT, "masked_lm_head": {"readings": "model", "note": HEAD_NOTES["own"]}}))
    assert "PROBE READINGS" not in own and "**Masked-LM measures**" in own
    assert intrinsic_markdown(None) == []


def test_seed_interval_table():
    lines = seed_interval_markdown({"gender_probe/accuracy": combine([0.8, 0.84], [[0.7, 0.9], [0.74, 0.94]])})
    assert lines[2].startswith("| gender_probe/accuracy | +0.820 | [") and lines[2].endswith("| 2 | 0.028 | 0.051 |")
