"""Real multi-process runs on CPU (gloo) through the launchers in launch/.

Kept small — every run is 2 processes of a tiny BERT on 400 synthetic bios — and shared: one
set of ZeRO-2 runs on 2 simulated nodes (uninterrupted / killed at a step / resumed) serves the
launcher, checkpoint, export, dead-rank, exact-resume and same-report tests; one ZeRO-3 run
through torchrun on 2 loopback nodes and its resume serve the ZeRO-3 tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import REPO_ROOT
from pytorch_lightning.callbacks import Callback
from safetensors.torch import load_file

pytestmark = pytest.mark.multiprocess

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
CPU_ZERO2 = str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero2.yaml")
CPU_ZERO3 = str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero3.yaml")
LAUNCH = REPO_ROOT / "launch"
DATA_ARGS = ["--data.synthetic_bios.num_examples=400", "--data.batch_size=16", "--trainer.max_epochs=1",
             "--trainer.enable_model_summary=false"]
RUN_TIMEOUT = 600


class KillAtStep(Callback):
    """Test helper, used by the runs through ``class_path``: SIGKILL rank ``rank`` when ``global_step`` reaches ``step``.

    Runs in ``on_train_batch_end``, before Lightning's checkpoint callbacks (which it orders last), so a
    checkpoint due at ``step`` itself is not written.
    """

    def __init__(self, step: int, rank: int = 0) -> None:
        self.step = step
        self.rank = rank

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            print(f"KillAtStep: killing rank {self.rank} (pid {os.getpid()}) at step {self.step}, time {time.time():.3f}",
                  flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_env(tmp: Path, extra_pythonpath: Path | None = None) -> dict[str, str]:
    """Environment of a launched run: offline, one thread per process, tests/ importable (test callbacks)."""
    paths = [str(REPO_ROOT / "tests"), str(Path(__file__).resolve().parent)] + ([str(extra_pythonpath)] if extra_pythonpath else [])
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
        "PYTHON": sys.executable, "PYTHONPATH": os.pathsep.join(paths + [env.get("PYTHONPATH", "")]),
        "LIGHTNING_BIAS_CACHE": str(tmp / "cache"),
    })
    return env


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float
    finished_at: float


def launch(command: list[str], env: dict[str, str], log: Path) -> Run:
    """Run ``command`` to completion (output to ``log`` too); never raises on a failed run."""
    start = time.time()
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    output = proc.stdout + proc.stderr
    log.write_text(output)
    return Run(proc.returncode, output, time.time() - start, time.time())


def write_yaml(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def resume_config(path: Path, checkpoints: Path, kill_rank_at_step: int | None = None) -> str:
    """Deterministic run with a checkpoint every 3 steps (and last.ckpt), exact resume, dead-rank watchdog."""
    kill = (
        f"    - class_path: test_distributed_runs.KillAtStep\n      init_args: {{step: {kill_rank_at_step}, rank: 1}}\n"
        if kill_rank_at_step is not None else ""
    )
    return write_yaml(path, f"""\
seed_everything: 0
trainer:
  deterministic: true
  callbacks:
    - class_path: pytorch_lightning.callbacks.ModelCheckpoint
      init_args: {{dirpath: {checkpoints}, every_n_train_steps: 3, save_last: true}}
    - class_path: lightning_bias.training.exact_resume.ExactResume
{kill}    - class_path: lightning_bias.training.rank_watchdog.RankWatchdog
      init_args: {{interval: 1, dead_after: 10}}
""")


def version_dirs(root: Path) -> list[Path]:
    return sorted((root / "lightning_logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def consolidated(checkpoint_dir: Path) -> dict[str, torch.Tensor]:
    """Full fp32 weights of the network rebuilt from a DeepSpeed checkpoint's shards (``net.`` prefix dropped)."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    state = get_fp32_state_dict_from_zero_checkpoint(str(checkpoint_dir), tag="checkpoint")
    return {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}


