"""A corrupted checkpoint is refused before it is restored: one line, exit code 2, the last good checkpoint named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_cli

from lightning_bias.commands.lightning_cli import run_fit_cli
from lightning_bias.training.checkpoint_checksums import sidecar_of

TINY = ["--config", str(REPO_ROOT / "configs" / "tiny.yaml"), "--data.synthetic_bios.num_examples", "200",
        "--trainer.max_epochs", "1"]


@pytest.fixture(scope="module")
def fitted_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fitted")
    run_fit_cli(["fit", *TINY, f"--trainer.default_root_dir={root}"])
    return root


@pytest.fixture
def corrupted(fitted_root, tmp_path) -> tuple[Path, Path, Path]:
    """A copy of the fitted run whose ``last.ckpt`` has one flipped byte: (root, last.ckpt, the good epoch ckpt)."""
    root = tmp_path / "root"
    shutil.copytree(fitted_root, root)
    checkpoints = root / "lightning_logs" / "version_0" / "checkpoints"
    last = checkpoints / "last.ckpt"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0x01
    last.write_bytes(bytes(data))
    (good,) = checkpoints.glob("epoch=*.ckpt")
    return root, last, good


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("lightning_bias: error:")]
    assert len(message) == 1, err
    return message[0]


def test_every_checkpoint_file_gets_a_sidecar(fitted_root):
    checkpoints = list((fitted_root / "lightning_logs" / "version_0" / "checkpoints").glob("*.ckpt"))
    assert len(checkpoints) == 2 and all(sidecar_of(c).is_file() for c in checkpoints)


def test_resuming_from_a_corrupted_last_is_refused_naming_the_last_good_one(corrupted, capsys):
    root, last, good = corrupted
    code, err = run_cli(["fit", *TINY, "--trainer.max_epochs", "2", f"--trainer.default_root_dir={root}",
                         "--ckpt_path", "last"], capsys)
    message = one_line_error(code, err)
    assert f"checkpoint {last} is corrupt" in message and f"--ckpt_path {good}" in message, message


def test_a_corrupted_file_given_by_path_is_refused_before_its_settings_are_read(corrupted, capsys):
    root, last, good = corrupted
    code, err = run_cli(["fit", *TINY, f"--trainer.default_root_dir={root}", "--ckpt_path", str(last)], capsys)
    message = one_line_error(code, err)
    assert f"checkpoint {last} is corrupt" in message and str(good) in message, message
