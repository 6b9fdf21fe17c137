"""Run artifacts: atomic file and directory writes, strict JSON, the run directory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger

from lightning_bias.reports.artifacts import (
    atomic_directory,
    atomic_write_text,
    json_safe,
    run_dir,
    write_json_atomic,
)


def test_atomic_directory_replaces_or_keeps(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert (target / "a.txt").read_text() == "first"
    with atomic_directory(target) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = atomic_write_text(tmp_path / "sub" / "report.json", "old\n")
    assert path.read_text() == "old\n"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]  # no temporary left behind


def test_json_safe_gives_strict_json(tmp_path):
    value = {"nan": math.nan, "inf": -math.inf, 1: (1, 2), "np": np.float32(0.5), "t": torch.tensor(3),
             "path": tmp_path, "set": {4}}
    safe = json_safe(value)
    assert safe == {"nan": None, "inf": None, "1": [1, 2], "np": 0.5, "t": 3, "path": str(tmp_path), "set": [4]}
    path = write_json_atomic(tmp_path / "x.json", value)
    assert json.loads(path.read_text()) == safe


def test_run_dir_is_the_csv_loggers_version_dir(tmp_path):
    csv = CSVLogger(tmp_path, name="lightning_logs")
    with_csv = pl.Trainer(default_root_dir=tmp_path, logger=[csv], enable_checkpointing=False)
    assert run_dir(with_csv) == tmp_path / "lightning_logs" / "version_0"
    without = pl.Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False)
    assert run_dir(without) == tmp_path
