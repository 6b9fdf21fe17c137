"""``CorpusDataModule``: a plain-text corpus, ready for masked-language-model training.

One pre-training run's data path, top to bottom (``setup``):

1. read the corpus (``read_corpus``): plain text or gzipped text (one line per row), JSONL or
   CSV (a text field), or a Hugging Face dataset by name; blank lines are dropped and counted;
2. apply the upstream mitigations' ``transform(table, "train")`` in listed order (CDA, DAPT...),
   recording the corpus size before and after each one;
3. hold out ``val_fraction`` of the lines (seeded) for a validation loss;
4. tokenize once, line by line or packed into blocks of ``block_size`` tokens (cached on disk
   across runs, keyed by the text, the tokenizer and the block settings);
5. mask 15% of the tokens per batch, 80% ``[MASK]`` / 10% random / 10% unchanged (BERT's scheme, as
   ``DataCollatorForLanguageModeling``, with a generator of our own seeded per rank and worker);
   the validation blocks are masked once at setup, so the validation loss is comparable across epochs.

Tables are ``datasets.Dataset`` objects with one column ``text`` before tokenization and the
columns ``input_ids`` and ``special_tokens_mask`` after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import datasets
import pyarrow.compute as pc
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, DistributedSampler, get_worker_info
from transformers import PreTrainedTokenizerBase

from lightning_bias.mitigation import Mitigation, mitigations_of
from lightning_bias.models.pretrained import load_tokenizer

CorpusFormat = Literal["auto", "text", "jsonl", "csv", "hf"]
DEFAULT_CACHE_DIR = Path(os.environ.get("LIGHTNING_BIAS_CACHE", Path.home() / ".cache" / "lightning_bias"))
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv"}
_TOKENIZE_BATCH = 1000


def corpus_format(path: str) -> str:
    """The corpus format of a local file by suffix, looking through ``.gz``: text, jsonl or csv."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIX_FORMATS.get(suffixes[-1] if suffixes else "", "text")


def table_size(table: datasets.Dataset) -> dict[str, int]:
    """``{"lines": rows, "characters": total characters}`` of a table with a ``text`` column."""
    if len(table) == 0:
        return {"lines": 0, "characters": 0}
    lengths = pc.utf8_length(table.with_format("arrow")[:]["text"])
    return {"lines": len(table), "characters": int(pc.sum(lengths).as_py() or 0)}


def _read_one(path: str, fmt: str, text_field: str, hf_config: str | None, hf_split: str) -> datasets.Dataset:
    if fmt == "hf":
        table = datasets.load_dataset(path, hf_config, split=hf_split)
        where = f"Hugging Face dataset {path!r} (config {hf_config!r}, split {hf_split!r})"
    else:
        if not Path(path).is_file():
            hint = " For a Hugging Face dataset by name set format: hf." if fmt == "auto" else ""
            raise ValueError(
                f"corpus file {path!r} does not exist (working directory {Path.cwd()}); fix the path in the "
                f"config.{hint}"
            )
        fmt = corpus_format(path) if fmt == "auto" else fmt
        where = f"corpus file {path!r}"
        if fmt == "text":
            table = datasets.load_dataset("text", data_files=str(path), split="train")
            text_field = "text"
        elif fmt == "jsonl":
            table = datasets.load_dataset("json", data_files=str(path), split="train")
        else:
            delimiter = "\t" if ".tsv" in [s.lower() for s in Path(path).suffixes] else ","
            table = datasets.load_dataset("csv", data_files=str(path), split="train", delimiter=delimiter)
    if text_field not in table.column_names:
        raise ValueError(
            f"{where}: no text field {text_field!r}; it has the columns {table.column_names}. "
            "Set text_field to the column that holds the text"
        )
    if getattr(table.features[text_field], "dtype", None) not in ("string", "large_string"):
        raise ValueError(
            f"{where}: field {text_field!r} holds {table.features[text_field]}, not text; set text_field to a "
            "column of strings"
        )
    extra = [c for c in table.column_names if c != text_field]
    table = table.remove_columns(extra)
    if text_field != "text":
        table = table.rename_column(text_field, "text")
    if table.features["text"].dtype != "string":
        table = table.cast(datasets.Features({"text": datasets.Value("string")}))
    return table


