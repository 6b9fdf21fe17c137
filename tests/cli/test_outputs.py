"""Outputs where a user looks: test/predict beside their checkpoint, no empty run dirs after a failed start,
wandb under ``default_root_dir``, files and directories with the user's umask."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT
from pytorch_lightning.loggers import WandbLogger

from lightning_bias.commands import main
from lightning_bias.commands.lightning_cli import run_fit_cli
from lightning_bias.reports.artifacts import atomic_directory, atomic_write_text, write_json_atomic
from lightning_bias.training.run_directory import wandb_under_root_dir

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
FAST = ["--config", TINY, "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """``default_root_dir`` of one tiny fit (its run dir is ``lightning_logs/version_0``)."""
    root = tmp_path_factory.mktemp("fitted")
    run_fit_cli(["fit", *FAST, f"--trainer.default_root_dir={root}"])
    return root


def run_command(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``lightning_bias ARGS`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --- test and predict beside their checkpoint ------------------------------------------------------


def test_test_and_predict_on_a_checkpoint_write_into_its_run_dir_keeping_the_fits_files(fitted, capsys):
    run = fitted / "lightning_logs" / "version_0"
    fit_files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert {"metrics.csv", "config.yaml", "hparams.yaml", "bias_report.json", "bias_report_test.json"} <= set(fit_files)
    fits_test_report = json.loads(fit_files.pop("bias_report_test.json"))  # the fit tested its last weights
    del fit_files["bias_report_test.md"]
    checkpoint = run / "checkpoints" / "last.ckpt"

    code, out, err = run_command(["test", *FAST, f"--trainer.default_root_dir={fitted}", f"--ckpt_path={checkpoint}"],
                                 capsys)
    assert code == 0, err
    assert last_line(out) == f"bias report: {run / 'bias_report_test.json'}"
    report = json.loads((run / "bias_report_test.json").read_text())
    assert report["split"] == "test" and report["num_examples"] == 60
    assert (run / "bias_report_test.md").read_text().startswith("# Bias report")
    assert report["evaluation_distribution"] == fits_test_report["evaluation_distribution"]
    assert report["overall"]["accuracy"] == fits_test_report["overall"]["accuracy"]  # the same weights, measured
    assert {g: v["accuracy"] for g, v in report["by_group"].items()} == {
        g: v["accuracy"] for g, v in fits_test_report["by_group"].items()}
    assert "test/accuracy" in pd.read_csv(run / "metrics_test.csv").columns
    assert "ckpt_path" in (run / "config_test.yaml").read_text() and (run / "hparams_test.yaml").is_file()

    code, out, err = run_command(["predict", *FAST, f"--trainer.default_root_dir={fitted}",
                                  f"--ckpt_path={checkpoint}"], capsys)
    assert code == 0, err
    assert last_line(out) == f"predictions: {run / 'predictions.jsonl'}"
    rows = (run / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 60 and {"pred", "label", "group", "probs"} <= set(json.loads(rows[0]))
    assert (run / "config_predict.yaml").is_file()

    for name, content in fit_files.items():
        assert (run / name).read_bytes() == content, f"{name} of the fit was changed"
    assert [p.name for p in (fitted / "lightning_logs").iterdir()] == ["version_0"]  # no new version dir


def test_a_checkpoint_outside_a_run_dir_gets_a_new_version_dir_named_in_the_last_line(fitted, tmp_path, capsys):
    checkpoint = tmp_path / "model.ckpt"
    shutil.copy(fitted / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", checkpoint)
    root = tmp_path / "root"
    code, out, err = run_command(["test", *FAST, f"--trainer.default_root_dir={root}", f"--ckpt_path={checkpoint}"],
                                 capsys)
    assert code == 0, err
    report = root / "lightning_logs" / "version_0" / "bias_report.json"
    assert json.loads(report.read_text())["split"] == "test"
    assert last_line(out) == f"bias report: {report}"
    assert (root / "lightning_logs" / "version_0" / "metrics.csv").is_file()


# --- a failed start leaves nothing behind, and removes nothing it did not write --------------------


def files_args(root: Path, csv: Path) -> list[str]:
    return ["fit", *FAST, f"--trainer.default_root_dir={root}", "--data.source=files", f"--data.files={{train: {csv}}}",
            "--data.columns.text=bio", "--data.columns.label=occupation", "--data.columns.group=gender"]


@pytest.fixture
def small_csv(tmp_path) -> Path:
    path = tmp_path / "bios.csv"
    path.write_text("bio,occupation,gender\n" + "she is a nurse,nurse,female\nhe is a surgeon,surgeon,male\n" * 20)
    return path


def test_a_fit_failing_in_data_setup_leaves_no_empty_version_dir(tmp_path, small_csv, capsys):
    earlier = tmp_path / "root" / "lightning_logs" / "version_0" / "bias_report.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"split": "val"}')
    code, _, err = run_command([*files_args(tmp_path / "root", small_csv), "--data.columns.label=nonexistent"], capsys)
    assert code == 2, err
    assert sorted(p.name for p in earlier.parents[1].iterdir()) == ["version_0"]
    assert earlier.read_text() == '{"split": "val"}'


def test_a_fit_failing_after_writing_its_config_leaves_no_version_dir(tmp_path, small_csv, capsys):
    code, _, err = run_command([*files_args(tmp_path, small_csv), "--model.num_labels=3"], capsys)
    assert code == 2 and "model.num_labels is 3" in err, err  # raised in the model's setup, after config.yaml
    assert not list((tmp_path / "lightning_logs").iterdir())


def test_a_test_failing_in_a_checkpoints_run_dir_keeps_that_dir(fitted, small_csv, capsys):
    run = fitted / "lightning_logs" / "version_0"
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    args = files_args(fitted, small_csv)[1:] + ["--data.columns.label=nonexistent",
                                                f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}"]
    code, _, err = run_command(["test", *args], capsys)
    assert code == 2, err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


# --- wandb under default_root_dir --------------------------------------------------------------------


def test_wandb_writes_under_default_root_dir_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = tmp_path / "runs"
    default, chosen = WandbLogger(project="lightning_bias_test"), WandbLogger(save_dir=tmp_path / "mine")
    wandb_under_root_dir([default, chosen], root)
    assert default.save_dir == str(root) and chosen.save_dir == str(tmp_path / "mine")
    default.experiment.finish()
    assert (root / "wandb").is_dir()
    assert not (cwd / "wandb").exists()


def test_wandb_dir_from_the_environment_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "env"))
    logger = WandbLogger(project="lightning_bias_test")
    wandb_under_root_dir([logger], tmp_path / "runs")
    assert logger.save_dir == str(tmp_path / "env")


# --- the user's umask ----------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_reports_and_exports_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        report = atomic_write_text(tmp_path / "bias_report.md", "# report\n")
        as_json = write_json_atomic(tmp_path / "bias_report.json", {"a": 1})
        with atomic_directory(tmp_path / "hf_export") as staging:
            assert staging.stat().st_mode & 0o777 == 0o777 & ~umask  # the staging dir itself
            (staging / "model.safetensors").write_bytes(b"weights")  # as save_pretrained writes its files
            (staging / "sub").mkdir()
    finally:
        os.umask(previous)
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    assert report.stat().st_mode & 0o777 == file_mode and as_json.stat().st_mode & 0o777 == file_mode
    export = tmp_path / "hf_export"
    assert export.stat().st_mode & 0o777 == dir_mode
    assert (export / "model.safetensors").stat().st_mode & 0o777 == file_mode
    assert (export / "sub").stat().st_mode & 0o777 == dir_mode


def test_a_runs_report_and_export_have_the_umasks_modes(fitted):
    umask = os.umask(0)
    os.umask(umask)
    run = fitted / "lightning_logs" / "version_0"
    assert (run / "bias_report.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (run / "hf_export").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (run / "checkpoints" / "last.ckpt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_commands_metrics_file_is_replaced_when_it_first_saves_not_when_it_starts(tmp_path):
    from lightning_bias.training.run_directory import CommandCSVLogger

    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("the fit's\n")
    (run / "metrics_test.csv").write_text("an earlier test's\n")
    logger = CommandCSVLogger(run, "test")
    assert logger.log_dir == str(run)
    logger.log_hyperparams({"lr": 0.1})
    assert (run / "metrics_test.csv").read_text() == "an earlier test's\n"  # started, nothing logged yet
    logger.log_metrics({"test/accuracy": 0.5}, step=0)
    logger.save()
    assert (run / "metrics_test.csv").read_text().splitlines() == ["step,test/accuracy", "0,0.5"]
    assert (run / "metrics.csv").read_text() == "the fit's\n"
    assert (run / "hparams_test.yaml").read_text() == "lr: 0.1\n" and not (run / "hparams.yaml").exists()
