"""Writing a run's artifacts: the run directory, JSON-safe values, and atomic file and directory writes.

Every file a run writes goes through here, so that an interrupted run never leaves a half-written
report, prediction file or checkpoint directory behind: a file is written to a temporary sibling and
renamed into place; a directory is filled in a staging sibling and swapped in.

Both are created as ``open`` and ``mkdir`` would create them — mode 0666 / 0777 less the user's umask
(and a shared directory's default ACLs) — not 0600 / 0700 as ``tempfile.mkstemp`` / ``mkdtemp`` do,
so reports and exports in a group's shared run directory stay readable by the group.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Lightning is imported by run_dir only: writing files atomically needs no torch
    import pytorch_lightning as pl


def run_dir(trainer: pl.Trainer) -> Path:
    """Where a run's outputs go: the CSV logger's version dir (``lightning_logs/version_N``; the CLI always
    has one), else the first logger's, else ``default_root_dir``. Every rank may call it (no collective)."""
    from pytorch_lightning.loggers import CSVLogger

    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            return Path(logger.log_dir)
    return Path(trainer.log_dir or trainer.default_root_dir)


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: NaN/inf -> None, tuples -> lists, paths and other objects -> str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return json_safe(value.item())
    return str(value)


def _sibling_name(path: Path, purpose: str) -> Path:
    """A fresh hidden name beside ``path`` (``.name.<purpose>.<random>``), for staging or retiring it."""
    return path.with_name(f".{path.name}.{purpose}.{secrets.token_hex(4)}")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling_name(path, "tmp")
    try:
        # O_EXCL: a name no one else holds; mode 0o666, from which the kernel takes the umask away
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename: never half-written."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented strict JSON (``json_safe``) to ``path``, atomically."""
    return atomic_write_text(path, json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; on success it replaces ``target`` by rename.

    An interrupted write leaves ``target`` as it was (the old content, or nothing).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling_name(target, "staging")
    staging.mkdir()  # mode 0o777 less the umask, like the files written into it
    try:
        yield staging
        if target.exists():
            retired = _sibling_name(target, "old")
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
