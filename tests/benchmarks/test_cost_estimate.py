"""benchmarks/gpu/cost_estimate.py: its arithmetic on a tiny network's two real training steps, the configs it
reads, and its stdout contract (one JSON object, on the last line)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml

BENCHMARKS_GPU = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu"
sys.path.insert(0, str(BENCHMARKS_GPU))

import cost_estimate  # noqa: E402

TINY = {"model_type": "bert", "vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64}


def tiny_config(tmp_path: Path, **data) -> Path:
    path = tmp_path / "tiny_gpu.yaml"
    path.write_text(yaml.safe_dump({"trainer": {"max_epochs": 3}, "model": {"model": "tiny"},
                                    "data": {"batch_size": 4, "max_length": 16, **data}}))
    return path


def test_two_tiny_steps_give_the_stated_flops_epoch_hours_and_gpu_estimate(tmp_path):
    shape = cost_estimate.FitShape("tiny.yaml", "tiny", batch_size=4, max_length=16, epochs=3)
    result = cost_estimate.estimate_cost(TINY, shape, train_examples=10, steps=2, warmup=1)

    # N: every parameter but the word, position and token-type embedding tables (120 + 64 + 2 rows of 32)
    assert result["matmul_parameters"] == result["parameters"] - (120 + 64 + 2) * 32
    dense = 6 * result["matmul_parameters"] * 4 * 16
    attention = 12 * 2 * 16**2 * 32 * 4
    assert result["flops_per_step"] == {"dense": dense, "attention": attention, "total": dense + attention}
    assert result["tokens_per_step"] == 64 and result["timed_steps"] == 2 and result["warmup_steps"] == 1
    assert result["steps_per_epoch"] == math.ceil(10 / 4) == 3
    assert result["cpu_s_per_step"] > 0 and result["wall_s_per_step"] > 0
    assert result["cpu_s_range"][0] <= result["cpu_s_per_step"] <= result["cpu_s_range"][1]
    assert result["cpu_hours_per_epoch"] == pytest.approx(3 * result["cpu_s_per_step"] / 3600)
    assert result["wall_hours_per_epoch"] == pytest.approx(3 * result["wall_s_per_step"] / 3600)

    estimate = result["gpu_estimate"]
    assert estimate["assumed_mfu"] == [0.30, 0.40]
    h100 = estimate["H100 SXM"]
    assert h100["s_per_step"] == pytest.approx([(dense + attention) / (989e12 * m) for m in (0.30, 0.40)])
    assert h100["hours_per_fit"] == pytest.approx([s * 3 * 3 / 3600 for s in h100["s_per_step"]])
    json.dumps(result)  # the script prints it as JSON


def test_the_shipped_gpu_configs_are_read_with_their_batch_length_and_epochs():
    shapes = [cost_estimate.read_fit_shape(cost_estimate.REPO / path) for path in cost_estimate.DEFAULT_CONFIGS]
    assert [(s.model, s.batch_size, s.max_length, s.epochs) for s in shapes] == [
        ("roberta-base", 32, 128, 5), ("bert-base-uncased", 32, 128, 5)]


def test_a_config_without_a_batch_size_or_with_an_unknown_model_is_one_clear_error(tmp_path):
    path = tmp_path / "no_batch.yaml"
    path.write_text(yaml.safe_dump({"trainer": {"max_epochs": 1}, "model": {"model": "roberta-base"},
                                    "data": {"max_length": 128}}))
    with pytest.raises(ValueError, match="needs model.model, data.batch_size.*missing 'batch_size'"):
        cost_estimate.read_fit_shape(path)
    with pytest.raises(ValueError, match="model.model 'tiny' has no sizes here; known: roberta-base"):
        cost_estimate.read_fit_shape(tiny_config(tmp_path))


def test_main_ends_with_its_json_and_no_other_line_starts_with_a_brace(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cost_estimate.HUB_ARCHITECTURES, "tiny", TINY)
    summary = cost_estimate.main(["--configs", str(tiny_config(tmp_path)), "--steps", "2", "--warmup", "1",
                                  "--threads", "1", "--train-examples", "10"])
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1]) == json.loads(json.dumps(summary))
    assert [line for line in lines[:-1] if line.startswith("{")] == []
    assert summary["torch_threads"] == 1 and len(summary["load_average_before"]) == 3
    assert summary["results"][0]["epochs"] == 3
