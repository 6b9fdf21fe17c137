"""Under DDP every evaluation example is counted exactly once (no padded duplicates)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")


def validate_report(root, devices: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    # 420 examples: 63 validation rows, an odd count that a padding sampler would round up to 64
    args = [sys.executable, "-m", "lightning_bias", "validate", "--config", TINY,
            "--data.synthetic_bios.num_examples=420", f"--trainer.default_root_dir={root}",
            f"--trainer.devices={devices}", "--data.eval_batch_size=16"]
    if devices > 1:
        args.append("--trainer.strategy=ddp")
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(root.rglob("bias_report.json")).read_text())


@pytest.mark.multiprocess
def test_ddp_validation_counts_each_example_once_and_matches_single_process(tmp_path):
    single = validate_report(tmp_path / "single", devices=1)
    ddp = validate_report(tmp_path / "ddp", devices=2)
    assert single["num_examples"] == 63
    assert ddp["num_examples"] == 63
    for report in (single, ddp):
        assert sum(g["n"] for g in report["by_group"].values()) == 63
    assert ddp["by_group"] == single["by_group"]
    assert ddp["gaps"] == single["gaps"]
    assert ddp["overall"] == single["overall"]
