"""`lightning_bias study run | status`: a real tiny study end to end, killed and resumed, a failed cell
recorded and retried on request, the dry-run listing, results columns, and the bad inputs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT

from lightning_bias.commands.study import resolve_fit, resolve_pretrain, study_verb
from lightning_bias.study.cells import plan_cells
from lightning_bias.study.config import load_study_config
from lightning_bias.study.directory import (
    check_study_directory,
    recorded_cells,
    reuse_finished_cells,
    study_description,
)
from lightning_bias.study.executors import LocalExecutor
from lightning_bias.study.runner import run_study
from lightning_bias.study.status import interrupted, status_summary

FAST_FIT = ["--data.synthetic_bios.num_examples=240", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
            "--trainer.enable_checkpointing=false", "--data.max_length=32"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "MPLBACKEND": "Agg"}


def write_study(path: Path, axes: list[dict], **extra) -> Path:
    config = {"name": path.stem, "base": ["configs/tiny.yaml"], "overrides": FAST_FIT, "seeds": [0], "axes": axes, **extra}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


COOCCURRENCE = {"name": "cooccurrence", "role": "cooccurrence", "values": [
    {"name": "balanced", "numeric": 0.5, "overrides": ["--data.synthetic_bios.female_rate=balanced"]},
    {"name": "stereotypical", "overrides": ["--data.synthetic_bios.female_rate=stereotypical"]},
]}
MITIGATION = {"name": "mitigation", "role": "mitigation", "values": [
    {"name": "none"},
    {"name": "reweighting", "mitigations": [{"name": "reweighting", "scheme": "kamiran_calders"}]},
    # fails at data set-up, after the config resolved: a rate above 1
    {"name": "broken", "overrides": ["--data.synthetic_bios.female_rate=1.5"]},
]}


def study_run(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lightning_bias", "study", "run", *args], cwd=REPO_ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def states(study_dir: Path) -> dict[str, dict]:
    return {cell["id"]: cell["state"] for cell in recorded_cells(study_dir)}


def cell_processes(study_dir: Path) -> list[int]:
    """Pids of live processes whose command line names a directory of this study (its cells' verbs)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(study_dir).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # ended while we looked
    return pids


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """A 5-cell study (2 co-occurrences x none/reweighting, plus one broken cell), stopped by SIGTERM to the
    runner once a cell is done, and resumed; returns (config, directory, the states of the cells done before the kill)."""
    root = tmp_path_factory.mktemp("study")
    config = write_study(root / "tiny_test.yaml", [COOCCURRENCE, MITIGATION],
                         exclude=[{"cooccurrence": "stereotypical", "mitigation": "broken"}])
    study_dir = root / "run"
    first = study_run("--config", str(config), "--dir", str(study_dir), "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        done = {k: s for k, s in states(study_dir).items() if s["status"] == "done"} if study_dir.exists() else {}
        if done:
            break
        time.sleep(0.5)
    assert first.poll() is None, f"the study ended before a kill could interrupt it:\n{first.stdout.read()}"
    running = {k for k, s in states(study_dir).items() if s["status"] == "running"}
    first.send_signal(signal.SIGTERM)  # the runner alone, as `kill PID` would: it stops its cells itself
    output = first.communicate(timeout=120)[0]
    assert first.returncode == 130 and "running cells stopped" in output, output
    assert not cell_processes(study_dir), "cells of the interrupted study still run"
    assert all(states(study_dir)[k]["status"] == "running" for k in running)  # not failed: they run again
    before = {k: (s, os.stat(study_dir / "fit" / k / "state.json").st_mtime_ns) for k, s in done.items()}
    resumed = study_run("--config", str(config), "--dir", str(study_dir), "--workers", "2")
    output = resumed.communicate(timeout=900)[0]
    assert resumed.returncode == 1, output  # one cell fails by design
    return config, study_dir, before, output


@pytest.mark.multiprocess
def test_a_killed_study_resumes_without_rerunning_finished_cells(tiny_study):
    _, study_dir, before, output = tiny_study
    assert before, "no cell was done before the kill"
    after = states(study_dir)
    for cell_id, (state, mtime) in before.items():
        assert after[cell_id] == state
        assert os.stat(study_dir / "fit" / cell_id / "state.json").st_mtime_ns == mtime
        assert f"started fit {cell_id}" not in output
    assert sorted(s["status"] for s in after.values()) == ["done"] * 4 + ["failed"]
    summary = status_summary(study_dir)
    assert summary["counts"] == {"done": 4, "running": 0, "failed": 1, "pending": 0}
    assert summary["remaining_seconds"] == 0


@pytest.mark.multiprocess
def test_results_have_the_contract_columns_one_row_per_cell(tiny_study):
    _, study_dir, _, _ = tiny_study
    results = pd.read_csv(study_dir / "results.csv")
    assert results.columns.equals(pd.read_parquet(study_dir / "results.parquet").columns)
    assert len(results) == 5
    for column in ("cell", "seed", "status", "error", "wall_seconds", "run_dir", "split", "axis.cooccurrence",
                   "axis.mitigation", "overall.accuracy", "overall.accuracy_ci95.low", "gaps.tpr_gap_rms",
                   "gaps.tpr_gap_rms_corrected", "gaps.tpr_gap_rms_noise_floor", "gaps.tpr_gap_rms_ci95.high",
                   "gaps.fpr_gap_rms", "gaps.dp_difference_rms", "gaps.eo_difference_rms", "gaps.tpr_gap_max",
                   "train.cooccurrence_deviation", "train.size"):
        assert column in results.columns, column
    done = results[results.status == "done"]
    assert set(done.split) == {"test"} and done["overall.accuracy"].between(0, 1).all()  # the bios have a test split
    assert (study_dir / done.run_dir.iloc[0] / "bias_report_test.json").is_file()
    by_rate = done.set_index(["axis.cooccurrence", "axis.mitigation"])["train.cooccurrence_deviation"]
    assert by_rate["balanced", "none"] < 0.05 < by_rate["stereotypical", "none"]  # measured on the train split
    study = json.loads((study_dir / "study.json").read_text())
    assert [axis["role"] for axis in study["axes"]] == ["cooccurrence", "mitigation"]
    assert study["axes"][0]["values"][0] == {"name": "balanced", "numeric": 0.5, "from_scratch": False}


@pytest.mark.multiprocess
def test_a_failed_cell_keeps_its_error_and_runs_again_only_on_request(tiny_study, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    config, study_dir, _, _ = tiny_study
    failed = next(c for c in recorded_cells(study_dir) if c["state"]["status"] == "failed")
    assert "female_rate" in failed["state"]["error"]
    results = pd.read_csv(study_dir / "results.csv").set_index("cell")
    assert "female_rate" in results.loc[failed["id"], "error"]
    study = load_study_config(config, REPO_ROOT)
    cells = plan_cells(study, resolve_fit, resolve_pretrain)
    unchanged = states(study_dir)
    counts = run_study(study, cells, study_dir, LocalExecutor(1), say=lambda line: None)
    assert counts == {"done": 4, "failed": 1} and states(study_dir) == unchanged  # nothing ran
    retried = study_run("--config", str(config), "--dir", str(study_dir), "--retry-failed")
    output = retried.communicate(timeout=600)[0]
    assert f"started fit {failed['id']}" in output and output.count("started ") == 1, output
    assert states(study_dir)[failed["id"]]["attempt"] == unchanged[failed["id"]]["attempt"] + 1


@pytest.mark.multiprocess
def test_a_new_study_directory_reuses_the_cells_finished_in_another(tiny_study, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    _, study_dir, _, _ = tiny_study
    # an edited study config (the broken value dropped, a note added): another sha256, so another directory
    edited = write_study(tmp_path / "tiny_test.yaml", [COOCCURRENCE, {**MITIGATION, "values": MITIGATION["values"][:2]}])
    study = load_study_config(edited, REPO_ROOT)
    cells = plan_cells(study, resolve_fit, resolve_pretrain)
    finished = {k: s for k, s in states(study_dir).items() if s["status"] == "done"}
    assert {c.id for c in cells} == set(finished)  # same resolved configs, same ids
    said: list[str] = []
    counts = run_study(study, cells, tmp_path / "new", LocalExecutor(1), say=said.append, reuse_from=study_dir)
    assert counts == {"done": 4} and not any(line.startswith("started") for line in said), said
    assert states(tmp_path / "new") == finished  # copied whole, nothing ran again
    assert len(pd.read_csv(tmp_path / "new" / "results.csv")) == 4
    with pytest.raises(ValueError, match="is the study directory itself"):
        reuse_finished_cells(study_dir, study_dir, cells)
    with pytest.raises(ValueError, match="is not a study directory"):
        reuse_finished_cells(tmp_path / "new", tmp_path, cells)


def test_status_tells_a_cell_whose_process_is_gone_from_one_that_runs():
    ended = subprocess.Popen(["true"])
    ended.wait()
    here = {"status": "running", "host": socket.gethostname()}
    assert interrupted({**here, "pid": ended.pid})
    assert not interrupted({**here, "pid": os.getpid()})
    assert not interrupted({**here, "pid": ended.pid, "job_id": "123"})  # SLURM's: sacct judges it
    assert not interrupted({**here, "pid": ended.pid, "host": "another-host"})
    assert not interrupted({"status": "done", "host": socket.gethostname(), "pid": ended.pid})


def test_dry_run_lists_the_cells_and_shares_one_pretraining_among_its_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the configs' paths are relative to the repository root
    upstream = {"name": "upstream", "role": "upstream", "values": [
        {"name": "scratch", "from_scratch": True},
        {"name": "tapt", "pretrain": {"configs": ["configs/pretrain/tiny.yaml"], "overrides": ["--trainer.max_steps=5"]},
         "overrides": ["--model.model_config=null"]},
    ]}
    config = write_study(tmp_path / "dag.yaml", [upstream, COOCCURRENCE], intrinsic=["--gender_probe=false"])
    study_verb(["run", "--config", str(config), "--dir", str(tmp_path / "dir"), "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("6 cells")
    pretrain = next(line.split()[1] for line in lines if line.startswith("pretrain"))
    fits = [line for line in lines if line.startswith("fit")]
    assert len(fits) == 4 and sum(f"needs {pretrain}" in line for line in fits) == 2
    assert any(line.startswith("intrinsic") and f"needs {pretrain}" in line for line in lines)
    assert all(" pending " in line for line in lines[1:])
    assert not (tmp_path / "dir").exists()


@pytest.mark.parametrize(("value", "message"), [
    ({"name": "typo", "overrides": ["--model.learnin_rate=0.1"]}, "unknown option `model.learnin_rate`; did you mean"),
    ({"name": "nope", "mitigations": [{"name": "reweightin"}]}, "unknown mitigation plugin 'reweightin'"),
    ({"name": "same_as_none", "overrides": ["--data.synthetic_bios.female_rate=stereotypical"]}, "resolve to the same config"),
])
def test_a_bad_axis_value_is_one_error_naming_the_cell_before_anything_runs(tmp_path, value, message, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    axis = {"name": "variant", "values": [{"name": "none"}, value]}
    config = write_study(tmp_path / "bad.yaml", [axis])
    with pytest.raises(ValueError, match="variant=") as error:
        study_verb(["run", "--config", str(config), "--dir", str(tmp_path / "dir")])
    assert message in str(error.value) and str(config) in str(error.value)
    assert not (tmp_path / "dir").exists()


def test_a_study_directory_made_by_another_config_is_refused(tmp_path):
    first = load_study_config(write_study(tmp_path / "a.yaml", [COOCCURRENCE]), REPO_ROOT)
    second = load_study_config(write_study(tmp_path / "a.yaml", [COOCCURRENCE], seeds=[0, 1]), REPO_ROOT)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "study.json").write_text(json.dumps({"config_path": "a.yaml", "config_sha256": first.sha256}))
    check_study_directory(tmp_path / "dir", first)
    with pytest.raises(ValueError, match="was made by another study config .* give a new --dir"):
        check_study_directory(tmp_path / "dir", second)


def test_the_outcome_and_accuracy_columns_are_the_study_configs_choice(tmp_path):
    path = write_study(tmp_path / "toxic.yaml", [COOCCURRENCE], outcome="evaluations.identity_templates.fped",
                       threshold=0.5)
    study = load_study_config(path, REPO_ROOT)
    assert (study.outcome, study.accuracy) == ("evaluations.identity_templates.fped", "overall.accuracy")
    assert study_description(study)["outcome"] == "evaluations.identity_templates.fped"
    assert study_description(study)["threshold"] == 0.5
    default = load_study_config(write_study(tmp_path / "bios.yaml", [COOCCURRENCE]), REPO_ROOT)
    assert study_description(default)["outcome"] == "gaps.tpr_gap_rms_corrected"
    assert study_description(default)["threshold"] == 0.01


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c["axes"][0].update(valuez=[]), "axes\\[0\\]: unknown key 'valuez'; did you mean 'values'"),
    (lambda c: c.update(seeds=[0, 0]), "'seeds' must be a non-empty list of distinct integers"),
    (lambda c: c.update(base=["configs/nope.yaml"]), "base: no file 'configs/nope.yaml'"),
    (lambda c: c.update(exclude=[{"cooccurrence": "amplified"}]), "axis 'cooccurrence' has no value 'amplified'"),
    (lambda c: c.update(outcome="fped"), "outcome 'fped' is not a results.csv column: give a dotted name"),
    (lambda c: c.update(threshold=0), "threshold must be a positive number in the outcome's units"),
])
def test_a_malformed_study_config_names_the_place(tmp_path, mutate, message):
    path = write_study(tmp_path / "bad.yaml", [dict(COOCCURRENCE)])
    raw = yaml.safe_load(path.read_text())
    mutate(raw)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        load_study_config(path, REPO_ROOT)
