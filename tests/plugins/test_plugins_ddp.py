"""Resampling under 2-process DDP and 2-process DeepSpeed ZeRO-2 on CPU: every rank trains on a disjoint
shard of one shared epoch draw, and the epoch as a whole has exactly the undersampled (label, group) counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import datasets
import numpy as np
import pytest
from conftest import REPO_ROOT
from lightning_bias_plugins.downstream.resampling import Resampling, cell_targets

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
RESAMPLING = str(REPO_ROOT / "configs" / "mitigations" / "resampling.yaml")
STRATEGIES = {
    "ddp": ["--trainer.strategy=ddp"],
    "deepspeed_cpu_zero2": ["--config", str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero2.yaml")],
}


@pytest.mark.multiprocess
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_distributed_resampling_shards_are_disjoint_and_the_epoch_is_balanced(tmp_path, strategy):
    probe = tmp_path / "probe"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
               HF_HUB_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "lightning_bias", "fit", "--config", TINY, "--config", RESAMPLING,
        *STRATEGIES[strategy], "--trainer.devices=2", "--trainer.max_epochs=2",
        "--data.synthetic_bios.num_examples=400", "--model.export_hf=false", "--trainer.enable_checkpointing=false",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.callbacks+=plugin_probe.EpochIndexRecorder", f"--trainer.callbacks.out_dir={probe}",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["train_labels"] == ranks[1]["train_labels"] and ranks[0]["train_groups"] == ranks[1]["train_groups"]
    labels, groups = np.asarray(ranks[0]["train_labels"]), np.asarray(ranks[0]["train_groups"])
    table = datasets.Dataset.from_dict({"text": [""] * len(labels), "label": labels, "group": groups})
    counts = np.zeros((labels.max() + 1, groups.max() + 1), dtype=np.int64)
    np.add.at(counts, (labels, groups), 1)
    targets = cell_targets(counts, "undersample")
    expected_cells = {(y, g): int(t) for (y, g), t in np.ndenumerate(targets) if t}
    reference = Resampling("undersample").sampler(table, num_replicas=2, rank=0, seed=0)
    draws = []
    for epoch in range(2):
        shards = [r["epochs"][epoch]["indices"] for r in ranks]
        assert len(shards[0]) == len(shards[1])  # same number of steps on both ranks
        for rank, shard in zip(ranks, shards, strict=True):  # the training steps got exactly these rows
            assert rank["epochs"][epoch]["seen"] == [[int(labels[i]), int(groups[i])] for i in shard]
        # disjoint positions of one global draw that both ranks computed without communicating
        interleaved = [index for pair in zip(*shards, strict=True) for index in pair]
        reference.set_epoch(epoch)
        assert interleaved == reference.global_draw().tolist()
        distinct = set(interleaved)
        padding = len(interleaved) - int(targets.sum())
        assert 0 <= padding < 2 and len(distinct) == targets.sum()
        assert len(set(shards[0]) & set(shards[1])) <= padding
        # the epoch as a whole: exactly the undersampled count in every (label, group) cell
        drawn = Counter((int(labels[i]), int(groups[i])) for i in distinct)
        assert drawn == expected_cells
        draws.append(interleaved)
    assert draws[0] != draws[1]