def assert_same_weights(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), f"{key} differs: max |diff| {(left[key] - right[key]).abs().max()}"


PREDICTION_SECTIONS = ("split", "num_examples", "overall", "by_group", "gaps", "empty_groups")


def prediction_sections(report_path: Path) -> dict:
    """The parts of a bias report that follow from the predictions (not the run's description)."""
    report = json.loads(report_path.read_text())
    return {key: report.get(key) for key in PREDICTION_SECTIONS}


# --- ZeRO-2 on 2 simulated nodes: uninterrupted, killed, resumed ---------------------------------------


@dataclass
class Zero2Runs:
    root: Path
    full: Run
    killed: Run
    resumed: Run
    full_dir: Path
    resumed_dir: Path
    kill_time: float | None
    killed_checkpoints: list[str]


@pytest.fixture(scope="module")
def zero2_runs(tmp_path_factory) -> Zero2Runs:
    root = tmp_path_factory.mktemp("zero2")
    env = run_env(root)

    def multinode(run_root: Path, config: str, *extra: str, name: str) -> Run:
        command = [str(LAUNCH / "local_multinode.sh"), "--nodes", "2", "--procs-per-node", "1", "--grace", "15", "--",
                   "fit", "--config", TINY, "--config", CPU_ZERO2, "--config", config, *DATA_ARGS,
                   f"--trainer.default_root_dir={run_root}", *extra]
        return launch(command, env, root / f"{name}.log")

    full = multinode(root / "full", resume_config(root / "full.yaml", root / "full" / "checkpoints"), name="full")
    killed_config = resume_config(root / "killed.yaml", root / "killed" / "checkpoints", kill_rank_at_step=7)
    killed = multinode(root / "killed", killed_config, name="killed")
    match = re.search(r"KillAtStep: killing rank 1 .* time (\d+\.\d+)", killed.output)
    killed_checkpoints = sorted(p.name for p in (root / "killed" / "checkpoints").glob("*.ckpt"))
    resumed = multinode(root / "killed", resume_config(root / "resumed.yaml", root / "killed" / "checkpoints"),
                        "--ckpt_path", "last", name="resumed")
    full_dirs, killed_dirs = version_dirs(root / "full"), version_dirs(root / "killed")
    return Zero2Runs(root, full, killed, resumed, full_dirs[-1] if full_dirs else root,
                     killed_dirs[-1] if killed_dirs else root, float(match.group(1)) if match else None,
                     killed_checkpoints)


def test_two_node_zero2_run_exports_the_full_weights(zero2_runs):
    runs = zero2_runs
    assert runs.full.returncode == 0, runs.full.output[-3000:]
    assert "[node 0]" in runs.full.output and "[node 1]" in runs.full.output
    assert "MEMBER: 2/2" in runs.full.output  # one world of 2 ranks across the 2 nodes
    exported = load_file(runs.full_dir / "hf_export" / "model.safetensors")
    assert_same_weights(exported, consolidated(runs.root / "full" / "checkpoints" / "last.ckpt"))
    assert exported["classifier.weight"].shape == (16, 32)  # a full tensor, not a shard


def test_dead_rank_stops_the_job_and_is_named(zero2_runs):
    killed = zero2_runs.killed
    assert zero2_runs.kill_time is not None, killed.output[-3000:]
    assert killed.returncode != 0
    assert killed.finished_at - zero2_runs.kill_time < 60, "the job hung after a rank died"
    # the surviving rank says which rank it lost, and the launcher which node (rank) died
    assert re.search(r"lightning_bias: rank 1 \(host .*pid \d+\) stopped", killed.output), killed.output[-3000:]
    assert "node 1 (rank 1) exited with code 137 (killed by SIGKILL)" in killed.output
    # killed at step 7 of the epoch's 9: the last checkpoint is the mid-epoch one of step 6
    assert zero2_runs.killed_checkpoints == ["epoch=0-step=6.ckpt", "last.ckpt"]


