"""Dead-rank detection: a distributed run that loses a rank stops promptly and says which one.

Without it, when one process of a multi-process run dies (killed, out of memory, a crashed
node) the others either wait in their next collective until the process-group timeout
(NCCL: tens of minutes by default) or fail with an error that names a socket, not a rank
(gloo: ``Connection closed by peer [127.0.0.1]:50375``).

``RankWatchdog`` is a Lightning callback. On every rank a daemon thread writes a heartbeat
counter into the process group's key-value store (the ``TCPStore`` every launcher already
sets up) and watches the next rank's heartbeat (``rank + 1 mod world``), so the store sees a
few operations per rank and interval, whatever the world size. When a watched rank's counter
has not moved for ``dead_after`` seconds, the watcher publishes a failure notice naming it;
every rank sees the notice at its next heartbeat, prints it and exits with ``exit_code``
(the main thread may be blocked inside a collective, so the thread ends the process).

The store itself lives in one process — rank 0 under Lightning's launchers, SLURM and the
DeepSpeed launcher; the torchrun agent of the first node under torchrun — and a frozen host
(SIGSTOP, a hung machine) answers no request: a store call then blocks instead of failing. So a
second thread on every rank, the guard, never touches the store and only watches the clock:
when the heartbeat thread has had no answer from the store for ``dead_after`` seconds (a call
blocked, or failing), the guard names the store's host as stopped and ends the process. Every
rank thus notices any other rank's death or freeze within ``dead_after`` plus one interval,
rank 0 included. When a
rank instead raises an exception (for instance gloo's "connection closed" because a peer
died), ``on_exception`` looks at every rank's heartbeat for a short moment and prints which
rank(s) stopped — or which rank failed first with which error — before the error propagates.

Normal ends never trip it: each rank marks itself done in ``teardown``, and losing contact
with the store only counts after ``dead_after`` seconds of failures (time enough for the
others to finish). Heartbeats count time on the watcher's own clock, so clocks of different
nodes need not agree.

Pair it with a process-group timeout for hangs where every process is alive but stuck:
``timeout`` of the DDP and DeepSpeed strategies (see ``configs/strategy/*.yaml``).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from pytorch_lightning.callbacks import Callback

STORE_PREFIX = "lightning_bias/rank_watchdog"


@dataclass(frozen=True)
class RankFailure:
    """A rank found dead or failed: ``rank``, where it ran and what is known (``reason``)."""

    rank: int
    where: str
    reason: str

    def describe(self) -> str:
        return f"rank {self.rank} ({self.where}) {self.reason}"


def _default_store() -> Any | None:
    """The default process group's key-value store, or ``None`` where torch does not expose it."""
    from torch.distributed import distributed_c10d

    getter = getattr(distributed_c10d, "_get_default_store", None)
    if getter is None or not dist.is_initialized():
        return None
    try:
        return getter()
    except (RuntimeError, ValueError):
        return None


