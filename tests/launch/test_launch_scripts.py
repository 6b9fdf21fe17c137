"""The launchers in launch/: the commands they would run (--dry-run) and their input errors."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT

LAUNCH = REPO_ROOT / "launch"
FIT = ["fit", "--config", "configs/tiny.yaml", "--trainer.max_epochs=1"]


def run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "NNODES", "RDZV_"))}
    full_env.update(env or {})
    return subprocess.run(["bash", str(LAUNCH / script), *args], cwd=REPO_ROOT, env=full_env, capture_output=True,
                          text=True, timeout=60)


def words(line: str) -> list[str]:
    return shlex.split(line)


# --- local_multinode.sh -----------------------------------------------------------------------------


def test_local_multinode_dry_run_starts_one_lightning_process_per_node():
    proc = run("local_multinode.sh", "--nodes", "3", "--procs-per-node", "2", "--port", "29555", "--dry-run", "--",
               *FIT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    for node, line in enumerate(lines):
        assert line.startswith(f"[node {node}] ")
        command = words(line.split("] ", 1)[1])
        assert command[:5] == ["env", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=29555", f"NODE_RANK={node}", "WORLD_SIZE=6"]
        assert command[6:8] == ["-m", "lightning_bias"]
        assert command[8:12] == FIT
        assert command[-4:] == ["--trainer.num_nodes", "3", "--trainer.devices", "2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0", "--", *FIT], "--nodes must be a positive integer, got '0'"),
        (["--procs-per-node", "two", "--", *FIT], "--procs-per-node must be a positive integer, got 'two'"),
        (["--nodes", "2"], "no lightning_bias arguments; give them after --"),
        (["--gpus", "2", "--", *FIT], "unknown option '--gpus'"),
    ],
)
def test_local_multinode_bad_arguments(args, message):
    proc = run("local_multinode.sh", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


# --- torchrun.sh ------------------------------------------------------------------------------------------


def test_torchrun_dry_run_uses_c10d_rendezvous_and_tells_lightning_the_world():
    proc = run("torchrun.sh", "--nnodes", "2", "--nproc-per-node", "4", "--rdzv-endpoint", "node0:29400",
               "--rdzv-id", "job7", "--dry-run", "--", *FIT)
    assert proc.returncode == 0, proc.stderr
    command = words(proc.stdout)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    joined = " ".join(command)
    assert "--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint node0:29400 --rdzv-id job7" in joined
    assert "--max-restarts 0 -m lightning_bias " + " ".join(FIT) in joined
    assert command[-4:] == ["--trainer.num_nodes", "2", "--trainer.devices", "4"]


def test_torchrun_defaults_come_from_the_environment():
    proc = run("torchrun.sh", "--dry-run", "--", *FIT,
               env={"NNODES": "3", "NPROC_PER_NODE": "2", "MASTER_ADDR": "head", "MASTER_PORT": "1234",
                    "SLURM_JOB_ID": "99"})
    assert proc.returncode == 0, proc.stderr
    assert "--nnodes 3 --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint head:1234 --rdzv-id 99" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nnodes", "1:4", "--", *FIT], "--nnodes must be a positive integer (Lightning needs a fixed node count)"),
        (["--rdzv-endpoint", "node0", "--", *FIT], "--rdzv-endpoint must be HOST:PORT, got 'node0'"),
        (["--max-restarts", "-1", "--", *FIT], "--max-restarts must be a non-negative integer"),
    ],
)
def test_torchrun_bad_arguments(args, message):
    proc = run("torchrun.sh", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


# --- deepspeed.sh and its hostfile --------------------------------------------------------------------------


def test_deepspeed_dry_run_reads_nodes_and_slots_from_the_hostfile():
    proc = run("deepspeed.sh", "--hostfile", "launch/hostfile.example", "--dry-run", "--", *FIT)
    assert proc.returncode == 0, proc.stderr
    summary, command_line = proc.stdout.strip().splitlines()
    assert summary == "# hostfile launch/hostfile.example: 2 node(s) x 8 slot(s): worker-0 worker-1"
    command = words(command_line)
    assert command[0] == "deepspeed"
    joined = " ".join(command)
    assert "--hostfile launch/hostfile.example --master_addr worker-0 --master_port 29500 --no_local_rank" in joined
    assert "--module lightning_bias " + " ".join(FIT) in joined
    assert command[-4:] == ["--trainer.num_nodes", "2", "--trainer.devices", "8"]


def test_deepspeed_without_ssh_runs_one_node(tmp_path):
    proc = run("deepspeed.sh", "--hostfile", "launch/hostfile.example", "--no-ssh", "--node-rank", "1", "--dry-run",
               "--", *FIT)
    assert proc.returncode == 0, proc.stderr
    assert "--no_ssh --node_rank 1 --module lightning_bias" in proc.stdout


def write_hostfile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hostfile"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# two nodes\nworker-0 slots=4\nworker-1 slot=4\n",
         "line 3 is malformed: 'worker-1 slot=4'; expected 'HOSTNAME slots=N' (N >= 1)"),
        ("worker-0 slots=4\n\nworker-1 slots=0\n", "line 3 is malformed: 'worker-1 slots=0'"),
        ("worker-0 slots=4 gpus=2\n", "line 1 is malformed"),
        ("worker-0 slots=4\nworker-1 slots=2\n", "line 2 gives worker-1 slots=2 but earlier hosts have slots=4"),
        ("worker-0 slots=4\nworker-0 slots=4\n", "line 2 lists host 'worker-0' a second time"),
        ("# nothing here\n\n", "lists no hosts"),
    ],
)
def test_deepspeed_rejects_a_bad_hostfile_naming_the_line(tmp_path, text, message):
    proc = run("deepspeed.sh", "--hostfile", write_hostfile(tmp_path, text), "--dry-run", "--", *FIT)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_deepspeed_hostfile_allows_comments_and_blank_lines(tmp_path):
    hostfile = write_hostfile(tmp_path, "# cluster A\n\nnode-a slots=2   # first\n  node-b slots=2\n")
    proc = run("deepspeed.sh", "--hostfile", hostfile, "--dry-run", "--", *FIT)
    assert proc.returncode == 0, proc.stderr
    assert "2 node(s) x 2 slot(s): node-a node-b" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", *FIT], "no hostfile; pass --hostfile FILE"),
        (["--hostfile", "missing.txt", "--", *FIT], "hostfile 'missing.txt' does not exist"),
        (["--hostfile", "launch/hostfile.example", "--no-ssh", "--", *FIT], "--no-ssh needs --node-rank between 0 and 1"),
        (["--hostfile", "launch/hostfile.example", "--node-rank", "0", "--", *FIT], "--node-rank only applies with --no-ssh"),
    ],
)
def test_deepspeed_bad_arguments(args, message):
    proc = run("deepspeed.sh", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


# --- slurm/fit.sbatch ---------------------------------------------------------------------------------------


def test_sbatch_directives_request_one_task_per_gpu_requeue_and_one_log_per_job():
    directives = [line for line in (LAUNCH / "slurm" / "fit.sbatch").read_text().splitlines() if line.startswith("#SBATCH")]
    settings = dict(line.removeprefix("#SBATCH --").split("=", 1) for line in directives if "=" in line)
    assert settings["ntasks-per-node"] == settings["gpus-per-node"]
    assert settings["signal"] == "SIGUSR1@90"
    assert "#SBATCH --requeue" in directives
    assert settings["output"] == "%x-%j.log" and settings["open-mode"] == "append"


def test_sbatch_dry_run_outside_a_job_uses_the_script_defaults():
    proc = run("slurm/fit.sbatch", "--dry-run", *FIT)
    assert proc.returncode == 0, proc.stderr
    command = words(proc.stdout)
    assert command[:3] == ["srun", "--kill-on-bad-exit=1", "--ntasks-per-node=4"]
    assert command[4:6] == ["-m", "lightning_bias"]
    assert command[-4:] == ["--trainer.num_nodes", "2", "--trainer.devices", "4"]


def test_sbatch_dry_run_inside_a_job_follows_the_allocation():
    proc = run("slurm/fit.sbatch", "--dry-run", *FIT,
               env={"SLURM_JOB_ID": "7", "SLURM_NNODES": "8", "SLURM_NTASKS_PER_NODE": "2"})
    assert proc.returncode == 0, proc.stderr
    assert words(proc.stdout)[-4:] == ["--trainer.num_nodes", "8", "--trainer.devices", "2"]


def test_sbatch_refuses_to_run_outside_slurm_and_without_arguments():
    outside = run("slurm/fit.sbatch", *FIT)
    assert outside.returncode == 2
    assert "not inside a SLURM job; submit it with sbatch" in outside.stderr
    assert run("slurm/fit.sbatch").returncode == 2


def test_sbatch_rejects_an_allocation_without_tasks_per_node():
    proc = run("slurm/fit.sbatch", "--dry-run", *FIT, env={"SLURM_JOB_ID": "7", "SLURM_NTASKS_PER_NODE": "2(x3)"})
    assert proc.returncode == 2
    assert "submit with --ntasks-per-node=<GPUs per node>" in proc.stderr


@pytest.mark.parametrize("script", ["local_multinode.sh", "torchrun.sh", "deepspeed.sh"])
def test_help_describes_the_launcher(script):
    proc = run(script, "--help")
    assert proc.returncode == 0
    assert "--dry-run" in proc.stdout and "usage" not in proc.stderr
