"""Domain- and task-adaptive pre-training (Gururangan et al., 2020): continue masked-LM training on domain text.

The domain corpus is a file — plain text, ``.gz``, JSONL or CSV with a text column, e.g. the task's
own training texts without their labels (TAPT) —, a Hugging Face dataset (``format: hf``, its
``train`` split), or the built-in synthetic biographies (``synthetic_bios: N``). Files and datasets
are read by the corpus sources ``text_files`` and ``hub_text``, as the pre-training corpus itself.
``mode: extend`` appends it to the pre-training corpus, ``mode: replace`` makes it the whole corpus
(then ``data.path`` may be left unset).
"""

from __future__ import annotations

from typing import Literal, get_args

import datasets

from lightning_bias.data.sources import CorpusSource
from lightning_bias.data.sources.hub_text import HubTextSource
from lightning_bias.data.sources.text_files import TextFilesSource
from lightning_bias.mitigation import Mitigation, Split

DomainFormat = Literal["auto", "text", "jsonl", "csv", "hf"]


class DomainAdaptivePretraining(Mitigation):
    """DAPT/TAPT: continue pre-training on a domain corpus or the task's unlabelled texts (extend or replace)."""

    stage = "upstream"

    def __init__(
        self,
        path: str | None = None,
        format: DomainFormat = "auto",
        text_field: str = "text",
        synthetic_bios: int | None = None,
        synthetic_seed: int = 0,
        female_rate: float | str = "stereotypical",
        ambiguity: float = 0.3,
        mode: Literal["extend", "replace"] = "extend",
        max_lines: int | None = None,
    ) -> None:
        if (path is None) == (synthetic_bios is None):
            raise ValueError(
                "dapt: give exactly one domain corpus — path (a text/JSONL/CSV file) or synthetic_bios (a number of bios)"
            )
        if format not in get_args(DomainFormat):
            raise ValueError(f"dapt.format must be one of {get_args(DomainFormat)}, got {format!r}")
        if mode not in ("extend", "replace"):
            raise ValueError(f"dapt.mode must be 'extend' or 'replace', got {mode!r}")
        if max_lines is not None and max_lines < 1:
            raise ValueError(f"dapt.max_lines must be a positive number of lines or null, got {max_lines}")
        self.path = path
        self.format = format
        self.text_field = text_field
        self.synthetic_bios = synthetic_bios
        self.synthetic_seed = synthetic_seed
        self.female_rate = female_rate
        self.ambiguity = ambiguity
        self.mode = mode
        self.max_lines = max_lines
        self.domain_lines: int | None = None

    def domain_corpus(self) -> datasets.Dataset:
        """The domain text as a table with one column ``text`` (deterministic)."""
        if self.path is not None:
            source: CorpusSource = (
                HubTextSource(self.path, self.text_field) if self.format == "hf"
                else TextFilesSource(self.path, self.format, self.text_field)
            )
            table = source.read().table
        else:
            from lightning_bias.data.synthetic_bios import generate_bios

            bios = generate_bios(
                self.synthetic_bios, seed=self.synthetic_seed, female_rate=self.female_rate, ambiguity=self.ambiguity
            )
            table = datasets.Dataset.from_dict({"text": list(bios.texts)})
        if self.max_lines is not None and len(table) > self.max_lines:
            table = table.select(range(self.max_lines))
        return table

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        if split != "train":
            return table
        domain = self.domain_corpus()
        self.domain_lines = len(domain)
        if self.mode == "replace" or len(table) == 0:
            return domain
        return datasets.concatenate_datasets([table.select_columns(["text"]), domain.cast(table.select_columns(["text"]).features)])
