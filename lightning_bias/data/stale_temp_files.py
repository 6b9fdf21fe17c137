"""Removing what a killed tokenization left in a cache directory.

``datasets`` writes a cached table to a temporary sibling (``tempfile.NamedTemporaryFile`` in the cache
directory: ``tmp`` and 8 random characters) and renames it into place when done. A process killed in
between leaves that file for good. Runs sharing the cache directory may be writing theirs right now,
and the name says nothing of its writer, so only files untouched for ``STALE_AFTER_S`` go: a live writer
appends a batch every few seconds, far more often than that.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

STALE_AFTER_S = 3600.0
# tempfile's names: its prefix "tmp" and 8 characters of tempfile._RandomNameSequence
DATASETS_TEMP_NAME = re.compile(r"tmp[a-z0-9_]{8}")


def remove_stale_temp_files(cache_dir: Path, stale_after_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the ``datasets`` temporary files in ``cache_dir`` not modified for ``stale_after_s`` seconds.

    Returns the files removed. A file another run removes or renames first is skipped.
    """
    removed = []
    cutoff = time.time() - stale_after_s
    for path in cache_dir.glob("tmp*"):
        if not DATASETS_TEMP_NAME.fullmatch(path.name):
            continue
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue  # another run sharing the cache removed or renamed it first
    return removed
