"""``last.ckpt`` holds the step training ended at, also when that is no multiple of ``every_n_train_steps``."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import REPO_ROOT, run_cli
from linear_regression import LinearRegression, random_loader
from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_bias.training.last_checkpoint_at_end import LastCheckpointAtTrainEnd

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
CPU_ZERO2 = str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero2.yaml")


def _steps_in_last_ckpt(dirpath: Path, *callbacks: pl.Callback, **trainer_options) -> int:
    """Fit 2 epochs of 11 steps (22 in all) and return the global step saved in ``dirpath/last.ckpt``."""
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, callbacks=list(callbacks), logger=False,
                         enable_model_summary=False, enable_progress_bar=False, num_sanity_val_steps=0,
                         **trainer_options)
    trainer.fit(LinearRegression(), random_loader(44), random_loader(8))
    return torch.load(dirpath / "last.ckpt", weights_only=False)["global_step"]


def test_lightning_alone_leaves_last_ckpt_at_the_last_multiple(tmp_path):
    # what the callback is for: Lightning's ModelCheckpoint stops at step 21 of 22 (the 525 of 528)
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_last=True)
    assert _steps_in_last_ckpt(tmp_path, saver) == 21


@pytest.mark.parametrize("every", [3, 5, 22, 40])
def test_last_ckpt_holds_the_final_step(tmp_path, every):
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every, save_last=True, save_top_k=-1)
    assert _steps_in_last_ckpt(tmp_path, saver, LastCheckpointAtTrainEnd()) == 22
    periodic = sorted(p.name for p in tmp_path.glob("epoch=*.ckpt"))
    assert len(periodic) == 22 // every  # the periodic checkpoints are Lightning's alone, none added


def test_last_ckpt_holds_the_step_max_steps_stopped_at_mid_epoch(tmp_path):
    # validation twice an epoch: the default callback then saves after validation only, never at train end
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    assert _steps_in_last_ckpt(tmp_path, saver, LastCheckpointAtTrainEnd(), max_steps=16, val_check_interval=0.5) == 16


def test_nothing_written_without_save_last(tmp_path):
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3)
    trainer = pl.Trainer(max_steps=7, accelerator="cpu", devices=1, callbacks=[saver, LastCheckpointAtTrainEnd()],
                         logger=False, enable_model_summary=False, enable_progress_bar=False)
    trainer.fit(LinearRegression(), random_loader(44))
    assert not (tmp_path / "last.ckpt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch=0-step=6.ckpt"]


@pytest.mark.parametrize("strategy", [[], ["--config", CPU_ZERO2, "--trainer.devices=1"]], ids=["single_file", "deepspeed"])
def test_the_cli_writes_the_final_step_with_a_configured_interval(tmp_path, capsys, strategy):
    """280 training rows in batches of 32: 9 steps, a checkpoint every 4."""
    checkpoints = tmp_path / "checkpoints"
    code, err = run_cli(["fit", "--config", TINY, *strategy, f"--trainer.default_root_dir={tmp_path}",
                         "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400",
                         "--trainer.callbacks+=pytorch_lightning.callbacks.ModelCheckpoint",
                         f"--trainer.callbacks.dirpath={checkpoints}", "--trainer.callbacks.every_n_train_steps=4",
                         "--trainer.callbacks.save_last=true"], capsys)
    assert code == 0, err
    last = checkpoints / "last.ckpt"
    if last.is_dir():  # a DeepSpeed checkpoint: the training state sits beside the model shard
        last = next(last.glob("*/*model_states.pt"))
    assert torch.load(last, weights_only=False, map_location="cpu")["global_step"] == 9
