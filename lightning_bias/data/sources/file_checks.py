"""Checks of a local data file before ``datasets`` reads it: a file, not empty, and text that decodes.

``datasets`` reports an empty file or a byte that does not decode as "An error occurred while generating
the dataset", and its JSON reader does not check UTF-8 at all (a bad byte then fails later, anywhere).
These checks name the option, the file and, for a bad byte, its offset and the ``encoding`` option.
"""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


def check_encoding_name(encoding: str, option: str) -> None:
    """``ValueError`` naming ``option`` unless ``encoding`` is a text encoding Python knows."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(
            f"{option}: unknown text encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 or cp1252"
        ) from None


def _open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzipped (as ``datasets`` reads it)."""
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def first_undecodable_byte(path: str | Path, encoding: str) -> tuple[int, int] | None:
    """``(offset, byte)`` of the first byte of ``path`` that does not decode with ``encoding``, else ``None``.

    Offsets count the decompressed bytes of a ``.gz`` file. Reads the file once, in 1 MiB chunks.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0  # bytes fed to the decoder so far
    with _open_bytes(Path(path)) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            pending = decoder.getstate()[0]  # bytes of a character split across chunks, kept by the decoder
            data = pending + chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                return offset - len(pending) + err.start, data[err.start]
            if not chunk:
                return None
            offset += len(chunk)


def check_data_file(path: str, option: str, encoding: str | None) -> None:
    """``ValueError`` naming ``option`` when the existing ``path`` is a directory, is empty, is a broken gzip
    file, or (for a text format, ``encoding`` given) holds a byte that does not decode with ``encoding``.

    Args:
        path: the file (its existence is checked by the caller, whose message knows the alternatives).
        option: the option that names it, e.g. ``data.files.train``.
        encoding: the encoding the text is read with (``data.encoding``); ``None`` for binary formats (Parquet).
    """
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"{option}: {path!r} is a directory, not a file; give the path of a file")
    try:
        with _open_bytes(file) as stream:
            empty = not stream.read(1)
        bad = None if empty or encoding is None else first_undecodable_byte(file, encoding)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile and truncated gzip streams
        raise ValueError(f"{option}: could not read {path!r}: {err}") from err
    if empty:
        raise ValueError(f"{option}: file {path!r} is empty; point it at a file with data")
    if bad is not None:
        offset, byte = bad
        where = "of the decompressed text" if file.suffix.lower() == ".gz" else "of the file"
        raise ValueError(
            f"{option}: file {path!r} is not valid {encoding} text: byte 0x{byte:02x} at offset {offset} {where} "
            "does not decode; set data.encoding to the file's encoding (e.g. latin-1 or cp1252), or re-save the "
            f"file as {encoding}"
        )