def read_corpus(
    path: str | Sequence[str],
    format: CorpusFormat = "auto",
    text_field: str = "text",
    hf_config: str | None = None,
    hf_split: str = "train",
) -> tuple[datasets.Dataset, dict[str, int]]:
    """Read a corpus into a table with one column ``text``, one row per non-blank line/record.

    ``path`` is a file (``.txt``/any: one line per row; ``.gz`` read through; ``.jsonl``/``.json``
    and ``.csv``/``.tsv``: the ``text_field`` of each record), a list of them, or — with
    ``format="hf"`` — a Hugging Face dataset name. Returns the table and
    ``{"raw_lines": rows read, "blank_lines_dropped": rows that were empty or whitespace}``.
    Raises ``ValueError`` for a missing file, a missing text field, or a corpus without text.
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        raise ValueError("corpus path list is empty; give at least one file or dataset name")
    tables = [_read_one(str(p), format, text_field, hf_config, hf_split) for p in paths]
    table = tables[0] if len(tables) == 1 else datasets.concatenate_datasets(tables)
    raw_lines = len(table)
    table = table.filter(
        lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch["text"]], batched=True,
        desc="dropping blank lines",
    )
    if len(table) == 0:
        raise ValueError(
            f"corpus {', '.join(map(str, paths))} is empty: {raw_lines} line(s) read, none with text; "
            "check the path, the format and the text field"
        )
    return table, {"raw_lines": raw_lines, "blank_lines_dropped": raw_lines - len(table)}


def _tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _text_digest(table: datasets.Dataset) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(table), 65536):
        digest.update("\x00".join(table[start : start + 65536]["text"]).encode())
        digest.update(b"\x01")
    return digest.hexdigest()


def special_token_frame(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one sequence (``[CLS]`` / ``[SEP]`` for BERT)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    framed = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(plain) + 1):
        if framed[start : start + len(plain)] == plain:
            return framed[:start], framed[start + len(plain) :]
    raise ValueError(f"cannot tell the special tokens of tokenizer {type(tokenizer).__name__}")


def tokenize_corpus(
    table: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    block_size: int,
    line_by_line: bool,
    cache_dir: Path | None = None,
) -> datasets.Dataset:
    """Tokenize the ``text`` column into training sequences of at most ``block_size`` tokens.

    Line by line: every line becomes one sequence ``[CLS] line [SEP]`` (truncated). Packed: the
    lines' tokens are concatenated with ``[SEP]`` between lines and cut into blocks
    ``[CLS] chunk [SEP]``; the last block of every 1,000 lines may be shorter. Returns a table with
    ``input_ids`` and ``special_tokens_mask`` (1 on special tokens, which are never masked).
    When ``cache_dir`` is given the result is cached there, keyed by text, tokenizer and settings.
    """
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    room = block_size - specials
    if room < 1:
        raise ValueError(f"block_size {block_size} leaves no room for text after {specials} special tokens")
    special_ids = set(tokenizer.all_special_ids)
    separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id

    prefix, suffix = special_token_frame(tokenizer)

    def wrap(chunk: list[int]) -> tuple[list[int], list[int]]:
        ids = prefix + chunk + suffix
        return ids, [1 if i in special_ids else 0 for i in ids]

    def encode(batch: dict[str, list]) -> dict[str, list]:
        pieces = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        if line_by_line:
            chunks = [ids[:room] for ids in pieces if ids]
        else:
            stream: list[int] = []
            for ids in pieces:
                if ids:
                    stream.extend(ids)
                    if separator is not None:
                        stream.append(separator)
            if stream and separator is not None:
                stream.pop()  # the block's own closing special token ends the last line
            chunks = [stream[i : i + room] for i in range(0, len(stream), room)]
        wrapped = [wrap(chunk) for chunk in chunks]
        return {"input_ids": [w[0] for w in wrapped], "special_tokens_mask": [w[1] for w in wrapped]}

    kwargs: dict[str, Any] = {}
    if cache_dir is not None:
        key = hashlib.sha256(
            f"{_text_digest(table)}|{_tokenizer_digest(tokenizer)}|{block_size}|{line_by_line}|v1".encode()
        ).hexdigest()[:32]
        cache_dir.mkdir(parents=True, exist_ok=True)
        kwargs = {"cache_file_name": str(cache_dir / f"mlm-{key}.arrow"), "load_from_cache_file": True}
    return table.map(
        encode, batched=True, batch_size=_TOKENIZE_BATCH, remove_columns=table.column_names,
        desc="tokenizing corpus", **kwargs,
    )


class MaskingCollator:
    """Pads token rows into a batch and applies BERT's masked-LM corruption with its own seeded generator.

    Of the non-special, non-padding tokens, ``mlm_probability`` are chosen for prediction; of those
    80% become the mask token, 10% a random token of the vocabulary, 10% stay. Returns
    ``input_ids``, ``attention_mask`` and ``labels`` (-100 where not chosen). The generator is seeded
    with ``seed`` in the main process and ``seed + 1000 * (worker id + 1)`` in a DataLoader worker,
    so any process (DDP ranks, spawned processes, workers) gets a reproducible stream.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, mlm_probability: float = 0.15, seed: int = 0) -> None:
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token, so it cannot be used for masked-LM training")
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.mask_token_id = tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.mlm_probability = mlm_probability
        self.seed = seed
        self._generator: torch.Generator | None = None
        self._owner: tuple[int, int] | None = None

    def generator(self) -> torch.Generator:
        """This process's (or worker's) generator, created on first use."""
        worker = get_worker_info()
        owner = (os.getpid(), worker.id if worker is not None else -1)
        if self._generator is None or self._owner != owner:
            offset = 1000 * (worker.id + 1) if worker is not None else 0
            self._generator = torch.Generator().manual_seed(self.seed + offset)
            self._owner = owner
        return self._generator

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        maskable = torch.zeros((len(rows), width), dtype=torch.bool)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.tensor(row["input_ids"], dtype=torch.long)
            maskable[i, :n] = torch.tensor(row["special_tokens_mask"], dtype=torch.long) == 0
            attention[i, :n] = 1
        generator = self.generator()
        labels = input_ids.clone()
        chosen = (torch.rand(input_ids.shape, generator=generator) < self.mlm_probability) & maskable
        labels[~chosen] = -100
        draw = torch.rand(input_ids.shape, generator=generator)
        to_mask = chosen & (draw < 0.8)
        to_random = chosen & (draw >= 0.8) & (draw < 0.9)
        random_tokens = torch.randint(self.vocab_size, input_ids.shape, generator=generator, dtype=torch.long)
        corrupted = torch.where(to_mask, torch.full_like(input_ids, self.mask_token_id), input_ids)
        corrupted = torch.where(to_random, random_tokens, corrupted)
        return {"input_ids": corrupted, "attention_mask": attention, "labels": labels}


