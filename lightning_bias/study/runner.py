"""``study run``: run the cells of a study that are not done, dependencies first, then rebuild the results.

Resumable and idempotent: a ``done`` cell is skipped (its directory is never written again); a cell
left ``running`` by a killed study is run again from scratch (the study lock proves nobody else runs
it); a ``failed`` cell keeps its error until ``retry_failed``. A cell whose dependency failed is
recorded failed, naming it, without running.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lightning_bias.reports.artifacts import atomic_write_text, write_json_atomic
from lightning_bias.study.cell_run import CellRun, now, stop_running_cells, verb_arguments
from lightning_bias.study.cells import INTRINSIC, PRETRAIN_REFERENCE, Cell
from lightning_bias.study.config import StudyConfig
from lightning_bias.study.directory import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    cell_dir,
    prepare_study_directory,
    read_state,
    reuse_finished_cells,
    study_lock,
    superseded_cells,
    write_state,
)
from lightning_bias.study.results import write_results

POLL_SECONDS = 0.5


def _checkpoint_of(study_dir: Path, reference: Any) -> Any:
    """``@pretrain:<id>`` -> the absolute path of that pre-training cell's ``hf_checkpoint``; anything else as is."""
    if not (isinstance(reference, str) and reference.startswith(PRETRAIN_REFERENCE)):
        return reference
    directory = cell_dir(study_dir, "pretrain", reference.removeprefix(PRETRAIN_REFERENCE))
    return str((directory / read_state(directory)["outputs"]["hf_checkpoint"]).resolve())


def _prepare_run(study: StudyConfig, study_dir: Path, cell: Cell, working_dir: Path, threads: int | None) -> CellRun:
    """Clear what an unfinished earlier attempt left, write the config the run reads, say how to run it."""
    directory = cell_dir(study_dir, cell.kind, cell.id)
    shutil.rmtree(directory / "run", ignore_errors=True)
    model = None
    if cell.kind == INTRINSIC:
        model = _checkpoint_of(study_dir, cell.model)
    else:
        config = copy.deepcopy(cell.config)
        config.setdefault("trainer", {})["default_root_dir"] = str((directory / "run").resolve())
        if "model" in config and isinstance(config["model"], dict):
            config["model"]["model"] = _checkpoint_of(study_dir, config["model"].get("model"))
        atomic_write_text(directory / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    attempt = int(read_state(directory).get("attempt", 0)) + 1
    arguments = verb_arguments(cell.kind, directory.resolve(), model, list(study.intrinsic or ()))
    return CellRun(str(directory.resolve()), cell.kind, arguments, str(working_dir.resolve()), threads, attempt)


def _record_failure(study_dir: Path, cell: Cell, error: str) -> None:
    write_state(cell_dir(study_dir, cell.kind, cell.id), {"status": FAILED, "error": error, "finished": now()})


def run_study(
    study: StudyConfig,
    cells: list[Cell],
    study_dir: Path,
    executor: Any,
    retry_failed: bool = False,
    working_dir: Path = Path("."),
    say: Callable[[str], None] = print,
    reuse_from: Path | None = None,
) -> dict[str, int]:
    """Run every cell that is not done (failed ones only with ``retry_failed``) on ``executor``; write the
    results. With ``reuse_from``, first copy the cells finished there (same id, same resolved config).
    Returns the count of cells per final status."""
    prepare_study_directory(study_dir, study, cells)
    by_id = {cell.id: cell for cell in cells}
    with study_lock(study_dir):
        if reuse_from is not None:
            copied = reuse_finished_cells(study_dir, reuse_from, cells)
            say(f"reused {len(copied)} finished cells of {reuse_from} (same resolved config): "
                + (", ".join(f"{c.kind} {c.id}" for c in copied) or "none matched"))
        write_json_atomic(study_dir / "runner.json", {"executor": executor.name, "workers": executor.workers,
                                                      "threads": executor.threads, "started": now()})
        status = {cell.id: read_state(cell_dir(study_dir, cell.kind, cell.id))["status"] for cell in cells}
        for cell in cells:
            state = read_state(cell_dir(study_dir, cell.kind, cell.id))
            if state["status"] == RUNNING and executor.still_running(state):
                raise ValueError(f"{cell.kind} cell {cell.id} ({cell.label}) is still running as SLURM job "
                                 f"{state['job_id']}; wait for it to end (or scancel it), then run the study again")
        todo = [c for c in cells if status[c.id] != DONE and (status[c.id] != FAILED or retry_failed)]
        skipped = len(cells) - len(todo)
        superseded = superseded_cells(study_dir)
        if superseded:
            say(f"{len(superseded)} cell directories of an earlier resolution of this study are kept but no longer "
                "used (their configs resolve differently now: a new option or default of the code)")
        say(f"study {study.name}: {len(cells)} cells, {len(todo)} to run, {skipped} done or failed before "
            f"({executor.name} executor, {executor.workers or 'SLURM-capped'} workers)")
        for cell in todo:  # a `running` one was left by a killed study: the lock says no one runs it now
            status[cell.id] = PENDING
        in_flight: dict[str, Any] = {}
        waiting = list(todo)
        try:
            while waiting or in_flight:
                for cell in list(waiting):
                    dependency_failed = next((d for d in cell.depends_on if status[d] == FAILED), None)
                    if dependency_failed:
                        waiting.remove(cell)
                        _record_failure(study_dir, cell, f"needs {by_id[dependency_failed].label} ({dependency_failed}), which failed")
                        status[cell.id] = FAILED
                ready = [c for c in waiting if all(status[d] == DONE for d in c.depends_on)]
                if executor.capacity is not None:
                    ready = ready[: max(0, executor.capacity - len(in_flight))]
                if ready:
                    runs = [_prepare_run(study, study_dir, c, working_dir, executor.threads) for c in ready]
                    for cell, handle in zip(ready, executor.submit(runs), strict=True):
                        waiting.remove(cell)
                        in_flight[cell.id] = handle
                        say(f"started {cell.kind} {cell.id}: {cell.label}"
                            + (f" (job {executor.job_id(handle)})" if executor.job_id(handle) else ""))
                time.sleep(POLL_SECONDS if in_flight else 0)
                for cell_id, handle in list(in_flight.items()):
                    if not executor.ended(handle):
                        continue
                    del in_flight[cell_id]
                    cell = by_id[cell_id]
                    state = read_state(cell_dir(study_dir, cell.kind, cell_id))
                    if state["status"] not in (DONE, FAILED):
                        _record_failure(study_dir, cell, executor.failure(handle))
                        state = read_state(cell_dir(study_dir, cell.kind, cell_id))
                    status[cell_id] = state["status"]
                    say(f"{state['status']} {cell.kind} {cell_id}: {cell.label}"
                        + (f" in {state['wall_seconds']:.0f} s" if state.get("wall_seconds") is not None else "")
                        + (f": {state['error']}" if state["status"] == FAILED else ""))
        except KeyboardInterrupt:
            if executor.name == "local":
                stopped = stop_running_cells()
                say(f"study {study.name} interrupted: {stopped} running cells stopped; they run again with the "
                    "next `study run` (finished cells are kept)")
            raise
        finally:
            executor.close()
            write_results(study_dir)
    counts: dict[str, int] = {}
    for cell in cells:
        counts[status[cell.id]] = counts.get(status[cell.id], 0) + 1
    return counts
