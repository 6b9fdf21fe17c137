"""``study status``: every cell's state, its measured time, and an estimate of what is left, as a rich table."""

from __future__ import annotations

import os
import socket
import statistics
from pathlib import Path
from typing import Any

from lightning_bias.study.directory import DONE, FAILED, PENDING, RUNNING, read_json, recorded_cells

STATUSES = (DONE, RUNNING, FAILED, PENDING)


def remaining_seconds(cells: list[dict[str, Any]], workers: int) -> float | None:
    """Time left: each pending or running cell costs the median measured time of finished cells of its kind
    (of any kind where its own has none yet), spread over ``workers``; ``None`` before any cell finished."""
    measured: dict[str, list[float]] = {}
    for cell in cells:
        if cell["state"]["status"] == DONE and cell["state"].get("wall_seconds") is not None:
            measured.setdefault(cell["kind"], []).append(cell["state"]["wall_seconds"])
    if not measured:
        return None
    overall = statistics.median(t for times in measured.values() for t in times)
    left = sum(statistics.median(measured[c["kind"]]) if c["kind"] in measured else overall
               for c in cells if c["state"]["status"] in (PENDING, RUNNING))
    return left / max(1, workers)


def interrupted(state: dict[str, Any]) -> bool:
    """A cell recorded ``running`` on this host by a process that is gone: its study was killed (the next
    ``study run`` runs it again). A SLURM cell (job id) or another host's cannot be judged here."""
    if state["status"] != RUNNING or state.get("job_id") or state.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(state["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    return False


def status_summary(study_dir: Path) -> dict[str, Any]:
    """Counts per status, the estimate of what is left, and the cells, for the table (and for tests)."""
    if read_json(study_dir / "study.json") is None:
        raise ValueError(f"{study_dir} is not a study directory (no study.json); start one with `study run`")
    cells = recorded_cells(study_dir)
    runner = read_json(study_dir / "runner.json") or {}
    counts = {status: sum(c["state"]["status"] == status for c in cells) for status in STATUSES}
    return {"cells": cells, "counts": counts, "workers": runner.get("workers") or 1,
            "remaining_seconds": remaining_seconds(cells, runner.get("workers") or 1)}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def print_status(study_dir: Path) -> dict[str, Any]:
    """Print the table and the summary line; returns ``status_summary``."""
    from rich.console import Console
    from rich.table import Table

    summary = status_summary(study_dir)
    table = Table(title=f"study {study_dir}")
    for column in ("kind", "cell", "what", "status", "time", "error"):
        table.add_column(column, overflow="fold")
    colours = {DONE: "green", RUNNING: "yellow", FAILED: "red", PENDING: "dim"}
    for cell in summary["cells"]:
        state = cell["state"]
        shown = "interrupted (runs again)" if interrupted(state) else state["status"]
        table.add_row(cell["kind"], cell["id"], cell["label"], f"[{colours[state['status']]}]{shown}[/]",
                      _duration(state.get("wall_seconds")), state.get("error") or "")
    console = Console()
    console.print(table)
    counts = summary["counts"]
    stale = sum(interrupted(cell["state"]) for cell in summary["cells"])
    console.print(", ".join(f"{counts[s]} {s}" for s in STATUSES)
                  + (f" ({stale} of them interrupted: their process is gone)" if stale else "")
                  + f"; estimated time left: {_duration(summary['remaining_seconds'])}"
                  + f" ({summary['workers']} workers, median measured time per kind)")
    return summary
