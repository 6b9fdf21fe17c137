"""Data sources, looked up by name in the entry-point group ``lightning_bias.sources``.

``base`` holds what a source is (``ClassificationSource`` for ``BiasDataModule``, ``CorpusSource`` for
``CorpusDataModule``) and how a data module builds one from its options; every other module here is one
built-in source, registered in this package's ``pyproject.toml`` exactly as a third party registers its own:

- ``synthetic_bios``: the built-in synthetic biographies;
- ``files``: local CSV/TSV/JSONL/Parquet files (gzipped too);
- ``hub``: a Hugging Face dataset of labelled rows;
- ``text_files``: a corpus from local text, gzipped text, JSONL or CSV files;
- ``hub_text``: a corpus from a Hugging Face dataset.

``encoding`` (column encoding for the labelled sources), ``corpus_text`` (text field and blank lines for
the corpus sources), ``file_checks`` (empty files and undecodable bytes, before ``datasets`` reads a file)
and ``hub_loading`` (a hub dataset, with a clear error when the hub cannot be reached) are what the
built-ins share.
"""

from lightning_bias.data.sources.base import (
    ClassificationSource,
    CorpusSource,
    CorpusText,
    LabelledSplits,
    Source,
    build_source,
)

__all__ = ["ClassificationSource", "CorpusSource", "CorpusText", "LabelledSplits", "Source", "build_source"]
