"""Checkpoints: ``last.ckpt`` by default and written atomically; ``--ckpt_path`` resolved or one clear error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, run_cli
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy

from lightning_bias.commands.lightning_cli import run_fit_cli
from lightning_bias.training.checkpointing import (
    AtomicCheckpointIO,
    is_deepspeed_strategy,
    resolve_ckpt_path,
    run_dir_of_checkpoint,
    use_atomic_checkpoint_io,
    with_last_checkpoint,
)
from lightning_bias.training.last_checkpoint_at_end import LastCheckpointAtTrainEnd
from lightning_bias.training.strategies import CPUDeepSpeedStrategy

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
FAST = ["--config", TINY, "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, object]:
    """One tiny fit with the default checkpointing: (default_root_dir, the CLI object)."""
    root = tmp_path_factory.mktemp("fitted")
    cli = run_fit_cli(["fit", *FAST, f"--trainer.default_root_dir={root}"])
    return root, cli


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("lightning_bias: error:")]
    assert len(message) == 1, err
    for needle in needles:
        assert needle in message[0], message[0]


# --- last.ckpt by default, atomically -------------------------------------------------------------


def test_fit_writes_last_ckpt_in_the_run_dir_through_the_atomic_writer(fitted):
    root, cli = fitted
    checkpoints = root / "lightning_logs" / "version_0" / "checkpoints"
    names = sorted(p.name for p in checkpoints.iterdir())
    assert "last.ckpt" in names and any(n.startswith("epoch=0-step=") for n in names), names
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    last = torch.load(checkpoints / "last.ckpt", weights_only=False)
    assert last["global_step"] > 0 and last["epoch"] == 0


def test_a_configured_checkpoint_callback_is_kept_and_disabled_checkpointing_adds_nothing():
    own = ModelCheckpoint(every_n_train_steps=5)
    kept = with_last_checkpoint([own], None)  # plus the writer of its last checkpoint at the end of training
    assert kept[0] is own and [type(c) for c in kept] == [ModelCheckpoint, LastCheckpointAtTrainEnd]
    assert with_last_checkpoint([], False) == []
    added = with_last_checkpoint([], None)
    assert [type(c) for c in added] == [ModelCheckpoint, LastCheckpointAtTrainEnd] and added[0].save_last is True


def test_a_checkpoint_io_of_the_users_is_kept():
    default = SingleDeviceStrategy(device="cpu")
    use_atomic_checkpoint_io(default)
    assert isinstance(default.checkpoint_io, AtomicCheckpointIO)

    class OwnIO(TorchCheckpointIO):
        pass

    own = SingleDeviceStrategy(device="cpu", checkpoint_io=OwnIO())
    use_atomic_checkpoint_io(own)
    assert type(own.checkpoint_io) is OwnIO


def test_an_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)
    assert torch.load(path)["step"] == 1

    def cut_short(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", cut_short)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1
    # no temporary file left behind; the sidecar still records the previous file's checksum
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", "last.ckpt.sha256"]
    AtomicCheckpointIO().load_checkpoint(path)  # verifies


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_checkpoint_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = tmp_path / f"u{umask:o}" / "last.ckpt"
        AtomicCheckpointIO().save_checkpoint({"step": 1}, path)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --- --ckpt_path -----------------------------------------------------------------------------------


def test_ckpt_path_last_resumes_from_the_newest_last_ckpt(fitted, tmp_path, capsys):
    root, _ = fitted
    first = torch.load(root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    copy = tmp_path / "root"  # a copy, so that the other tests keep their single run
    shutil.copytree(root, copy)
    code, err = run_cli(["fit", *FAST, "--trainer.max_epochs=2", f"--trainer.default_root_dir={copy}",
                         "--ckpt_path", "last"], capsys)
    assert code == 0, err
    resumed = torch.load(copy / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1 and resumed["global_step"] == 2 * first["global_step"]  # continued, not restarted


def test_ckpt_path_last_without_a_checkpoint_is_an_error_naming_where_it_looked(tmp_path, capsys):
    code, err = run_cli(["fit", *FAST, f"--trainer.default_root_dir={tmp_path}", "--ckpt_path", "last"], capsys)
    assert_one_line_error(code, err, "--ckpt_path last", "no last checkpoint",
                          str(tmp_path / "lightning_logs" / "version_*" / "checkpoints"))
    assert not list(tmp_path.rglob("version_*"))  # nothing started


def test_a_directory_as_ckpt_path_is_one_line_naming_the_file_inside(fitted, tmp_path, capsys):
    root, _ = fitted
    run = root / "lightning_logs" / "version_0"
    code, err = run_cli(["test", *FAST, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={run}"], capsys)
    assert_one_line_error(code, err, f"--ckpt_path {run} is a directory", str(run / "checkpoints" / "last.ckpt"))


def test_a_missing_checkpoint_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "gone.ckpt"
    code, err = run_cli(["test", *FAST, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={missing}"], capsys)
    assert_one_line_error(code, err, str(missing), "not found")


def fake_deepspeed_checkpoint(path: Path) -> Path:
    """The layout DeepSpeed's ``save_checkpoint(path, tag="checkpoint")`` writes, with empty shards."""
    (path / "checkpoint").mkdir(parents=True)
    (path / "checkpoint" / "mp_rank_00_model_states.pt").write_bytes(b"")
    (path / "latest").write_text("checkpoint")
    return path