def test_killed_run_resumed_from_last_checkpoint_ends_exactly_like_the_uninterrupted_run(zero2_runs):
    runs = zero2_runs
    assert runs.resumed.returncode == 0, runs.resumed.output[-3000:]
    assert re.search(r"Restored all states from the checkpoint at \S*/killed/checkpoints/last.ckpt", runs.resumed.output)
    assert_same_weights(load_file(runs.resumed_dir / "hf_export" / "model.safetensors"),
                        load_file(runs.full_dir / "hf_export" / "model.safetensors"))
    full_report = json.loads((runs.full_dir / "bias_report.json").read_text())
    resumed_report = json.loads((runs.resumed_dir / "bias_report.json").read_text())
    assert resumed_report == full_report


def fake_srun(directory: Path) -> Path:
    """An ``srun`` that starts SLURM_NNODES x --ntasks-per-node local tasks with the variables srun sets."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "srun"
    script.write_text("""\
#!/usr/bin/env bash
echo "fake-srun: $*" >&2
per_node=$SLURM_NTASKS_PER_NODE
while [[ "$1" == --* ]]; do
  case "$1" in --ntasks-per-node=*) per_node=${1#*=} ;; esac
  shift
done
ntasks=$((SLURM_NNODES * per_node))
pids=()
for ((task = 0; task < ntasks; task++)); do
  SLURM_NTASKS=$ntasks SLURM_PROCID=$task SLURM_LOCALID=$((task % per_node)) SLURM_NODEID=$((task / per_node)) \\
    SLURM_STEP_ID=0 "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
""")
    script.chmod(0o755)
    return directory


def test_bias_report_is_the_same_under_single_process_ddp_and_deepspeed(zero2_runs, tmp_path):
    """One set of weights, validated three ways: DeepSpeed ZeRO-2 (the run's own final validation), one
    process, and DDP over 2 SLURM tasks launched by launch/slurm/fit.sbatch under a fake srun."""
    assert zero2_runs.full.returncode == 0
    export = zero2_runs.full_dir / "hf_export"
    deepspeed_report = prediction_sections(zero2_runs.full_dir / "bias_report.json")
    model_args = ["--model.model_config=null", f"--model.model={export}"]

    from lightning_bias.commands import main

    main(["validate", "--config", TINY, *DATA_ARGS, *model_args, f"--trainer.default_root_dir={tmp_path / 'single'}"])
    single_report = prediction_sections(version_dirs(tmp_path / "single")[-1] / "bias_report.json")

    env = run_env(tmp_path)
    env.update({
        "PATH": f"{fake_srun(tmp_path / 'bin')}{os.pathsep}{env['PATH']}", "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "lightning_bias", "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_JOB_NODELIST": "127.0.0.1", "SLURM_NODELIST": "127.0.0.1", "MASTER_PORT": str(free_port()),
    })
    ddp = launch(["bash", str(LAUNCH / "slurm" / "fit.sbatch"), "validate", "--config", TINY, "--trainer.strategy=ddp",
                  *DATA_ARGS, *model_args, f"--trainer.default_root_dir={tmp_path / 'ddp'}"], env, tmp_path / "ddp.log")
    assert ddp.returncode == 0, ddp.output[-3000:]
    assert "fake-srun: --kill-on-bad-exit=1 --ntasks-per-node=1" in ddp.output
    assert "--trainer.num_nodes 2 --trainer.devices 1" in ddp.output
    assert "MEMBER: 2/2" in ddp.output
    ddp_report = prediction_sections(version_dirs(tmp_path / "ddp")[-1] / "bias_report.json")

    assert deepspeed_report["num_examples"] == 60
    assert single_report == deepspeed_report
    assert ddp_report == deepspeed_report


# --- ZeRO-3: torchrun on 2 loopback nodes, then a resume ------------------------------------------------

@dataclass
class Zero3Runs:
    root: Path
    first: Run
    resumed: Run
    first_checkpoint_shards: list[str]
    first_checkpoint_weights: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def zero3_runs(tmp_path_factory) -> Zero3Runs:
    root = tmp_path_factory.mktemp("zero3")
    env = run_env(root)
    checkpoints = write_yaml(root / "checkpoints.yaml", f"""\
trainer:
  callbacks:
    - class_path: pytorch_lightning.callbacks.ModelCheckpoint
      init_args: {{dirpath: {root / 'checkpoints'}, every_n_train_steps: 4, save_last: true}}
""")
    common = ["--config", TINY, "--config", CPU_ZERO3, "--config", checkpoints, *DATA_ARGS,
              f"--trainer.default_root_dir={root / 'run'}"]
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            [str(LAUNCH / "torchrun.sh"), "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-endpoint", endpoint,
             "--rdzv-id", "zero3-test", "--", "fit", *common, "--trainer.max_steps=4"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for _ in range(2)
    ]
    start = time.time()
    outputs = [node.communicate(timeout=RUN_TIMEOUT)[0] for node in nodes]
    (root / "first.log").write_text("\n".join(outputs))
    code = next((node.returncode for node in nodes if node.returncode), 0)
    first = Run(code, "\n".join(outputs), time.time() - start, time.time())
    last = root / "checkpoints" / "last.ckpt"
    shards = sorted(p.name for p in (last / "checkpoint").glob("zero_pp_rank_*_model_states.pt"))
    weights = consolidated(last) if code == 0 else {}
    resumed = launch([str(LAUNCH / "local_multinode.sh"), "--nodes", "2", "--procs-per-node", "1", "--", "fit", *common,
                      "--trainer.max_steps=8", "--ckpt_path", str(root / "checkpoints" / "last.ckpt")],
                     env, root / "resumed.log")
    return Zero3Runs(root, first, resumed, shards, weights)


def test_torchrun_two_nodes_zero3_exports_the_gathered_full_weights(zero3_runs):
    first = zero3_runs.first
    assert first.returncode == 0, first.output[-3000:]
    # 2 nodes x 1 process: one world of 2 ranks (fit, then the test at its end, each print it)
    assert set(re.findall(r"MEMBER: (\d+/\d+)", first.output)) == {"1/2", "2/2"}
    run_dir = version_dirs(zero3_runs.root / "run")[0]
    exported = load_file(run_dir / "hf_export" / "model.safetensors")
    # each rank's checkpoint shard holds its part of every partitioned parameter; the export holds all of it
    assert zero3_runs.first_checkpoint_shards == ["zero_pp_rank_0_mp_rank_00_model_states.pt",
                                                  "zero_pp_rank_1_mp_rank_00_model_states.pt"]
    assert exported["bert.embeddings.word_embeddings.weight"].shape == (30522, 32)
    assert_same_weights(exported, zero3_runs.first_checkpoint_weights)


def test_zero3_run_resumes_from_its_sharded_checkpoint(zero3_runs):
    resumed = zero3_runs.resumed
    assert zero3_runs.first.returncode == 0
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "Restored all states from the checkpoint" in resumed.output
    first_dir, resumed_dir = version_dirs(zero3_runs.root / "run")[:2]
    first_weights = load_file(first_dir / "hf_export" / "model.safetensors")
    resumed_weights = load_file(resumed_dir / "hf_export" / "model.safetensors")
    # it trained on from step 4 to step 8 (4 more steps), and its export is again the full consolidated model
    steps = [int(m) for m in re.findall(r"step=(\d+)", " ".join(p.name for p in (zero3_runs.root / "checkpoints").iterdir()))]
    assert max(steps) == 8
    assert any(not torch.equal(first_weights[k], resumed_weights[k]) for k in first_weights)
    assert_same_weights(resumed_weights, consolidated(zero3_runs.root / "checkpoints" / "last.ckpt"))
