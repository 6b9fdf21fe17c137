"""Where cells run: a local worker pool, or SLURM job arrays through submitit.

Both take ``CellRun``s and hand back handles the scheduler polls; the cell itself records its state
(``cell_run.execute_cell``), so a handle only says whether the work has ended and, if it died without
recording anything (a killed job, a worker exception), why.

Local: ``workers`` threads, each running one cell's subprocess at a time with ``threads`` torch threads,
``workers x threads <= usable cores``. On the 2-core development machine 2 workers x 1 thread ran the
tiny study faster than 1 worker x 2 threads (docs/STUDIES.md gives the figures), so the default is one
worker per usable core, one thread each.

SLURM: each batch of ready cells is one job array (``executor.map_array``), at most
``slurm_array_parallelism`` of its tasks running at once; the study config's ``slurm:`` mapping is
passed to submitit's ``AutoExecutor.update_parameters`` (``timeout_min``, ``slurm_partition``,
``gpus_per_node``, ``tasks_per_node``, ``nodes``, ``cpus_per_task``, ``mem_gb``, ...), so a cell can
be a multi-GPU or multi-node DeepSpeed run given a strategy config among its fragments.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lightning_bias.study.cell_run import CellRun, execute_cell

ACTIVE_SLURM_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"})
THREADS_PER_WORKER = 1  # measured faster than fewer workers with more threads (docs/STUDIES.md)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def local_layout(workers: int | None) -> tuple[int, int]:
    """(workers, torch threads per worker): by default one worker per ``THREADS_PER_WORKER`` usable cores;
    given ``workers``, the cores shared among them."""
    cores = usable_cores()
    if workers is None:
        workers = max(1, cores // THREADS_PER_WORKER)
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    return workers, max(1, cores // workers)


class LocalExecutor:
    """A pool of ``workers`` threads; each runs one cell's subprocess at a time."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers, self.threads = local_layout(workers)
        self.capacity = self.workers
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="study-worker")

    def submit(self, runs: list[CellRun]) -> list[Future]:
        return [self._pool.submit(execute_cell, run) for run in runs]

    @staticmethod
    def ended(handle: Future) -> bool:
        return handle.done()

    @staticmethod
    def failure(handle: Future) -> str:
        """Why a worker ended without recording its cell (the exception it raised)."""
        error = handle.exception()
        return f"worker raised {type(error).__name__}: {error}" if error else "the worker recorded no state"

    @staticmethod
    def job_id(handle: Future) -> None:
        return None

    @staticmethod
    def still_running(state: dict[str, Any]) -> bool:
        """A local cell left ``running`` belongs to a killed study: the study lock proves no one runs it."""
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class SlurmExecutor:
    """Job arrays through submitit; ``parallelism`` caps how many tasks of an array run at once."""

    name = "slurm"
    threads = None  # the job's cpus_per_task decides (training.threads)

    def __init__(self, folder: Path, parameters: dict[str, Any], parallelism: int | None = None) -> None:
        import submitit

        self._folder = folder
        self._executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        settings = dict(parameters)
        if parallelism is not None:
            settings["slurm_array_parallelism"] = parallelism
        try:
            self._executor.update_parameters(**settings)
        except (ValueError, TypeError) as err:
            raise ValueError(f"study config `slurm:` settings: {err}") from err
        self.workers = settings.get("slurm_array_parallelism")
        self.capacity = None  # SLURM queues everything; the array's parallelism cap throttles

    def submit(self, runs: list[CellRun]) -> list[Any]:
        return list(self._executor.map_array(execute_cell, runs))

    @staticmethod
    def ended(handle: Any) -> bool:
        return handle.done()

    @staticmethod
    def failure(handle: Any) -> str:
        return f"SLURM job {handle.job_id} ended ({handle.state}) without recording the cell; see {handle.paths.stderr}"

    @staticmethod
    def job_id(handle: Any) -> str:
        return str(handle.job_id)

    def still_running(self, state: dict[str, Any]) -> bool:
        """Whether the SLURM job a cell left ``running`` is still queued or running (asks ``sacct``)."""
        from submitit.slurm.slurm import SlurmJob

        if not state.get("job_id"):
            return False
        job = SlurmJob(folder=self._folder, job_id=str(state["job_id"]))
        return job.get_info(mode="force").get("State", "UNKNOWN").split()[0] in ACTIVE_SLURM_STATES

    def close(self) -> None:
        """Nothing to release: submitted jobs belong to SLURM."""