def test_a_deepspeed_checkpoint_directory_is_valid_only_under_deepspeed(tmp_path, capsys):
    checkpoint = fake_deepspeed_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert resolve_ckpt_path(str(checkpoint), [], tmp_path, deepspeed=True) == str(checkpoint)
    assert run_dir_of_checkpoint(checkpoint) == (tmp_path / "run").absolute()
    code, err = run_cli(["test", *FAST, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={checkpoint}"], capsys)
    assert_one_line_error(code, err, "is a DeepSpeed checkpoint", "zero_to_fp32.py")


def test_deepspeed_strategies_are_recognised_by_name_and_instance():
    assert is_deepspeed_strategy("deepspeed_stage_2") and is_deepspeed_strategy("deepspeed_cpu_stage_3")
    assert is_deepspeed_strategy(CPUDeepSpeedStrategy(stage=2))
    assert not is_deepspeed_strategy("ddp") and not is_deepspeed_strategy(DDPStrategy()) and not is_deepspeed_strategy(None)


def test_last_is_the_newest_among_version_dirs_dirpaths_and_exception_checkpoints(tmp_path):
    logs = tmp_path / "lightning_logs"
    older = logs / "version_0" / "checkpoints" / "last.ckpt"
    newer = logs / "version_3" / "checkpoints" / "last-v1.ckpt"
    elsewhere = tmp_path / "fixed" / "last.ckpt"
    not_last = logs / "version_4" / "checkpoints" / "lastly.ckpt"
    for age, path in enumerate([not_last, elsewhere, newer, older]):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    assert resolve_ckpt_path("last", [], logs, deepspeed=False) == str(newer)
    fixed = ModelCheckpoint(dirpath=tmp_path / "fixed")
    assert resolve_ckpt_path("last", [fixed], logs, deepspeed=False) == str(elsewhere)  # only its dirpath
    on_exception = OnExceptionCheckpoint(tmp_path / "crash")
    crash = Path(on_exception.ckpt_path)
    crash.parent.mkdir()
    crash.write_bytes(b"x")
    assert resolve_ckpt_path("last", [on_exception], logs, deepspeed=False) == str(crash)


def test_lightning_keywords_and_remote_paths_pass_through(tmp_path):
    for keyword in ("best", "hpc", "registry:my-model", "s3://bucket/run/last.ckpt"):
        assert resolve_ckpt_path(keyword, [], tmp_path, deepspeed=False) == keyword
    assert resolve_ckpt_path(None, [], tmp_path, deepspeed=False) is None
    assert run_dir_of_checkpoint(tmp_path / "nowhere.ckpt") is None
