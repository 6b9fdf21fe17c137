"""ZeRO-2 on 2 CPU processes: every file of a DeepSpeed checkpoint is in its manifest, and a flipped byte
in one optimizer shard is caught before DeepSpeed restores the directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from lightning_bias.training.checkpoint_checksums import MANIFEST_NAME, verify_checkpoint

pytestmark = pytest.mark.multiprocess

ARGS = ["--config", str(REPO_ROOT / "configs" / "tiny.yaml"),
        "--config", str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero2.yaml"), "--trainer.devices", "2",
        "--data.synthetic_bios.num_examples", "200", "--trainer.enable_model_summary=false"]


def fit(root: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "LIGHTNING_BIAS_CACHE": str(root / "cache")}
    return subprocess.run([sys.executable, "-m", "lightning_bias", "fit", *ARGS, f"--trainer.default_root_dir={root}",
                           *extra], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_flipped_byte_in_a_zero2_optimizer_shard_is_caught_before_restore(tmp_path):
    first = fit(tmp_path, "--trainer.max_epochs", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoints = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    last = checkpoints / "last.ckpt"
    listed = [line.split("  ")[1] for line in (last / MANIFEST_NAME).read_text().splitlines()]
    shards = sorted(p.relative_to(last).as_posix() for p in last.rglob("*.pt"))
    assert len(shards) == 3 and set(shards) <= set(listed)  # the model states and both ranks' optimizer shards
    verify_checkpoint(last)

    shard = last / "checkpoint" / "zero_pp_rank_1_mp_rank_00_optim_states.pt"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    resumed = fit(tmp_path, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    output = resumed.stdout + resumed.stderr
    assert "Traceback" not in output and "Restored all states" not in output
    (good,) = checkpoints.glob("epoch=*.ckpt")
    errors = [line for line in output.splitlines() if line.startswith("lightning_bias: error:")]
    assert errors and f"checkpoint {last} is corrupt: {shard} does not match the SHA-256" in errors[0], output[-3000:]
    assert f"--ckpt_path {good}" in errors[0]
