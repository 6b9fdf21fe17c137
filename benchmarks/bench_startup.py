"""Start-up time of the ``lightning_bias`` command: each command in a fresh process, N times.

Commands and targets (seconds, median of the runs)::

    lightning_bias --help                                          <= 1.5
    lightning_bias plugins                                         <= 1.5
    lightning_bias fit --config configs/tiny.yaml --print_config   <= 5.0

Each run is a new Python process (``subprocess``), so nothing is cached in memory between runs except
what the operating system caches (files, compiled ``.pyc``); the first round is a warm-up and is not
counted. Commands alternate within a round so that a change of machine load hits all of them alike.
The load average before and after is printed: figures taken while other work shares the machine
are slower than the machine can do; the CPU time (user + system) of each run is printed too, as it
depends less on that load than the wall time does. Prints a table, then one JSON line (the only line starting
with ``{``)::

    {"bench": "startup", "load_before": 0.3, "load_after": 0.4, "commands": {"help": {...}, ...}}

Usage::

    python benchmarks/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMANDS: dict[str, tuple[list[str], float]] = {
    "help": (["--help"], 1.5),
    "plugins": (["plugins"], 1.5),
    "print_config": (["fit", "--config", "configs/tiny.yaml", "--print_config"], 5.0),
}


def _entry_point() -> list[str]:
    """The installed console script (what a user runs), else ``python -m lightning_bias``."""
    script = shutil.which("lightning_bias", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "lightning_bias"]


def _run_once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="counted runs per command (after one warm-up)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    entry = _entry_point()
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu_times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for round_ in range(args.repeats + 1):
        for name, (command, _) in COMMANDS.items():
            wall, cpu = _run_once([*entry, *command])
            if round_ > 0:
                times[name].append(wall)
                cpu_times[name].append(cpu)
    load_after = os.getloadavg()[0]

    results = {}
    print(f"load average {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} cores")
    print(f"{'command':<14}{'median s':>10}{'min s':>9}{'CPU s':>9}{'target s':>10}  within target")
    for name, (command, target) in COMMANDS.items():
        median, fastest, cpu = (
            statistics.median(times[name]),
            min(times[name]),
            statistics.median(cpu_times[name]),
        )
        results[name] = {
            "command": " ".join(["lightning_bias", *command]),
            "median_s": round(median, 3),
            "min_s": round(fastest, 3),
            "median_cpu_s": round(cpu, 3),
            "target_s": target,
            "median_within_target": median <= target,
        }
        print(
            f"{name:<14}{median:>10.2f}{fastest:>9.2f}{cpu:>9.2f}{target:>10.1f}  {'yes' if median <= target else 'NO'}"
        )
    print(
        json.dumps(
            {
                "bench": "startup",
                "repeats": args.repeats,
                "load_before": round(load_before, 2),
                "load_after": round(load_after, 2),
                "cores": os.cpu_count(),
                "commands": results,
            }
        )
    )


if __name__ == "__main__":
    main()
