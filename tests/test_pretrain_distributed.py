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
