"""Running one cell: a ``python -m lightning_bias <verb>`` subprocess, its state recorded before and after.

``execute_cell`` is what a local worker thread or a SLURM task calls (submitit pickles the ``CellRun``).
It records ``running`` (host, pid, job id), runs the verb with its output in ``log.txt``, and records
``done`` with the outputs it found, or ``failed`` with the run's error line. Under SLURM with several
tasks per job (a multi-GPU cell) every task runs the verb — Lightning reads its rank from SLURM — and
only task 0 records the state.

A cell's subprocess runs in a session of its own. ``stop_running_cells`` (the local runner calls it when
it is interrupted: Ctrl-C, or SIGTERM to the runner alone) ends every cell process group this process
started — SIGTERM, then SIGKILL after a grace period — and leaves those cells ``running``, which the next
``study run`` takes for a killed study's and runs again; they are not recorded as failed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning_bias.study.cells import FIT, INTRINSIC, PRETRAIN
from lightning_bias.study.directory import DONE, FAILED, RUNNING, write_state

INTRINSIC_OUTPUT = "intrinsic.json"
STOP_GRACE_SECONDS = 30.0
_live_cells: set[subprocess.Popen] = set()
_live_cells_lock = threading.Lock()
_stopping = threading.Event()
ERROR_PREFIX = "lightning_bias: error:"


@dataclass(frozen=True)
class CellRun:
    """What a worker needs to run one cell: where it lives, the verb's arguments, the threads to use."""

    cell_dir: str
    kind: str
    arguments: tuple[str, ...]
    working_dir: str
    threads: int | None = None
    attempt: int = 1


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def version_dir(run_root: Path) -> Path | None:
    """The newest ``lightning_logs/version_N`` under a run's ``default_root_dir``."""
    versions = sorted(run_root.glob("lightning_logs/version_*"), key=lambda p: int(p.name.split("_")[-1]))
    return versions[-1] if versions else None


def find_outputs(cell_dir: Path, kind: str) -> dict[str, str]:
    """What a finished run wrote that the study reads, relative to the cell directory; raises ``RuntimeError``
    when it is missing (the run exited 0 without its results)."""
    if kind == INTRINSIC:
        if not (cell_dir / INTRINSIC_OUTPUT).is_file():
            raise RuntimeError(f"evaluate-intrinsic wrote no {INTRINSIC_OUTPUT}")
        return {"intrinsic": INTRINSIC_OUTPUT}
    run = version_dir(cell_dir / "run")
    if run is None:
        raise RuntimeError("the run wrote no lightning_logs/version_N directory")
    if kind == PRETRAIN:
        if not (run / "hf_checkpoint").is_dir():
            raise RuntimeError(f"pretrain wrote no hf_checkpoint/ in {run}")
        return {"run_dir": str(run.relative_to(cell_dir)), "hf_checkpoint": str((run / "hf_checkpoint").relative_to(cell_dir))}
    report = next((run / name for name in ("bias_report_test.json", "bias_report.json") if (run / name).is_file()), None)
    if report is None:
        raise RuntimeError(f"fit wrote no bias report in {run}")
    return {"run_dir": str(run.relative_to(cell_dir)), "bias_report": str(report.relative_to(cell_dir))}


def error_line(log: Path, returncode: int) -> str:
    """The run's one-line error (the CLI prints it after ``lightning_bias: error:``), else its last line."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line.removeprefix(ERROR_PREFIX).strip()
    last = lines[-1] if lines else "(no output)"
    return f"exit code {returncode}: {last}"


def _environment(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads and not env.get("OMP_NUM_THREADS"):
        env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("WANDB_MODE", "offline")
    return env


def execute_cell(run: CellRun) -> str:
    """Run one cell to its end and record it; returns the status (``done`` or ``failed``)."""
    directory = Path(run.cell_dir)
    primary = os.environ.get("SLURM_PROCID", "0") == "0"
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID") and f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
    state: dict[str, Any] = {"status": RUNNING, "started": now(), "host": socket.gethostname(), "pid": os.getpid(),
                             "job_id": job_id or os.environ.get("SLURM_JOB_ID"), "attempt": run.attempt,
                             "threads": run.threads}
    if primary:
        write_state(directory, state)
    start = time.monotonic()
    log = directory / ("log.txt" if primary else f"log.task{os.environ.get('SLURM_PROCID')}.txt")
    with open(log, "w", encoding="utf-8") as output, _live_cells_lock:
        if _stopping.is_set():
            return RUNNING
        process = subprocess.Popen([sys.executable, "-m", "lightning_bias", *run.arguments], cwd=run.working_dir,
                                   stdout=output, stderr=subprocess.STDOUT, env=_environment(run.threads),
                                   start_new_session=True)
        _live_cells.add(process)
    returncode = process.wait()
    with _live_cells_lock:
        _live_cells.discard(process)
    if _stopping.is_set():
        return RUNNING  # stopped by the runner: left `running`, so the next `study run` runs it again
    state.update(wall_seconds=round(time.monotonic() - start, 2), finished=now())
    if returncode == 0:
        try:
            state.update(status=DONE, error="", outputs=find_outputs(directory, run.kind))
        except RuntimeError as missing:
            state.update(status=FAILED, error=str(missing))
    else:
        state.update(status=FAILED, error=error_line(log, returncode))
    if primary:
        write_state(directory, state)
    return state["status"]


def stop_running_cells(grace: float = STOP_GRACE_SECONDS) -> int:
    """End every cell process group this process started (SIGTERM, SIGKILL after ``grace`` seconds) and start
    no new one; returns how many were running. Their cells stay ``running`` (see the module docstring)."""
    with _live_cells_lock:
        _stopping.set()
        processes = list(_live_cells)
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    return len(processes)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass  # already gone


def verb_arguments(kind: str, directory: Path, model: str | None, intrinsic_arguments: list[str]) -> tuple[str, ...]:
    """The ``lightning_bias`` arguments that run a cell from its directory's ``config.yaml``."""
    if kind == FIT:
        return ("fit", "--config", str(directory / "config.yaml"))
    if kind == PRETRAIN:
        return ("pretrain", "--config", str(directory / "config.yaml"))
    return ("evaluate-intrinsic", "--model", str(model), *intrinsic_arguments, "--output", str(directory / INTRINSIC_OUTPUT))
