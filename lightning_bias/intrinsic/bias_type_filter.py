"""Keeping the rows of one bias type of a benchmark file (CrowS-Pairs, StereoSet), with a clear error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def select_bias_type(frame: pd.DataFrame, bias_type: str | None, benchmark: str, path: str | Path) -> pd.DataFrame:
    """The rows of ``frame`` whose ``bias_type`` column equals ``bias_type`` (all rows for ``None``).

    Raises ``ValueError`` naming the benchmark, the file and the bias types it has when none match.
    """
    if bias_type is None:
        return frame
    known = sorted(set(frame["bias_type"]))
    if bias_type not in known:
        raise ValueError(f"{benchmark} bias_type {bias_type!r} is not in {str(path)!r}; it has {known}")
    return frame[frame["bias_type"] == bias_type]
