"""``--ckpt_path <file>`` and the model settings: an explicit setting the checkpoint contradicts is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, run_cli

from lightning_bias.commands.lightning_cli import run_fit_cli
from lightning_bias.training.checkpoint_hparams import explicit_conflicts, flatten_settings

TINY = ["--config", str(REPO_ROOT / "configs" / "tiny.yaml"), "--data.synthetic_bios.num_examples", "200",
        "--trainer.max_epochs", "1"]


@pytest.fixture(scope="module")
def hidden_32_checkpoint(tmp_path_factory) -> Path:
    """``last.ckpt`` of a tiny fit (hidden size 32, weight decay 0.05 given explicitly)."""
    root = tmp_path_factory.mktemp("hidden32")
    run_fit_cli(["fit", *TINY, "--model.weight_decay", "0.05", f"--trainer.default_root_dir={root}"])
    return root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def test_an_explicit_setting_the_checkpoint_contradicts_is_one_line_naming_both_values(
    hidden_32_checkpoint, tmp_path, capsys
):
    code, err = run_cli(["fit", *TINY, "--model.model_config.hidden_size", "64", f"--trainer.default_root_dir={tmp_path}",
                         "--ckpt_path", str(hidden_32_checkpoint)], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("lightning_bias: error:")]
    assert len(message) == 1, err
    for needle in ("model.model_config.hidden_size is 64", "32 in the checkpoint", "drop this setting",
                   "without --ckpt_path", str(hidden_32_checkpoint)):
        assert needle in message[0], message[0]
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing trained


def test_without_a_conflict_the_run_resumes_and_unset_settings_come_from_the_checkpoint(
    hidden_32_checkpoint, tmp_path
):
    cli = run_fit_cli(["fit", *TINY, "--trainer.max_epochs", "2", f"--trainer.default_root_dir={tmp_path}",
                       "--ckpt_path", str(hidden_32_checkpoint)])
    assert cli.model.hparams.weight_decay == 0.05  # not given here: the checkpoint's, as before
    assert cli.model.hparams.model_config["hidden_size"] == 32
    first = torch.load(hidden_32_checkpoint, weights_only=False)
    resumed = torch.load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1 and resumed["global_step"] == 2 * first["global_step"]


def test_only_explicit_settings_that_changed_are_conflicts():
    defaults = flatten_settings({"learning_rate": 5e-5, "model_config": None, "weight_decay": 0.01}, "model")
    given = flatten_settings({"learning_rate": 1e-2, "model_config": {"hidden_size": 64, "extra": 1},
                              "weight_decay": 0.01}, "model")
    restored = flatten_settings({"learning_rate": 1e-2, "model_config": {"hidden_size": 32}, "weight_decay": 0.3},
                                "model")
    # weight_decay was at its default: the checkpoint's value is taken; the same learning rate is no conflict
    assert explicit_conflicts(given, restored, defaults) == ["model.model_config.extra", "model.model_config.hidden_size"]
