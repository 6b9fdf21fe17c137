"""Domain- and task-adaptive pre-training (Gururangan et al., 2020): continue masked-LM training on domain text.

The domain corpus is a file — plain text, ``.gz``, JSONL or CSV with a text column, e.g. the task's
own training texts without their labels (TAPT) —, a Hugging Face dataset (``format: hf``, its
``train`` split), or the built-in synthetic biographies (``synthetic_bios: N``). Files and datasets
are read by the corpus sources ``text_files`` and ``hub_text``, as the pre-training corpus itself.
``mode: extend`` appends it to the pre-training corpus, ``mode: replace`` makes it the whole corpus
(then ``data.path`` may be left unset).

``size_matched_cda`` makes this the size-matched control of a CDA run: given the settings of the
corpus CDA that the treated run adds after DAPT (``attribute``, ``mode``, ``include_names``,
``term_files``, ``name_files``, ``seed``), the corpus after DAPT gets the same lines in the same layout
as CDA would give it, with each copy equal to its original instead of swapped
(``CorpusCounterfactualAugmentation(copies="identical")``). The two runs then train on the same
number of lines, and on the same number of tokens up to the difference in length between words and
their counterparts, so a difference between them is the effect of the swap, not of corpus size or
repetition.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import datasets

from lightning_bias.data.sources import CorpusSource
from lightning_bias.data.sources.hub_text import HubTextSource
from lightning_bias.data.sources.text_files import TextFilesSource
from lightning_bias.mitigation import Mitigation, Split
from lightning_bias_plugins.pretraining.corpus_counterfactual_augmentation import (
    CorpusCounterfactualAugmentation,
)

DomainFormat = Literal["auto", "text", "jsonl", "csv", "hf"]


class DomainAdaptivePretraining(Mitigation):
    """DAPT/TAPT: continue pre-training on a domain corpus or the task's unlabelled texts (extend or replace).

    Args:
        size_matched_cda: the corpus CDA settings of the treated run this one is the control of; the
            corpus is then duplicated as CDA would augment it, without swapping (module docstring).
        (the others: where the domain corpus comes from and how it joins the pre-training corpus, as
        their names say; ``max_lines`` keeps the first lines of the domain corpus.)
    """

    stage = "upstream"

    def __init__(
        self,
        path: str | None = None,
        format: DomainFormat = "auto",
        text_field: str = "text",
        synthetic_bios: int | None = None,
        synthetic_seed: int = 0,
        female_rate: float | dict[str, float] | str = "stereotypical",
        ambiguity: float = 0.3,
        mode: Literal["extend", "replace"] = "extend",
        max_lines: int | None = None,
        size_matched_cda: dict[str, Any] | None = None,
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
        self.size_matched_cda = dict(size_matched_cda) if size_matched_cda is not None else None
        self._size_control = self._size_control_of(self.size_matched_cda)
        self.domain_lines: int | None = None
        self.size_matched_lines: int | None = None

    @staticmethod
    def _size_control_of(settings: dict[str, Any] | None) -> CorpusCounterfactualAugmentation | None:
        """The unswapped CDA that duplicates the corpus as the treated run's CDA does (checked here, at construction)."""
        if settings is None:
            return None
        if "copies" in settings:
            raise ValueError("dapt.size_matched_cda takes the treated run's CDA settings; leave out 'copies' "
                             "(the control's copies are always identical to their originals)")
        try:
            return CorpusCounterfactualAugmentation(**settings, copies="identical")
        except TypeError as err:
            raise ValueError(
                f"dapt.size_matched_cda {settings} is not a set of corpus CDA settings ({err}); give e.g. "
                "{attribute: gender, mode: two_sided_filtered, seed: 0}"
            ) from err

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
            result = domain
        else:
            text = table.select_columns(["text"])
            result = datasets.concatenate_datasets([text, domain.cast(text.features)])
        if self._size_control is not None:
            result = self._size_control.transform(result, split)
            self.size_matched_lines = len(result)
        return result
