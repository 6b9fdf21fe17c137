"""How many intra-op threads torch uses in each process of a run when the user has not said.

The rule: ``max(1, usable cores // local processes)``, where the usable cores are the CPUs this process
may run on (its affinity mask, which ``taskset``, a container or a batch scheduler may narrow) and the
local processes are the run's processes on this machine. Left alone, torch starts one thread per core
in every process (Lightning divides the cores only among ranks it launches itself, and counts all of
the machine's); with more busy threads than cores, OpenMP waits at every parallel region for a thread
that is not running, and a small model trains several times slower.

The user's choice always wins: with ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the environment
nothing is changed. Otherwise the chosen count is also written to ``OMP_NUM_THREADS`` so that every
child process (the ranks Lightning spawns, which re-run the same command line; DataLoader workers)
starts with it. The rule cannot see other programs: on a machine that other work keeps busy, fewer
threads (``OMP_NUM_THREADS=1``) are faster. torch's CPU kernels are not bit-identical across thread
counts, so the count goes into the run's report (``runtime_record``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_info

from lightning_bias.training.strategies import _requested_device_count

USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# set by the launcher of each rank: torchrun (LOCAL_WORLD_SIZE), DeepSpeed's launcher (LOCAL_SIZE)
LAUNCHER_LOCAL_SIZE_VARIABLES = ("LOCAL_WORLD_SIZE", "LOCAL_SIZE")


def usable_cores() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one, else all CPUs."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def _positive_int(environ: Mapping[str, str], name: str) -> int:
    text = environ[name]
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(
            f"environment variable {name}={text!r} must be a positive integer (processes per machine)"
        )
    return int(text)


def local_process_count(trainer: Mapping[str, Any], environ: Mapping[str, str]) -> int:
    """How many processes of this run share this machine.

    Args:
        trainer: the ``trainer`` section of the parsed config (``accelerator``, ``devices``); read
            only when no launcher says, i.e. when Lightning itself starts one process per device.
        environ: the process environment.

    A launcher that starts every rank says how many it started here: ``LOCAL_WORLD_SIZE`` (torchrun),
    ``LOCAL_SIZE`` (DeepSpeed's launcher), ``SLURM_NTASKS_PER_NODE`` in a task of ``srun`` (Lightning's
    SLURM set-up asks for ``--ntasks-per-node``). Otherwise Lightning starts ``trainer.devices`` processes
    on each node (``auto`` or ``-1``: one per GPU there is, or one on CPU).
    """
    for name in LAUNCHER_LOCAL_SIZE_VARIABLES:
        if environ.get(name):
            return _positive_int(environ, name)
    if environ.get("SLURM_LOCALID") is not None and environ.get("SLURM_NTASKS_PER_NODE"):
        return _positive_int(environ, "SLURM_NTASKS_PER_NODE")
    requested = _requested_device_count(trainer.get("devices"))
    if requested is not None:
        return max(1, requested)
    accelerator = trainer.get("accelerator")
    accelerator = accelerator.lower() if isinstance(accelerator, str) else "auto"
    on_gpus = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return max(1, torch.cuda.device_count()) if on_gpus else 1


def threads_per_process(cores: int, local_processes: int, environ: Mapping[str, str]) -> int | None:
    """The intra-op thread count for each process, or ``None`` when the environment already sets one.

    ``max(1, cores // local_processes)``: threads × processes never exceed the cores (unless there are
    more processes than cores, when each still needs one thread).
    """
    if any(environ.get(name) for name in USER_THREAD_VARIABLES):
        return None
    return max(1, cores // max(1, local_processes))


def apply_thread_choice(trainer: Mapping[str, Any], environ: MutableMapping[str, str] | None = None) -> int:
    """Set torch's intra-op threads (and ``OMP_NUM_THREADS``) for this run unless the user has; log it once.

    Args:
        trainer: the ``trainer`` section of the parsed config (see ``local_process_count``).
        environ: the environment to read and write, ``os.environ`` by default.

    Returns the thread count torch now uses in this process.
    """
    environ = os.environ if environ is None else environ
    cores = usable_cores()
    local = local_process_count(trainer, environ)
    threads = threads_per_process(cores, local, environ)
    if threads is None:
        chosen_by = ", ".join(
            f"{name}={environ[name]}" for name in USER_THREAD_VARIABLES if environ.get(name)
        )
        rank_zero_info(f"torch threads: {torch.get_num_threads()} per process (set by {chosen_by})")
        return torch.get_num_threads()
    torch.set_num_threads(threads)
    environ["OMP_NUM_THREADS"] = str(threads)
    rank_zero_info(
        f"torch threads: {threads} per process ({cores} usable cores, {local} local process"
        f"{'es' if local != 1 else ''}; set OMP_NUM_THREADS to override)"
    )
    return threads


def runtime_record(local_processes: int, world_size: int) -> dict[str, int]:
    """What a report records of how it was computed: results can differ slightly with the thread count."""
    return {
        "torch_threads": torch.get_num_threads(),
        "local_processes": local_processes,
        "world_size": world_size,
    }
