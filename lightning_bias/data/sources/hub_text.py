"""``HubTextSource``: a corpus from a Hugging Face dataset (hub name, or a local dataset script or folder)."""

from __future__ import annotations

from lightning_bias.data.sources.base import CorpusSource, CorpusText
from lightning_bias.data.sources.corpus_text import non_blank_corpus, text_column_only
from lightning_bias.data.sources.hub_loading import load_hub_split

LOCAL_TEXT = "set `source: text_files` with `data.path: path/to/corpus.txt`"


class HubTextSource(CorpusSource):
    """A Hugging Face dataset as a corpus: the text field of every record of one split.

    Args:
        path: the dataset's name (or local script/folder), or a list of them, read in order.
        text_field: the column that holds the text.
        hf_config: the dataset's configuration name, if it has several.
        hf_split: the dataset's split to read.
    """

    def __init__(
        self, path: str | list[str] | None = None, text_field: str = "text", hf_config: str | None = None,
        hf_split: str = "train",
    ) -> None:
        names = [] if path is None else [path] if isinstance(path, str) else list(path)
        if not names:
            raise ValueError("data.source is 'hub_text' but data.path (the dataset name) is not set")
        self.names = [str(name) for name in names]
        self.text_field = text_field
        self.hf_config = hf_config
        self.hf_split = hf_split

    def read(self) -> CorpusText:
        tables = []
        for name in self.names:
            table = load_hub_split(name, self.hf_config, self.hf_split, "data.path", LOCAL_TEXT)
            where = f"Hugging Face dataset {name!r} (config {self.hf_config!r}, split {self.hf_split!r})"
            tables.append(text_column_only(table, self.text_field, where))
        return non_blank_corpus(tables, ", ".join(self.names))
