"""A fit with a WandbLogger sends each split's bias report to the run: summary values, the per-group table and the
figures; checked in the offline run directory."""

from __future__ import annotations

import pytest
from conftest import REPO_ROOT

from lightning_bias.commands import main

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")


def test_an_offline_run_holds_the_bias_tables_and_figures(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    config = tmp_path / "wandb.yaml"
    config.write_text("trainer:\n  logger:\n    class_path: pytorch_lightning.loggers.WandbLogger\n"
                      "    init_args: {project: lightning_bias_test, offline: true}\n")
    try:
        main(["fit", "--config", TINY, "--config", str(config), "--data.synthetic_bios.num_examples=200",
              "--trainer.max_epochs=1", "--model.export_hf=false", f"--trainer.default_root_dir={tmp_path}"])
        summary = dict(wandb.run.summary)
    finally:
        wandb.finish()
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    for split in ("val", "test"):
        assert len(list((media / "table" / "bias_report" / split).glob("by_group_*.table.json"))) == 1
        images = sorted(p.name.rsplit("_", 2)[0] for p in (media / "images" / "bias_report" / split).glob("*.png"))
        assert images == ["group_rates", "tpr_gap_vs_train_share"]
        assert 0 <= summary[f"bias_report/{split}/overall.accuracy"] <= 1
        assert f"bias_report/{split}/gaps.tpr_gap_rms_corrected" in summary
    assert b"bias_report/val/overall.accuracy" in next(run.glob("run-*.wandb")).read_bytes()  # in the offline log