class RankWatchdog(Callback):
    """Stop every rank within about ``dead_after`` seconds of one rank dying, naming the dead rank.

    Args:
        interval: seconds between heartbeats and checks (> 0).
        dead_after: a rank whose heartbeat has not advanced for this long is declared dead (> 2 x interval).
            Keep it above the longest stall a live process can have (a long checkpoint write does not stall
            the heartbeat thread; a frozen machine does).
        exit_code: exit status of a process that the watchdog stops (non-zero).

    Does nothing in single-process runs. The CLI adds one with default settings to every run
    (``with_rank_watchdog``); list it in ``trainer.callbacks`` to change them
    (``class_path: lightning_bias.training.rank_watchdog.RankWatchdog``).
    """

    def __init__(self, interval: float = 2.0, dead_after: float = 30.0, exit_code: int = 1) -> None:
        if interval <= 0:
            raise ValueError(f"RankWatchdog interval must be positive seconds, got {interval}")
        if dead_after <= 2 * interval:
            raise ValueError(
                f"RankWatchdog dead_after ({dead_after} s) must exceed two heartbeat intervals "
                f"(2 x {interval} s), or live ranks would be declared dead"
            )
        if exit_code == 0:
            raise ValueError("RankWatchdog exit_code must be non-zero: a stopped run is a failed run")
        self.interval = float(interval)
        self.dead_after = float(dead_after)
        self.exit_code = int(exit_code)
        self._store: Any | None = None
        self._rank = 0
        self._world_size = 1
        self._thread: threading.Thread | None = None
        self._guard: threading.Thread | None = None
        self._stop = threading.Event()
        self._store_answered_at = 0.0
        self._store_error: str | None = None
        self._known_where: dict[int, str] = {}
        self._session = 0
        self._beat = 0

    # --- store keys (one namespace per trainer stage, so fit then test in one process start clean) ---

    def _key(self, *parts: object) -> str:
        return "/".join([STORE_PREFIX, str(self._session), *map(str, parts)])

    def _get(self, key: str) -> str | None:
        assert self._store is not None
        if not self._store.check([key]):
            return None
        return self._store.get(key).decode()

    # --- lifecycle --------------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._session += 1
        if trainer.world_size < 2:
            return
        self._store = _default_store()
        if self._store is None:
            from pytorch_lightning.utilities import rank_zero_warn

            rank_zero_warn("RankWatchdog: no process-group store is available; dead-rank detection is off")
            return
        self._rank, self._world_size = trainer.global_rank, trainer.world_size
        self._beat = 0
        self._store.set(self._key("where", self._rank), f"host {socket.gethostname()}, pid {os.getpid()}")
        self._heartbeat()
        self._store_answered_at, self._store_error = time.monotonic(), None
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="lightning_bias-rank-watchdog", daemon=True)
        self._guard = threading.Thread(target=self._guard_store, name="lightning_bias-store-guard", daemon=True)
        self._thread.start()
        self._guard.start()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=self.interval * 2)
        self._guard.join(timeout=self.interval * 2)
        self._thread = self._guard = None
        try:
            self._store.set(self._key("done", self._rank), "1")
        except (RuntimeError, OSError):
            pass  # the store's host already left after a normal end

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self._thread is None:
            return
        if isinstance(exception, KeyboardInterrupt):
            self._stop.set()  # the user stopped the run: nothing to diagnose
            return
        try:
            order = self._store.add(self._key("failure_order"), 1)
            summary = f"{type(exception).__name__}: {exception}".replace("\n", " ")[:300]
            self._store.set(self._key("failed", self._rank), f"{order}|{summary}")
            failures = self._find_failures()
        except (RuntimeError, OSError):
            self._stop.set()
            print(
                "lightning_bias: lost contact with the rendezvous store (hosted by rank 0, or by the launcher's agent): "
                f"that process or its node has died; rank {self._rank} stops with the error below",
                file=sys.stderr, flush=True,
            )
            return
        self._stop.set()
        if failures:
            self._report(failures, stopping=False)

    # --- watching ---------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        self._beat += 1
        self._store.set(self._key("beat", self._rank), str(self._beat))

    def _where(self, rank: int) -> str:
        if rank not in self._known_where:
            where = self._get(self._key("where", rank))
            if where is None:
                return "location unknown"
            self._known_where[rank] = where
        return self._known_where[rank]

    def _store_host(self) -> str:
        """Who hosts the store, for the message when it stops answering (names only what is already known)."""
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            return f"the torchrun agent on {os.environ.get('MASTER_ADDR', 'the first node')} (with rank 0's node)"
        return f"rank 0 ({self._known_where.get(0, 'location unknown')})"

    def _guard_store(self) -> None:
        """End the process when the store has not answered the heartbeat thread for ``dead_after`` seconds."""
        while not self._stop.wait(self.interval):
            silent = time.monotonic() - self._store_answered_at
            if silent > self.dead_after and not self._stop.is_set():
                error = f"; last error: {self._store_error}" if self._store_error else ""
                self._exit(
                    f"lightning_bias: {self._store_host()} stopped: the rendezvous store it hosts has not answered "
                    f"rank {self._rank} for {silent:.0f} s (killed, crashed or frozen{error})"
                )

    def _watch(self) -> None:
        neighbour = (self._rank + 1) % self._world_size
        last_value: str | None = None
        last_change = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            try:
                self._heartbeat()
                notice = self._get(self._key("notice"))
                if notice is not None:
                    self._exit(notice)
                value = self._get(self._key("beat", neighbour))
                self._where(0)  # known before rank 0 can stop answering, for the guard's message
                self._store_answered_at, self._store_error = time.monotonic(), None
            except (RuntimeError, OSError) as error:
                self._store_error = str(error).splitlines()[0] if str(error) else type(error).__name__
                continue
            if value != last_value:
                last_value, last_change = value, now
                continue
            if self._get(self._key("done", neighbour)) is not None or self._stop.is_set():
                continue
            silent = now - last_change
            if silent > self.dead_after:
                failure = RankFailure(
                    neighbour, self._where(neighbour),
                    f"stopped: no heartbeat for {silent:.0f} s (killed, crashed or frozen)",
                )
                notice = self._notice([failure])
                try:
                    self._store.set(self._key("notice"), notice)
                except (RuntimeError, OSError):
                    pass
                self._exit(notice)

    def _find_failures(self) -> list[RankFailure]:
        """Ranks that stopped beating within a short window, else the rank that raised first."""
        peers = [r for r in range(self._world_size) if r != self._rank]
        window = max(3 * self.interval, 2.0)
        before = {r: self._get(self._key("beat", r)) for r in peers}
        time.sleep(window)
        dead = [
            RankFailure(r, self._where(r), f"stopped: no heartbeat for {window:.0f} s (killed, crashed or frozen)")
            for r in peers
            if self._get(self._key("beat", r)) == before[r] and self._get(self._key("done", r)) is None
        ]
        if dead:
            return dead
        raised = []
        for r in range(self._world_size):
            value = self._get(self._key("failed", r))
            if value is not None:
                order, _, summary = value.partition("|")
                raised.append((int(order), RankFailure(r, self._where(r), f"failed with {summary}")))
        raised.sort(key=lambda pair: pair[0])
        return [raised[0][1]] if raised and raised[0][1].rank != self._rank else []

    def _notice(self, failures: list[RankFailure]) -> str:
        found = "; ".join(f.describe() for f in failures)
        return f"lightning_bias: {found}"

    def _report(self, failures: list[RankFailure], stopping: bool) -> None:
        tail = f"; stopping rank {self._rank}" if stopping else f"; rank {self._rank} stops with the error below"
        print(self._notice(failures) + tail, file=sys.stderr, flush=True)

    def _exit(self, notice: str) -> None:
        print(f"{notice}; stopping rank {self._rank} (exit code {self.exit_code})", file=sys.stderr, flush=True)
        os._exit(self.exit_code)


def with_rank_watchdog(callbacks: list[Callback]) -> list[Callback]:
    """``callbacks`` plus a default ``RankWatchdog`` unless one is already configured (for the CLI)."""
    if any(isinstance(c, RankWatchdog) for c in callbacks):
        return list(callbacks)
    return [*callbacks, RankWatchdog()]
