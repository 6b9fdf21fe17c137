"""Progress of the long data steps: tokenization, counterfactual augmentation, ``data inspect``.

A step is announced with ``data_step(description, total)`` and advanced from inside it with
``advance_data_step(rows)``, a module-level function: the function a ``datasets`` map runs can call it
without anything unpicklable entering the map's fingerprint. Steps may nest; an advance counts for the
innermost.

Nothing is shown until the command line chooses a display (``show_data_step_progress``), so a process
that imports ``lightning_bias`` as a library prints nothing new. Then, on global rank zero only:

- ``"live"`` (a terminal): a rich bar per step, removed when the step ends;
- ``"lines"`` (a log file): a plain line every ``every_n_seconds`` while a step runs, and a closing line
  for a step that printed any, so short steps add nothing to a log::

      tokenizing train: 61,440/257,000 rows (24%), 5,102 rows/s, ETA 0:00:38
      tokenizing train: 257,000 rows in 50.4 s
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from pytorch_lightning.utilities.rank_zero import rank_zero_only

Display = Literal["live", "lines"]


@dataclass
class _Step:
    description: str
    total: int
    done: int = 0
    start: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)
    lines: int = 0
    bar: Any = None  # the live display's rich Progress, while one shows this step

    def elapsed(self) -> float:
        return max(time.monotonic() - self.start, 1e-9)

    def line(self) -> str:
        rate = self.done / self.elapsed()
        parts = [f"{self.description}: {self.done:,}/{self.total:,} rows"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:,.0f} rows/s")
        if rate > 0 and self.total >= self.done:
            parts.append(f"ETA {datetime.timedelta(seconds=round((self.total - self.done) / rate))}")
        return ", ".join(parts)


class _Settings:
    display: Display | None = None
    every_n_seconds = 10.0
    stream: TextIO | None = None  # None: the process's standard error at the time of writing


_active: list[_Step] = []


def show_data_step_progress(display: Display | None, every_n_seconds: float = 10.0,
                            stream: TextIO | None = None) -> None:
    """Choose how data steps show their progress in this process: ``"live"`` bars (a terminal), plain
    ``"lines"`` (a log file), or ``None`` (nothing, the default).

    Args:
        display: the display, or ``None`` to show nothing.
        every_n_seconds: with ``"lines"``, the least time between two lines of one step.
        stream: where to write (default: standard error).
    """
    if display not in ("live", "lines", None):
        raise ValueError(f"show_data_step_progress: display must be 'live', 'lines' or None, got {display!r}")
    if not every_n_seconds >= 0:
        raise ValueError(f"show_data_step_progress: every_n_seconds must be 0 or more, got {every_n_seconds!r}")
    _Settings.display, _Settings.every_n_seconds, _Settings.stream = display, float(every_n_seconds), stream


def _stream() -> TextIO:
    return _Settings.stream or sys.stderr


def _start_bar(step: _Step) -> None:
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(file=_stream()), transient=True)
    try:
        bar.start()
    except LiveError:  # another live display (a training bar) holds the terminal: this step shows nothing
        return
    bar.add_task(step.description, total=step.total)
    step.bar = bar


@contextlib.contextmanager
def data_step(description: str, total: int) -> Iterator[None]:
    """Show the progress of a step over ``total`` rows while the ``with`` block runs."""
    step = _Step(description, int(total))
    shown = _Settings.display if rank_zero_only.rank == 0 else None
    if shown == "live":
        _start_bar(step)
    _active.append(step)
    try:
        yield
    finally:
        _active.remove(step)
        if step.bar is not None:
            step.bar.stop()
        if shown == "lines" and step.lines:
            print(f"{step.description}: {step.done:,} rows in {step.elapsed():.1f} s", file=_stream(), flush=True)


def advance_data_step(rows: int) -> None:
    """Count ``rows`` more rows done in the innermost running step (nothing when no step runs)."""
    if not _active:
        return
    step = _active[-1]
    step.done += rows
    if step.bar is not None:
        step.bar.update(step.bar.task_ids[0], completed=step.done)
    elif _Settings.display == "lines" and rank_zero_only.rank == 0:
        now = time.monotonic()
        if now - step.last_line >= _Settings.every_n_seconds:
            print(step.line(), file=_stream(), flush=True)
            step.last_line, step.lines = now, step.lines + 1
