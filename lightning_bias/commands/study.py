"""``lightning_bias study run | status | report``: a grid of runs as one resumable command.

``study run --config configs/study/NAME.yaml [--dir DIR] [--executor local|slurm] [--workers N]
[--retry-failed] [--reuse-from DIR] [--dry-run]`` resolves and validates every cell first — each fit and pre-training
config is parsed here, in this process, by the same parsers ``fit``/``pretrain`` use (``--print_config``),
and every ``mitigations:``/``evaluations:`` entry is built once — so a bad axis value is one error
before anything runs; then runs what is not done and writes results.csv/.parquet and the report.
``study status --dir DIR`` prints the cells' states; ``study report --dir DIR`` rebuilds the report
from ``results.csv`` alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lightning_bias study", description="Run a study: a resumable grid of runs.")
    verbs = parser.add_subparsers(dest="action", required=True)
    run = verbs.add_parser("run", help="run the cells that are not done, then write results and the report")
    run.add_argument("--config", required=True, help="the study config (configs/study/NAME.yaml)")
    run.add_argument("--dir", help="the study directory (default: runs/study/<name>)")
    run.add_argument("--executor", choices=("local", "slurm"), default="local")
    run.add_argument("--workers", type=int, default=None,
                     help="local: parallel cells (default: one per usable core, one torch thread each); "
                          "slurm: the job array's parallelism cap")
    run.add_argument("--reuse-from", metavar="DIR",
                     help="first copy the cells finished in another study directory whose resolved config is the "
                          "same (e.g. the directory of an earlier version of this study config)")
    run.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    run.add_argument("--dry-run", action="store_true", help="list the cells and their state; run nothing")
    for action in ("status", "report"):
        verb = verbs.add_parser(action, help=f"{action} of a study directory")
        verb.add_argument("--dir", required=True, help="the study directory")
    return parser


def _printed_config(run_cli: Any, args: Sequence[str]) -> dict[str, Any]:
    """The config ``args`` resolve to, as ``--print_config`` prints it (parsed here; nothing is built)."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            run_cli([*args, "--print_config"])
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise ValueError(f"the config did not resolve: {printed.getvalue().strip()}") from None
    return yaml.safe_load(printed.getvalue())


def _check_plugins(config: dict[str, Any]) -> None:
    """Build every short-name plugin once: an unknown name or bad argument fails now, not mid-study."""
    from lightning_bias.commands.lightning_cli import PLUGIN_LISTS
    from lightning_bias.plugin_registry import build_from_spec

    for key, (group, base) in PLUGIN_LISTS.items():
        for spec in config.get(key) or []:
            build_from_spec(group, spec, base)


def resolve_fit(args: Sequence[str]) -> dict[str, Any]:
    from lightning_bias.commands.lightning_cli import run_fit_cli

    config = _printed_config(run_fit_cli, ["fit", *args])
    _check_plugins(config)
    return config


def resolve_pretrain(args: Sequence[str]) -> dict[str, Any]:
    from lightning_bias.commands.lightning_cli import run_pretrain_cli

    config = _printed_config(run_pretrain_cli, list(args))
    _check_plugins(config)
    return config


def _dry_run(cells: list[Any], study_dir: Path) -> None:
    from lightning_bias.study.directory import cell_dir, read_state

    print(f"{len(cells)} cells (study directory {study_dir}):")
    for cell in cells:
        status = read_state(cell_dir(study_dir, cell.kind, cell.id))["status"]
        needs = f"  needs {', '.join(cell.depends_on)}" if cell.depends_on else ""
        print(f"{cell.kind:9} {cell.id}  {status:7}  {cell.label}{needs}")


def _write_report(study_dir: Path) -> None:
    from lightning_bias.study.report import write_study_report

    print(f"study report: {write_study_report(study_dir)}")


def _run(options: argparse.Namespace) -> None:
    from lightning_bias.study.cells import plan_cells
    from lightning_bias.study.config import load_study_config
    from lightning_bias.study.directory import check_study_directory
    from lightning_bias.study.executors import LocalExecutor, SlurmExecutor
    from lightning_bias.study.runner import run_study

    study = load_study_config(options.config)
    study_dir = Path(options.dir or Path("runs") / "study" / study.name)
    check_study_directory(study_dir, study)
    cells = plan_cells(study, resolve_fit, resolve_pretrain)
    if options.dry_run:
        _dry_run(cells, study_dir)
        return
    if options.executor == "slurm":
        executor = SlurmExecutor(study_dir / "slurm", study.slurm, options.workers)
    else:
        executor = LocalExecutor(options.workers)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` of the runner stops its cells as Ctrl-C does
    try:
        counts = run_study(study, cells, study_dir, executor, retry_failed=options.retry_failed,
                           reuse_from=Path(options.reuse_from) if options.reuse_from else None)
    except KeyboardInterrupt:
        sys.exit(130)  # the runner said what it stopped; `study run` again continues
    print(f"study {study.name}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
          + f"; results: {study_dir / 'results.csv'}")
    _write_report(study_dir)
    if counts.get("failed"):
        print(f"{counts['failed']} cells failed: `lightning_bias study status --dir {study_dir}` shows their "
              "errors; `study run ... --retry-failed` runs them again", file=sys.stderr)
        sys.exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def study_verb(args: Sequence[str]) -> None:
    """``lightning_bias study ...``."""
    options = _parser().parse_args(list(args))
    if options.action == "run":
        _run(options)
    elif options.action == "status":
        from lightning_bias.study.status import print_status

        print_status(Path(options.dir))
    else:
        _write_report(Path(options.dir))
