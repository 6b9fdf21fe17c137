"""``lightning_bias evaluate-intrinsic``: scores of a saved masked LM, its options taken from ``evaluate_intrinsic``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from conftest import TINY_MODEL_CONFIG, run_cli
from transformers import AutoModel, AutoModelForMaskedLM, GPT2Config

from lightning_bias.commands.evaluate_intrinsic import evaluate_intrinsic
from lightning_bias.intrinsic import log_probability_bias
from lightning_bias.intrinsic.seed_variation import combine
from lightning_bias.models.head_calibration import HeadCalibration
from lightning_bias.models.pretrained import build_config, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(1234)
    return AutoModelForMaskedLM.from_config(build_config(TINY_MODEL_CONFIG, initializer_range=1.0)).eval()


def _save_checkpoint(model, directory, tokenizer=None) -> str:
    model.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return str(directory)


def _crows(path) -> str:
    pd.DataFrame([("The nurse said she was late.", "The nurse said he was late.", "stereo", "gender")],
                 columns=["sent_more", "sent_less", "stereo_antistereo", "bias_type"]).to_csv(path)
    return str(path)


def test_evaluate_intrinsic_on_a_saved_masked_lm(tmp_path, tokenizer, tiny_model):
    path = _save_checkpoint(tiny_model, tmp_path / "mlm", tokenizer)
    result = evaluate_intrinsic(path, crows_pairs=_crows(tmp_path / "pairs.csv"), bias_type="gender", batch_size=16)
    expected = log_probability_bias(tiny_model, tokenizer, batch_size=256)["mean"]
    assert result["summary"]["log_probability_bias/mean"] == pytest.approx(expected, abs=1e-5)
    assert result["measures"]["crows_pairs"]["num_pairs"] == 1


def test_the_verb_prints_and_writes_the_same_result(tmp_path, tokenizer, tiny_model, capsys):
    path = _save_checkpoint(tiny_model, tmp_path / "mlm", tokenizer)
    output = tmp_path / "out" / "intrinsic.json"
    code, _ = run_cli(["evaluate-intrinsic", "--model", path, "--crows_pairs", _crows(tmp_path / "pairs.csv"),
                       "--batch_size", "16", "--head_calibration.batches", "3", "--output", str(output)], capsys)
    assert code == 0
    written = json.loads(output.read_text())
    assert written["measures"]["crows_pairs"]["num_pairs"] == 1
    assert written["options"]["batch_size"] == 16
    code, err = run_cli(["evaluate-intrinsic", "--model", str(tmp_path / "missing")], capsys)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 2


def test_evaluate_intrinsic_input_errors(tmp_path, tokenizer, tiny_model):
    with pytest.raises(ValueError, match="tokenizer"):
        evaluate_intrinsic(_save_checkpoint(tiny_model, tmp_path / "no_tokenizer"), batch_size=8)
    gpt2_dir = tmp_path / "gpt2"
    gpt2_dir.mkdir()
    GPT2Config(n_layer=1, n_embd=32, n_head=2).save_pretrained(gpt2_dir)
    load_tokenizer("minilm").save_pretrained(gpt2_dir)
    with pytest.raises(ValueError, match="not a masked language model"):
        evaluate_intrinsic(str(gpt2_dir), batch_size=8)
    with pytest.raises(ValueError, match="head_calibration.max_epochs must be >= 1"):
        evaluate_intrinsic(_save_checkpoint(tiny_model, tmp_path / "mlm", tokenizer),
                           head_calibration=HeadCalibration(max_epochs=0))
    headless = _headless_checkpoint(tmp_path / "headless", tokenizer)
    for asked in ({"crows_pairs": _crows(tmp_path / "pairs.csv")}, {"log_probability": True}):
        with pytest.warns(UserWarning, match="cls.predictions"), pytest.raises(ValueError, match="no trained masked-LM head"):
            evaluate_intrinsic(headless, batch_size=8, **asked)
    with pytest.raises(ValueError, match="empty list of models"):
        evaluate_intrinsic([])


def _headless_checkpoint(directory, tokenizer, seed: int = 0) -> str:
    """A bare encoder (no masked-LM head), like the packaged MiniLM sentence encoder."""
    torch.manual_seed(seed)
    return _save_checkpoint(AutoModel.from_config(build_config(dict(TINY_MODEL_CONFIG))), directory, tokenizer)


def test_a_headless_encoder_gets_the_head_free_measures_only(tmp_path, tokenizer):
    with pytest.warns(UserWarning, match="cls.predictions"):
        result = evaluate_intrinsic(_headless_checkpoint(tmp_path / "enc", tokenizer), batch_size=32,
                                    output=str(tmp_path / "out.json"))
    assert result["masked_lm_head"]["origin"] == "absent" and "were not run" in result["masked_lm_head"]["note"]
    assert set(result["measures"]) == {"masked_lm_head", "association_test", "gender_probe"}
    assert "gender_probe/accuracy" in result["summary"] and result["options"]["log_probability"] is False
    markdown = (tmp_path / "out.md").read_text()
    assert "Association tests" in markdown and "Masked-LM measures" not in markdown


def test_several_seeds_give_intervals_over_seeds(tmp_path, tokenizer, capsys):
    seeds = [_headless_checkpoint(tmp_path / f"seed{seed}", tokenizer, seed) for seed in range(3)]
    output = tmp_path / "seeds.json"
    with pytest.warns(UserWarning, match="cls.predictions"):
        code, _ = run_cli(["evaluate-intrinsic", "--model", f"[{', '.join(seeds)}]", "--batch_size", "32",
                           "--output", str(output)], capsys)
    assert code == 0
    written = json.loads(output.read_text())
    assert written["models"] == seeds and len(written["runs"]) == 3
    for key, interval_key in (("gender_probe/accuracy", ("gender_probe", "accuracy_ci95")),
                              ("association_test/gender_terms_occupations/effect_size",
                               ("association_test", "gender_terms_occupations", "effect_size_ci95"))):
        values = [run["summary"][key] for run in written["runs"]]
        intervals = []
        for run in written["runs"]:
            found = run["measures"]
            for part in interval_key:
                found = found[part]
            intervals.append(found)
        assert written["across_seeds"][key] == combine(values, intervals)
        assert written["across_seeds"][key]["seeds"] == 3 and written["across_seeds"][key]["between_seed_sd"] > 0
    assert "## Over seeds" in (tmp_path / "seeds.md").read_text()
