"""torch's threads per process: chosen from the usable cores and the run's local processes unless the user chose."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch
from conftest import REPO_ROOT, run_cli

from lightning_bias.training.threads import local_process_count, threads_per_process

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
FAST = ["--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=200", "--model.export_hf=false"]


@pytest.mark.parametrize(
    ("cores", "local_processes", "environ", "expected"),
    [
        (2, 1, {}, 2),
        (2, 2, {}, 1),
        (16, 4, {}, 4),
        (16, 3, {}, 5),  # rounded down: 15 of 16 cores busy, none shared
        (3, 2, {}, 1),
        (1, 4, {}, 1),  # more processes than cores: each still needs one thread
        (8, 0, {}, 8),  # a nonsensical count is read as one process
        (8, 2, {"OMP_NUM_THREADS": "3"}, None),  # the user's choice: nothing to do
        (8, 2, {"MKL_NUM_THREADS": "2"}, None),
        (8, 2, {"OMP_NUM_THREADS": ""}, 4),  # set but empty is not a choice
        (8, 2, {"LIGHTNING_BIAS_UNRELATED": "1"}, 4),
    ],
)
def test_threads_per_process(cores, local_processes, environ, expected):
    assert threads_per_process(cores, local_processes, environ) == expected


@pytest.mark.parametrize("cores", [1, 2, 3, 8, 16, 64])
@pytest.mark.parametrize("local_processes", [1, 2, 3, 4, 8])
def test_never_oversubscribed_while_there_are_enough_cores(cores, local_processes):
    threads = threads_per_process(cores, local_processes, {})
    assert threads >= 1
    if local_processes <= cores:
        assert threads * local_processes <= cores


@pytest.mark.parametrize(
    ("trainer", "environ", "expected"),
    [
        ({"accelerator": "cpu", "devices": 1}, {}, 1),
        ({"accelerator": "cpu", "devices": 2}, {}, 2),  # Lightning spawns one process per device
        ({"accelerator": "cpu", "devices": "3"}, {}, 3),
        ({"accelerator": "cpu", "devices": "0,1"}, {}, 2),
        ({"accelerator": "cpu", "devices": [0, 1, 2, 3]}, {}, 4),
        ({"accelerator": "cpu", "devices": "auto"}, {}, 1),
        ({"accelerator": "cpu", "devices": 2, "num_nodes": 4}, {}, 2),  # devices are per node
        ({"accelerator": "cpu", "devices": 1}, {"LOCAL_WORLD_SIZE": "4"}, 4),  # torchrun says
        ({"accelerator": "cpu", "devices": 1}, {"LOCAL_SIZE": "3"}, 3),  # DeepSpeed's launcher says
        ({"accelerator": "cpu", "devices": 8}, {"SLURM_LOCALID": "0", "SLURM_NTASKS_PER_NODE": "2"}, 2),
        # an sbatch script's own shell is no srun task: Lightning spawns the devices itself
        ({"accelerator": "cpu", "devices": 8}, {"SLURM_NTASKS_PER_NODE": "2"}, 8),
    ],
)
def test_local_process_count(trainer, environ, expected):
    assert local_process_count(trainer, environ) == expected


def test_a_malformed_launcher_variable_is_named():
    with pytest.raises(ValueError, match="LOCAL_WORLD_SIZE='two'"):
        local_process_count({"devices": 1}, {"LOCAL_WORLD_SIZE": "two"})


@pytest.fixture
def unchosen_threads(monkeypatch):
    """No thread variable in the environment (restored afterwards, as are torch's threads); two usable cores."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")  # records the original value, so teardown restores it
        monkeypatch.delenv(name)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _runtime_of_report(root) -> dict:
    (report,) = root.glob("lightning_logs/version_*/bias_report.json")
    return json.loads(report.read_text())["runtime"]


def test_cli_chooses_threads_sets_omp_and_records_them(unchosen_threads, tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO):
        code, err = run_cli(
            ["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}"], capsys
        )
    assert code == 0, err
    assert torch.get_num_threads() == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"  # inherited by spawned ranks and DataLoader workers
    chosen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("torch threads:")]
    assert chosen == [
        "torch threads: 2 per process (2 usable cores, 1 local process; set OMP_NUM_THREADS to override)"
    ]
    assert _runtime_of_report(tmp_path) == {"torch_threads": 2, "local_processes": 1, "world_size": 1}


def test_cli_leaves_the_users_choice_alone(unchosen_threads, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code, err = run_cli(["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert code == 0, err
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert _runtime_of_report(tmp_path)["torch_threads"] == 1
