"""DeepSpeed checkpoint directories replaced in one step: a kill never leaves a mixed or half-written one.

DeepSpeed writes a checkpoint as a directory of shards (the model states, one optimizer shard per
rank, ``latest``) and overwrites the files of an existing directory in place, so a process killed
while ``last.ckpt`` is re-saved can leave the model at one step, one optimizer shard at the step
before and another cut short. Here every save goes into a new hidden directory beside the target
(``.last.ckpt.staging-<token>``); once every rank has written its shards, rank 0 adds the checksum
manifest, fsyncs every file and directory of it, and switches the target — a relative symbolic link
``last.ckpt -> .last.ckpt.staging-<token>`` — with one atomic rename of a new link over the old one.
The directory the link pointed to before is removed after the switch.

A kill at any moment therefore leaves the target naming a complete, fsynced checkpoint (the new one
or the one before); what it may leave behind is a staging directory or a spare link, which the next
save of the same target removes (``remove_leftovers``). Loading, ``zero_to_fp32.py`` and
``--ckpt_path last`` follow the link like a directory.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

STAGING_INFIX = ".staging-"
LINK_INFIX = ".link-"


def staging_directory(target: str | Path, token: str) -> Path:
    """Where the save of ``target`` with this (rank-agreed) ``token`` writes its shards before the switch."""
    target = Path(target)
    return target.with_name(f".{target.name}{STAGING_INFIX}{token}")


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(directory: Path) -> None:
    """Flush every file and directory under ``directory`` (itself included) to disk."""
    for root, _, files in os.walk(directory):
        for name in files:
            _fsync_path(Path(root, name))
        _fsync_path(Path(root))


def _current_directory(target: Path) -> Path | None:
    """The directory ``target`` names now: its link's destination, itself if it is a plain directory, else ``None``."""
    if target.is_symlink():
        return target.parent / os.readlink(target)
    return target if target.is_dir() else None


def publish(staging: Path, target: str | Path) -> None:
    """Make ``target`` name the complete checkpoint in ``staging`` in one atomic step, then remove the old one.

    Call on one process only (rank 0), after every rank has written into ``staging``.
    """
    target = Path(target)
    fsync_tree(staging)
    previous = _current_directory(target)
    if previous == target:
        # a plain directory (saved in place by an earlier version): moved aside, as a rename cannot
        # replace a non-empty directory; the target is missing only until the link below is in place
        previous = staging_directory(target, "replaced")
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(target, previous)
    link = target.with_name(f".{target.name}{LINK_INFIX}{staging.name.rpartition(STAGING_INFIX)[2]}")
    link.unlink(missing_ok=True)
    os.symlink(staging.name, link)  # relative: the run directory can be moved or copied whole
    os.replace(link, target)
    _fsync_path(target.parent)
    if previous is not None and previous.resolve() != staging.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def remove_leftovers(target: str | Path, keep: Path) -> None:
    """Remove what a killed save of ``target`` left beside it: staging directories and spare links.

    The directory ``target`` names now and ``keep`` (the staging directory of the save under way, which
    other ranks may already be writing) stay. Call on one process only.
    """
    target = Path(target)
    current = _current_directory(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}(?:{re.escape(STAGING_INFIX)}|{re.escape(LINK_INFIX)})\w+")
    if not target.parent.is_dir():
        return
    for path in target.parent.iterdir():
        if not pattern.fullmatch(path.name) or path in (current, keep):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def remove_checkpoint_directory(target: str | Path) -> None:
    """Remove checkpoint ``target``: the link and the directory it names, or a plain directory."""
    target = Path(target)
    current = _current_directory(target)
    if target.is_symlink():
        target.unlink()
    if current is not None:
        shutil.rmtree(current, ignore_errors=True)