def mask_once(
    table: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, mlm_probability: float, seed: int
) -> datasets.Dataset:
    """Apply the masked-LM corruption once, seeded: ``input_ids`` (corrupted), ``labels`` (-100 unmasked)."""
    collator = MaskingCollator(tokenizer, mlm_probability=mlm_probability, seed=seed)

    def corrupt(batch: dict[str, list]) -> dict[str, list]:
        rows = [
            {"input_ids": ids, "special_tokens_mask": m}
            for ids, m in zip(batch["input_ids"], batch["special_tokens_mask"], strict=True)
        ]
        out = collator(rows)
        lengths = [len(ids) for ids in batch["input_ids"]]
        return {
            "input_ids": [out["input_ids"][i, :n].tolist() for i, n in enumerate(lengths)],
            "labels": [out["labels"][i, :n].tolist() for i, n in enumerate(lengths)],
        }

    return table.map(corrupt, batched=True, batch_size=256, remove_columns=table.column_names, desc="masking val")


class PremaskedCollator:
    """Pads already-masked rows (``input_ids``, ``labels``) into a batch with an attention mask."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        width = max(len(r["input_ids"]) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            attention[i, :n] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


class CorpusDataModule(LightningDataModule):
    """A text corpus for masked-LM (continued) pre-training, with upstream mitigations applied.

    Args:
        path: corpus file(s) — plain text, ``.gz``, ``.jsonl``/``.json``, ``.csv``/``.tsv`` — or a Hugging
            Face dataset name with ``format: hf``. ``None``: the corpus comes entirely from upstream
            mitigations (for example ``dapt`` with ``mode: replace`` or the synthetic bios).
        format: ``auto`` (by suffix), ``text``, ``jsonl``, ``csv`` or ``hf``.
        text_field: the field/column holding the text (JSONL, CSV, HF datasets).
        hf_config, hf_split: config name and split of a Hugging Face dataset.
        max_lines: keep only the first ``max_lines`` non-blank lines of the corpus (before mitigations).
        tokenizer: tokenizer name or path; ``None`` takes the model's (``trainer.lightning_module.tokenizer``).
        block_size: tokens per training sequence, special tokens included.
        line_by_line: one sequence per line instead of packing lines into full blocks.
        mlm_probability: share of tokens selected for prediction (80% masked, 10% random, 10% kept).
        val_fraction: share of the (mitigated) corpus lines held out for the validation loss; 0 = none.
        batch_size: sequences per training batch and process; eval_batch_size likewise (default: batch_size).
        num_workers: DataLoader workers.
        seed: seed of the shuffling, the validation split and the masking (rank r masks with seed + r).
        cache_dir: where tokenized corpora are cached (default ``$LIGHTNING_BIAS_CACHE/corpus`` or
            ``~/.cache/lightning_bias/corpus``).
    """

    def __init__(
        self,
        path: str | list[str] | None = None,
        format: CorpusFormat = "auto",
        text_field: str = "text",
        hf_config: str | None = None,
        hf_split: str = "train",
        max_lines: int | None = None,
        tokenizer: str | None = None,
        block_size: int = 128,
        line_by_line: bool = False,
        mlm_probability: float = 0.15,
        val_fraction: float = 0.0,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"data.mlm_probability must be in (0, 1), got {mlm_probability}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if max_lines is not None and max_lines < 1:
            raise ValueError(f"data.max_lines must be a positive number of lines or null, got {max_lines}")
        if format == "hf" and path is None:
            raise ValueError("data.format is 'hf' but data.path (the dataset name) is not set")
        self.path = path
        self.format = format
        self.text_field = text_field
        self.hf_config = hf_config
        self.hf_split = hf_split
        self.max_lines = max_lines
        self.tokenizer_name = tokenizer
        self.block_size = block_size
        self.line_by_line = line_by_line
        self.mlm_probability = mlm_probability
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "corpus"
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.tables: dict[str, datasets.Dataset] = {}
        self.tokenized: dict[str, datasets.Dataset] = {}
        self.corpus_report: dict[str, Any] = {}
        self.base_table: datasets.Dataset | None = None
        self._built_with: list[int] = []

    # --- building the corpus --------------------------------------------------------------------

    def _mitigations(self) -> list[Mitigation]:
        if self.trainer is None:
            return []
        found = mitigations_of(self.trainer.callbacks)
        downstream = [m for m in found if m.stage != "upstream"]
        if downstream:
            names = ", ".join(f"{type(m).__name__} (stage {m.stage!r})" for m in downstream)
            raise ValueError(
                f"pre-training accepts only upstream mitigations, but got {names}; downstream mitigations "
                "act on fine-tuning — move them to the config of `lightning_bias fit`"
            )
        return found

    def _resolve_tokenizer(self) -> PreTrainedTokenizerBase:
        module = self.trainer.lightning_module if self.trainer is not None else None
        model_tokenizer = getattr(module, "tokenizer", None)
        if self.tokenizer_name is None:
            if model_tokenizer is None:
                raise ValueError(
                    "data.tokenizer is not set and there is no model tokenizer to take; set data.tokenizer "
                    "(for example 'minilm') or attach the datamodule to a Trainer with a MaskedLanguageModel"
                )
            return model_tokenizer
        tokenizer = load_tokenizer(self.tokenizer_name)
        if model_tokenizer is not None and model_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ValueError(
                f"data.tokenizer {self.tokenizer_name!r} has a different vocabulary from the model's tokenizer; "
                "drop data.tokenizer to use the model's, or make the two the same"
            )
        return tokenizer

    def load_corpus(self) -> datasets.Dataset:
        """The corpus before mitigations (``text`` column), and its size in ``corpus_report``."""
        if self.path is None:
            table = datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
            read = {"raw_lines": 0, "blank_lines_dropped": 0}
        else:
            table, read = read_corpus(self.path, self.format, self.text_field, self.hf_config, self.hf_split)
        if self.max_lines is not None and len(table) > self.max_lines:
            table = table.select(range(self.max_lines))
        self.corpus_report = {
            "source": {"path": self.path, "format": self.format, "text_field": self.text_field,
                       "hf_config": self.hf_config, "hf_split": self.hf_split, "max_lines": self.max_lines},
            **read,
            "before_mitigations": table_size(table),
            "mitigations": [],
        }
        return table

    def apply_mitigations(self, table: datasets.Dataset, mitigations: Sequence[Mitigation]) -> datasets.Dataset:
        """Run every upstream mitigation's ``transform(table, "train")`` in order, recording sizes."""
        for mitigation in mitigations:
            if type(mitigation).transform is Mitigation.transform:
                continue  # no data stage (e.g. dropout debiasing)
            before = table_size(table)
            table = mitigation.transform(table, "train")
            if not isinstance(table, datasets.Dataset) or "text" not in table.column_names:
                raise ValueError(
                    f"mitigation {type(mitigation).__name__}.transform must return a datasets.Dataset with a "
                    f"'text' column, got {type(table).__name__}"
                )
            self.corpus_report["mitigations"].append(
                {"name": type(mitigation).__name__, "before": before, "after": table_size(table)}
            )
        if len(table) == 0:
            source = self.path if self.path is not None else "no data.path (the corpus comes from mitigations)"
            raise ValueError(
                f"the pre-training corpus is empty after the upstream mitigations (source: {source}; sizes: "
                f"{self.corpus_report['mitigations']}); give data.path or a mitigation that supplies text"
            )
        self.corpus_report["after_mitigations"] = table_size(table)
        return table

    @contextlib.contextmanager
    def _rank_zero_first(self) -> Iterator[None]:
        """Rank 0 builds (and caches) first, the other ranks then read its cache."""
        trainer = self.trainer
        distributed = trainer is not None and trainer.world_size > 1
        if distributed and trainer.global_rank != 0:
            trainer.strategy.barrier("corpus-rank-zero-first")
        yield
        if distributed and trainer.global_rank == 0:
            trainer.strategy.barrier("corpus-rank-zero-first")

    def setup(self, stage: str | None = None) -> None:
        mitigations = self._mitigations()
        if self.tokenized and self._built_with == [id(m) for m in mitigations]:
            return  # already built (e.g. by a call before fit) with the same mitigations
        for mitigation in mitigations:
            if type(mitigation).sample_weights is not Mitigation.sample_weights or (
                type(mitigation).sampler is not Mitigation.sampler
            ):
                raise ValueError(
                    f"mitigation {type(mitigation).__name__} supplies sample weights or a sampler, which masked-LM "
                    "pre-training does not support (its rows are token blocks, not corpus lines)"
                )
        self._built_with = [id(m) for m in mitigations]
        self.tokenizer = self._resolve_tokenizer()
        if self.tokenizer.mask_token is None:
            raise ValueError("the tokenizer has no mask token, so it cannot be used for masked-LM pre-training")
        with self._rank_zero_first():
            base = self.load_corpus()
            self.base_table = base if self.path is not None else None
            table = self.apply_mitigations(base, mitigations)
            if self.val_fraction > 0:
                if len(table) < 2:
                    raise ValueError(f"data.val_fraction {self.val_fraction} needs at least 2 corpus lines, got {len(table)}")
                parts = table.train_test_split(test_size=self.val_fraction, seed=self.seed, shuffle=True)
                self.tables = {"train": parts["train"], "val": parts["test"]}
            else:
                self.tables = {"train": table}
            self.tokenized = {
                split: tokenize_corpus(t, self.tokenizer, self.block_size, self.line_by_line, self.cache_dir)
                for split, t in self.tables.items()
            }
            if "val" in self.tokenized:
                self.tokenized["val"] = mask_once(self.tokenized["val"], self.tokenizer, self.mlm_probability, self.seed)
        for split, tokens in self.tokenized.items():
            self.corpus_report[f"{split}_lines"] = len(self.tables[split])
            self.corpus_report[f"{split}_sequences"] = len(tokens)
            lengths = pc.list_value_length(tokens.with_format("arrow")[:]["input_ids"])
            self.corpus_report[f"{split}_tokens"] = int(pc.sum(lengths).as_py() or 0)
        self.corpus_report.update({"block_size": self.block_size, "line_by_line": self.line_by_line,
                                   "mlm_probability": self.mlm_probability})

    # --- dataloaders ----------------------------------------------------------------------------

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def train_collator(self) -> MaskingCollator:
        """The seeded masking collator of this rank (rank r uses seed + r)."""
        _, rank = self._world()
        return MaskingCollator(self.tokenizer, mlm_probability=self.mlm_probability, seed=self.seed + rank)

    def train_dataloader(self) -> DataLoader:
        table = self.tokenized["train"]
        num_replicas, rank = self._world()
        sampler = DistributedSampler(table, num_replicas=num_replicas, rank=rank, shuffle=True, seed=self.seed)
        return DataLoader(
            table, batch_size=self.batch_size, sampler=sampler, collate_fn=self.train_collator(),
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def calibration_dataloader(self, batch_size: int | None = None, seed: int = 0) -> DataLoader:
        """Masked-LM batches of the corpus *before* the upstream mitigations, for fitting a new head.

        Not sharded: every rank gets the same batches and masks (``seed``), so a head fitted on them is
        identical on every rank. Raises ``ValueError`` when the corpus comes only from mitigations.
        """
        if self.tokenizer is None:
            raise ValueError("call setup() before calibration_dataloader()")
        if self.base_table is None:
            raise ValueError(
                "head calibration fits the new masked-LM head on the corpus before mitigations (data.path), but "
                "data.path is not set here (the corpus comes only from mitigations); set data.path to general text "
                "such as ../shared/data/wikitext2_raw/wiki.test.raw.gz, or drop model.head_calibration"
            )
        with self._rank_zero_first():
            tokens = tokenize_corpus(self.base_table, self.tokenizer, self.block_size, self.line_by_line, self.cache_dir)
        return DataLoader(
            tokens, batch_size=batch_size or self.batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(seed),
            collate_fn=MaskingCollator(self.tokenizer, mlm_probability=self.mlm_probability, seed=seed),
        )

    def val_dataloader(self) -> DataLoader | list:
        if "val" not in self.tokenized:
            return []
        table = self.tokenized["val"]
        num_replicas, rank = self._world()
        sampler = DistributedSampler(table, num_replicas=num_replicas, rank=rank, shuffle=False)
        return DataLoader(
            table, batch_size=self.eval_batch_size, sampler=sampler,
            collate_fn=PremaskedCollator(self.tokenizer.pad_token_id), num_workers=self.num_workers,
        )
