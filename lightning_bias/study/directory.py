"""The study directory on disk: ``study.json``, one directory per cell with its description and state, the lock.

Layout::

    STUDY_DIR/study.json                     what the study is (the report reads it)
    STUDY_DIR/plan.json                      the ids of the cells of the latest `study run`'s resolution
    STUDY_DIR/<kind>/<id>/cell.json          the cell: kind, label, axes, seed, dependencies
    STUDY_DIR/<kind>/<id>/state.json         status (pending | running | done | failed), error, wall_seconds,
                                             started/finished, host, pid, job_id, attempts, outputs
    STUDY_DIR/<kind>/<id>/config.yaml        the resolved config the run reads (fit, pretrain)
    STUDY_DIR/<kind>/<id>/run/               the run's default_root_dir (lightning_logs/version_0/...)
    STUDY_DIR/<kind>/<id>/log.txt            the run's output
    STUDY_DIR/results.csv, results.parquet   one row per finished or failed fit cell
    STUDY_DIR/slurm/                         submitit's files, with --executor slurm

Every JSON file is written atomically. A cell whose state is ``done`` is never written again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning_bias.reports.artifacts import write_json_atomic
from lightning_bias.study.cells import KINDS, Cell, axes_description
from lightning_bias.study.config import StudyConfig

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


def cell_dir(study_dir: Path, kind: str, cell_id: str) -> Path:
    return study_dir / kind / cell_id


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``, or ``None`` when there is none yet."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_state(directory: Path) -> dict[str, Any]:
    """A cell's state; ``pending`` when it never ran."""
    return read_json(directory / "state.json") or {"status": PENDING}


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """Record a cell's state, unless it is already done (a finished cell is never overwritten)."""
    if read_state(directory).get("status") == DONE:
        raise RuntimeError(f"cell {directory} is done; its state is not rewritten")
    write_json_atomic(directory / "state.json", state)


def study_description(study: StudyConfig) -> dict[str, Any]:
    return {"name": study.name, "config_path": str(study.path), "config_sha256": study.sha256,
            "axes": axes_description(study.axes), "seeds": list(study.seeds),
            "outcome": study.outcome, "accuracy": study.accuracy, "threshold": study.threshold}


def check_study_directory(study_dir: Path, study: StudyConfig) -> None:
    """Refuse a directory that another study config made (``study.json``'s ``config_sha256`` differs)."""
    existing = read_json(study_dir / "study.json")
    if existing is not None and existing.get("config_sha256") != study.sha256:
        raise ValueError(
            f"study directory {study_dir} was made by another study config ({existing.get('config_path')}, "
            f"sha256 {str(existing.get('config_sha256'))[:12]}...), not by {study.path} (sha256 {study.sha256[:12]}...); "
            "give a new --dir, or run the config that made it"
        )


def prepare_study_directory(study_dir: Path, study: StudyConfig, cells: list[Cell]) -> None:
    """Write ``study.json`` and each cell's ``cell.json`` (the first time only)."""
    check_study_directory(study_dir, study)
    if not (study_dir / "study.json").exists():
        write_json_atomic(study_dir / "study.json", study_description(study))
    write_json_atomic(study_dir / "plan.json", {"cells": [cell.id for cell in cells]})
    for cell in cells:
        directory = cell_dir(study_dir, cell.kind, cell.id)
        if not (directory / "cell.json").exists():
            write_json_atomic(directory / "cell.json", {
                "kind": cell.kind, "id": cell.id, "label": cell.label, "axes": cell.axes, "seed": cell.seed,
                "depends_on": list(cell.depends_on), "intrinsic": cell.intrinsic, "model": cell.model})


def reuse_finished_cells(study_dir: Path, source_dir: Path, cells: list[Cell]) -> list[Cell]:
    """Copy into ``study_dir`` every cell of ``cells`` that is not done here but is done in ``source_dir``
    (another study directory, e.g. one made by an earlier version of the study config). A cell's id is the
    hash of its resolved config, so the same id there is the same run. Each copy goes to a hidden staging
    directory first and is renamed into place whole. Returns the cells copied."""
    if read_json(source_dir / "study.json") is None:
        raise ValueError(f"--reuse-from {source_dir} is not a study directory (no study.json); "
                         "name a directory that `study run` made")
    if source_dir.resolve() == study_dir.resolve():
        raise ValueError(f"--reuse-from {source_dir} is the study directory itself; name another one")
    copied = []
    for cell in cells:
        source, target = cell_dir(source_dir, cell.kind, cell.id), cell_dir(study_dir, cell.kind, cell.id)
        if read_state(source).get("status") != DONE or read_state(target).get("status") == DONE:
            continue
        staging = target.parent / f".{cell.id}.reuse-{uuid.uuid4().hex[:8]}"
        shutil.copytree(source, staging, symlinks=True)
        if (target / "cell.json").exists():  # this study's description of the cell (its labels) wins
            shutil.copyfile(target / "cell.json", staging / "cell.json")
        if target.exists():  # a pending, failed or interrupted attempt here: replaced by the finished one
            shutil.rmtree(target)
        os.rename(staging, target)
        copied.append(cell)
    return copied


def superseded_cells(study_dir: Path) -> list[Path]:
    """Cell directories of this study that its latest plan no longer has: their config resolved differently
    under an earlier version of the code (a new option, another default). Kept, never read."""
    planned = set((read_json(study_dir / "plan.json") or {}).get("cells", []))
    return [path.parent for kind in KINDS for path in sorted((study_dir / kind).glob("*/cell.json"))
            if path.parent.name not in planned]


def recorded_cells(study_dir: Path) -> list[dict[str, Any]]:
    """Every cell of the latest plan (``plan.json``, written by each ``study run``; without one, every cell)
    that has a directory: its ``cell.json`` with ``state`` and ``dir`` added, kind by kind."""
    plan = read_json(study_dir / "plan.json")
    cells = []
    for kind in KINDS:
        for path in sorted((study_dir / kind).glob("*/cell.json")):
            if plan is not None and path.parent.name not in plan["cells"]:
                continue
            cell = json.loads(path.read_text(encoding="utf-8"))
            cells.append({**cell, "dir": path.parent, "state": read_state(path.parent)})
    return cells


@contextlib.contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Hold ``STUDY_DIR/.lock`` for one ``study run`` at a time; a second one is an error, not a race."""
    study_dir.mkdir(parents=True, exist_ok=True)
    with open(study_dir / ".lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another `study run` is running in {study_dir}; wait for it or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
