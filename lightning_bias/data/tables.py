"""``Table``: the type of the data layer's tables (a ``datasets.Dataset``), named without importing ``datasets``.

Importing ``datasets`` loads pandas and pyarrow, about half a second of every command's start-up, and
jsonargparse executes the ``TYPE_CHECKING`` imports of each module whose classes it reads to build the
command line (``BiasDataModule``'s, ``ColumnMapping``'s). So those modules name ``Table`` from here in
their annotations and import ``datasets`` inside the functions that use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset as Table
else:
    Table = Any  # what evaluating an annotation at run time sees; type checkers see the Dataset
