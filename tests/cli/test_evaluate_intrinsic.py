"""``lightning_bias evaluate-intrinsic``: scores of a saved masked LM, its options taken from ``evaluate_intrinsic``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from conftest import TINY_MODEL_CONFIG, run_cli
from transformers import AutoModelForMaskedLM, GPT2Config

from lightning_bias.commands.evaluate_intrinsic import evaluate_intrinsic
from lightning_bias.intrinsic import log_probability_bias
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
    with pytest.warns(UserWarning, match="cls.predictions"), pytest.raises(ValueError, match="no trained masked-LM head"):
        evaluate_intrinsic("minilm", batch_size=8)
