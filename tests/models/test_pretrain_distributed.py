"""`lightning_bias pretrain` under 2-process DeepSpeed ZeRO-2 and ZeRO-3 on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from safetensors.torch import load_file

TINY_PRETRAIN = str(REPO_ROOT / "configs" / "pretrain" / "tiny.yaml")


@pytest.mark.multiprocess
@pytest.mark.parametrize("stage", [2, 3])
def test_pretrain_under_two_process_cpu_deepspeed(tmp_path, stage):
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", LIGHTNING_BIAS_CACHE=str(tmp_path / "cache"))
    strategy = str(REPO_ROOT / "configs" / "strategy" / f"deepspeed_cpu_zero{stage}.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "lightning_bias", "pretrain", "--config", TINY_PRETRAIN, "--config", strategy,
         "--trainer.devices=2", "--trainer.max_steps=6", "--trainer.val_check_interval=3",
         f"--trainer.default_root_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(next((tmp_path / "run").rglob("pretrain_report.json")).read_text())
    assert report["training"]["global_steps"] == 6 and report["training"]["world_size"] == 2
    assert report["intrinsic"]["before"] and report["intrinsic"]["after"]
    checkpoint = next((tmp_path / "run").rglob("hf_checkpoint"))
    weights = load_file(str(checkpoint / "model.safetensors"))
    # the export holds full (gathered) tensors, not ZeRO partitions
    embeddings = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))
    assert tuple(embeddings.shape) == (30522, 32)
    assert (checkpoint / "tokenizer.json").is_file()


@pytest.mark.multiprocess
def test_head_calibration_gives_the_same_before_under_zero3_as_in_one_process(tmp_path):
    """Each rank calibrates the new head on its own; ZeRO-3 then partitions it: "before" must not change."""
    import torch
    from conftest import TINY_MODEL_CONFIG
    from transformers import AutoModel

    from lightning_bias.models.pretrained import build_config, load_tokenizer

    checkpoint = tmp_path / "headless"
    torch.manual_seed(0)
    AutoModel.from_config(build_config(dict(TINY_MODEL_CONFIG))).save_pretrained(checkpoint)
    load_tokenizer("minilm").save_pretrained(checkpoint)
    corpus = tmp_path / "general.txt"
    corpus.write_text("\n".join(["he said the surgeon had finished before noon .",
                                 "she wrote that the nurse would stay for the night ."] * 60) + "\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", LIGHTNING_BIAS_CACHE=str(tmp_path / "cache"))
    common = [sys.executable, "-m", "lightning_bias", "pretrain", "--config", TINY_PRETRAIN,
              "--model.model_config=null", f"--model.model={checkpoint}", f"--data.path={corpus}",
              "--model.head_calibration.batches=4", "--model.head_calibration.validation_batches=1",
              "--model.head_calibration.max_epochs=3", "--model.head_calibration.batch_size=4",
              "--trainer.max_steps=2", "--trainer.val_check_interval=2"]
    reports = {}
    for name, extra in {"single": ["--trainer.devices=1"],
                        "zero3": ["--config", str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero3.yaml"),
                                  "--trainer.devices=2"]}.items():
        proc = subprocess.run([*common, *extra, f"--trainer.default_root_dir={tmp_path / name}"],
                              capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        reports[name] = json.loads(next((tmp_path / name).rglob("pretrain_report.json")).read_text())
    single, zero3 = reports["single"], reports["zero3"]
    assert zero3["training"]["world_size"] == 2
    calibration = single["model"]["head_calibration"]
    assert calibration["steps"] > 0 and calibration["validation_losses"] == zero3["model"]["head_calibration"]["validation_losses"]
    before = single["intrinsic"]["before"]["log_probability_bias"]
    assert zero3["intrinsic"]["before"]["log_probability_bias"]["mean"] == pytest.approx(before["mean"], abs=1e-5)
