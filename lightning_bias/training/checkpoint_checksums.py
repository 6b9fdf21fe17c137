"""Checksums written with every checkpoint and verified before it is restored.

A checkpoint whose bytes changed after saving (a truncated copy, a flipped bit, an empty file) would
otherwise be restored silently, or fail as a long traceback from deep inside ``torch.load``. Each
checkpoint gets a SHA-256 record in ``sha256sum`` format, so ``sha256sum -c`` checks it too:

- a single file ``x.ckpt``: the sidecar ``x.ckpt.sha256`` (``<hex>  x.ckpt``), its digest computed
  while the checkpoint is written (``HashingWriter``), the sidecar written atomically after it;
- a DeepSpeed checkpoint directory: the manifest ``<dir>/checksums.sha256``, one line per file (model
  and optimizer shards of every rank, ``latest``, ``zero_to_fp32.py``), in one streamed pass after all
  ranks wrote their shards.

``verify_checkpoint`` raises ``CorruptCheckpointError`` (a ``ValueError``: one line, exit code 2)
naming the file and the newest checkpoint beside it that still verifies; a checkpoint without a
record (older runs, the user's own files) is loaded with a one-line warning.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from pytorch_lightning.utilities import rank_zero_warn

CHUNK_BYTES = 1 << 20
SIDECAR_SUFFIX = ".sha256"
MANIFEST_NAME = "checksums.sha256"


class CorruptCheckpointError(ValueError):
    """A checkpoint's bytes differ from the checksum written with it, or it is empty."""


class HashingWriter:
    """A binary file wrapper that hashes every byte written through it (``torch.save`` writes only)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def sidecar_of(path: str | Path) -> Path:
    """Where the checksum of checkpoint file ``path`` is recorded: ``x.ckpt`` -> ``x.ckpt.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in one streamed pass of 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, fsync it and rename it into place (mode 0666 less the umask)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_sidecar(path: str | Path, digest: str) -> None:
    """Record ``digest`` as the checksum of checkpoint file ``path`` (``sha256sum`` format)."""
    write_text_atomically(sidecar_of(path), f"{digest}  {Path(path).name}\n")


def _manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_NAME and not p.name.startswith("."))


def write_manifest(directory: str | Path) -> None:
    """Record the checksum of every file in a DeepSpeed checkpoint ``directory`` in ``<directory>/checksums.sha256``."""
    directory = Path(directory)
    lines = [f"{file_sha256(p)}  {p.relative_to(directory).as_posix()}\n" for p in _manifest_files(directory)]
    write_text_atomically(directory / MANIFEST_NAME, "".join(lines))


def _read_records(record: Path) -> dict[str, str]:
    """``{relative name: hex digest}`` from a ``sha256sum``-format file."""
    records = {}
    for line in record.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            records[name] = digest
    return records


def checkpoint_problem(path: str | Path) -> str | None:
    """What is wrong with checkpoint ``path`` (a file or a DeepSpeed directory), or ``None`` when it verifies.

    Raises ``FileNotFoundError`` when there is no checksum record to verify against.
    """
    path = Path(path)
    if path.is_dir():
        manifest = path / MANIFEST_NAME
        if not manifest.is_file():
            raise FileNotFoundError(manifest)
        for name, expected in _read_records(manifest).items():
            shard = path / name
            if not shard.is_file():
                return f"{shard} is missing (listed in {manifest})"
            if shard.stat().st_size == 0:
                return f"{shard} is empty"
            if file_sha256(shard) != expected:
                return f"{shard} does not match the SHA-256 in {manifest} (truncated or altered after saving)"
        return None
    if path.stat().st_size == 0:
        return "it is empty"
    target = path.resolve()  # ModelCheckpoint(save_last="link") makes last.ckpt a link to the saved file
    sidecar = sidecar_of(target)
    if not sidecar.is_file():
        raise FileNotFoundError(sidecar)
    expected = _read_records(sidecar).get(target.name)
    if file_sha256(path) != expected:
        return f"its bytes do not match the SHA-256 in {sidecar} (truncated or altered after saving)"
    return None


def _last_good_sibling(path: Path) -> Path | None:
    """The most recently written other checkpoint beside ``path`` whose checksum verifies."""
    siblings: Iterable[Path] = (p for p in path.parent.glob("*.ckpt") if p != path and not p.name.startswith("."))
    for candidate in sorted(siblings, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            if checkpoint_problem(candidate) is None:
                return candidate
        except FileNotFoundError:
            continue
    return None


def verify_checkpoint(path: str | Path) -> None:
    """Check checkpoint ``path`` against the checksum written with it before anything restores it.

    Raises:
        CorruptCheckpointError: it is empty or its bytes differ; the message names the newest good
            checkpoint in the same directory, if any.
    """
    path = Path(path)
    try:
        problem = checkpoint_problem(path)
    except FileNotFoundError as missing:
        rank_zero_warn(f"checkpoint {path} has no checksum ({missing.args[0]} is absent); loading it unverified")
        return
    if problem is None:
        return
    good = _last_good_sibling(path)
    proceed = (
        f"the last good checkpoint beside it is {good}: resume with --ckpt_path {good}"
        if good is not None
        else f"no other checkpoint in {path.parent} verifies: start a new run without --ckpt_path"
    )
    raise CorruptCheckpointError(f"checkpoint {path} is corrupt: {problem}; {proceed}")
