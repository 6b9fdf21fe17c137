"""Kill loop: SIGKILL a 2-process ZeRO-2 run at random moments while it saves a checkpoint every step.

After every kill, ``last.ckpt`` must verify against its checksums and its shards must agree on the
step (the model states' step, DeepSpeed's step counter and every rank's optimizer step); the next
round resumes from it (``--ckpt_path last``), so every kill's checkpoint is also loaded, and a last
run resumes from the final one and trains one more step to a normal end. Run by
``test_atomic_checkpoint_directory.py`` with a few kills; the figure in docs/RELIABILITY.md comes from

    python tests/training/deepspeed_kill_loop.py --kills 20 --workdir /tmp/kill_loop
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300
ARGS = ["--config", str(REPO_ROOT / "configs" / "tiny.yaml"),
        "--config", str(REPO_ROOT / "configs" / "strategy" / "deepspeed_cpu_zero2.yaml"),
        "--trainer.devices", "2", "--data.synthetic_bios.num_examples", "200", "--data.batch_size", "16",
        "--trainer.max_epochs", "1000", "--trainer.enable_model_summary=false", "--trainer.enable_progress_bar=false",
        "--trainer.limit_val_batches", "0"]


@dataclass
class KillLoopResult:
    """What the loop saw: the step of ``last.ckpt`` after each kill, every problem, and how many kills cut a save short."""

    steps: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    interrupted_saves: int = 0
    final_run_ok: bool = False

    def summary(self) -> str:
        return (f"kills: {len(self.steps)}; loadable last.ckpt with agreeing shards: "
                f"{len(self.steps) - len(self.problems)} of {len(self.steps)}; kills that cut a save short: "
                f"{self.interrupted_saves}; final resume ended normally: {self.final_run_ok}")


def shard_steps(checkpoint: Path) -> dict[str, int]:
    """The training step each part of a ZeRO-2 checkpoint directory records, by ``file:field``."""
    shards = checkpoint / "checkpoint"
    model = torch.load(shards / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)
    steps = {"model:global_step": int(model["global_step"]), "model:global_steps": int(model["global_steps"])}
    for shard in sorted(shards.glob("zero_pp_rank_*_optim_states.pt")):
        state = torch.load(shard, map_location="cpu", weights_only=False)["optimizer_state_dict"]
        for index, parameter_state in state["base_optimizer_state"]["state"].items():
            steps[f"{shard.name}:step[{index}]"] = int(parameter_state["step"])
    return steps


def checkpoint_problem(last: Path) -> tuple[int, str | None]:
    """``(step, problem)`` of a ``last.ckpt`` directory: ``problem`` is ``None`` when it verifies and agrees."""
    from lightning_bias.training.checkpoint_checksums import CorruptCheckpointError, verify_checkpoint

    if not last.is_dir():
        return -1, f"{last} is missing or not a directory"
    try:
        verify_checkpoint(last)
        steps = shard_steps(last)
    except (CorruptCheckpointError, OSError, RuntimeError, KeyError) as error:
        return -1, f"{last}: {type(error).__name__}: {error}"
    if len(set(steps.values())) != 1:
        return -1, f"{last}: the shards disagree on the step: {steps}"
    return next(iter(steps.values())), None


def _environment(workdir: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "LIGHTNING_BIAS_CACHE": str(workdir / "cache")}


def _config(workdir: Path) -> Path:
    path = workdir / "checkpoint_every_step.yaml"
    path.write_text(f"""\
trainer:
  callbacks:
    - class_path: pytorch_lightning.callbacks.ModelCheckpoint
      init_args: {{dirpath: {workdir / 'checkpoints'}, every_n_train_steps: 1, save_last: true}}
""")
    return path


def _fit(workdir: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lightning_bias", "fit", *ARGS, "--config", str(_config(workdir)),
               f"--trainer.default_root_dir={workdir}", *extra]
    with open(workdir / "runs.log", "a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=REPO_ROOT, env=_environment(workdir), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _link_target(last: Path) -> str | None:
    try:
        return os.readlink(last)
    except OSError:
        return None


def _kill_during_saves(process: subprocess.Popen, last: Path, rng: random.Random) -> None:
    """Wait until this run has saved ``last.ckpt`` once, then SIGKILL all its processes a random moment later."""
    before = _link_target(last)
    deadline = time.monotonic() + RUN_TIMEOUT
    while _link_target(last) in (before, None):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the run ended (code {process.returncode}) or hung before saving a checkpoint; "
                               f"see {last.parent.parent / 'runs.log'}")
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def kill_loop(kills: int, workdir: Path, seed: int = 0) -> KillLoopResult:
    """Run ``kills`` rounds of resume-save-kill on one run in ``workdir`` (emptied first), then a final resume."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    rng = random.Random(seed)
    last = workdir / "checkpoints" / "last.ckpt"
    result = KillLoopResult()
    for _ in range(kills):
        resume = ["--ckpt_path", "last"] if last.exists() else []
        _kill_during_saves(_fit(workdir, *resume), last, rng)
        linked = {_link_target(link) for link in last.parent.glob("*.ckpt")}
        leftovers = [p for p in last.parent.glob(".*.staging-*") if p.name not in linked]
        result.interrupted_saves += bool(leftovers)
        step, problem = checkpoint_problem(last)
        result.steps.append(step)
        if problem is not None:
            result.problems.append(problem)
            return result
    step = result.steps[-1] if result.steps else 0
    final = _fit(workdir, "--ckpt_path", "last", "--trainer.max_steps", str(step + 1))
    result.final_run_ok = final.wait(timeout=RUN_TIMEOUT) == 0 and checkpoint_problem(last) == (step + 1, None)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--workdir", type=Path, required=True, help="emptied first; runs.log there has every run's output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = kill_loop(args.kills, args.workdir, args.seed)
    print(f"steps of last.ckpt after each kill: {result.steps}")
    for problem in result.problems:
        print(f"problem: {problem}")
    print(result.summary())
    return 0 if not result.problems and result.final_run_ok else 1


if __name__ == "__main__":
    sys.exit(main())
