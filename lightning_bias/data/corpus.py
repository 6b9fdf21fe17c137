"""``CorpusDataModule``: a plain-text corpus, ready for masked-language-model training.

One pre-training run's data path, top to bottom (``setup``):

1. read the corpus from the source named by ``source`` (looked up in the ``lightning_bias.sources``
   registry): ``text_files`` (plain or gzipped text, one line per row; JSONL or CSV with a text field) or
   ``hub_text`` (a Hugging Face dataset by name); blank lines are dropped and counted;
2. apply the upstream mitigations' ``transform(table, "train")`` in listed order (CDA, DAPT...) through
   the ``MitigationPipeline``, recording the corpus size before and after each one;
3. hold out ``val_fraction`` of the lines (seeded) for a validation loss; the train lines keep the
   order the mitigations gave them (corpus CDA lays out originals and copies so that no packed block
   holds both, and a reshuffle here would undo that);
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
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import datasets
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader, DistributedSampler, get_worker_info
from transformers import PreTrainedTokenizerBase

from lightning_bias.data.base_datamodule import BaseDataModule, offered_options
from lightning_bias.data.batching import BatchKeys
from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.option_checks import check_number
from lightning_bias.data.sources.base import CorpusSource
from lightning_bias.data.stale_temp_files import remove_stale_temp_files
from lightning_bias.mitigation import Mitigation, Stage

DEFAULT_CACHE_DIR = Path(os.environ.get("LIGHTNING_BIAS_CACHE", Path.home() / ".cache" / "lightning_bias"))
_TOKENIZE_BATCH = 1000


def table_size(table: datasets.Dataset) -> dict[str, int]:
    """``{"lines": rows, "characters": total characters}`` of a table with a ``text`` column."""
    if len(table) == 0:
        return {"lines": 0, "characters": 0}
    lengths = pc.utf8_length(table.with_format("arrow")[:]["text"])
    return {"lines": len(table), "characters": int(pc.sum(lengths).as_py() or 0)}


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


def held_out_in_order(table: datasets.Dataset, fraction: float, seed: int) -> dict[str, datasets.Dataset]:
    """``{"train", "val"}``: a seeded random ``fraction`` of the lines (rounded up) held out, both parts in
    their original order."""
    order = torch.randperm(len(table), generator=torch.Generator().manual_seed(seed))
    held_out = math.ceil(fraction * len(table))
    return {"train": table.select(sorted(order[held_out:].tolist())),
            "val": table.select(sorted(order[:held_out].tolist()))}


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
        raise ValueError(
            f"data.block_size {block_size} leaves no room for text after the tokenizer's {specials} special tokens; "
            f"set it to {specials + 1} or more"
        )
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
        remove_stale_temp_files(cache_dir)
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
        return {BatchKeys.INPUT_IDS: corrupted, BatchKeys.ATTENTION_MASK: attention, BatchKeys.LABELS: labels}


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
            "input_ids": [out[BatchKeys.INPUT_IDS][i, :n].tolist() for i, n in enumerate(lengths)],
            "labels": [out[BatchKeys.LABELS][i, :n].tolist() for i, n in enumerate(lengths)],
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
        return {BatchKeys.INPUT_IDS: input_ids, BatchKeys.ATTENTION_MASK: attention, BatchKeys.LABELS: labels}


class CorpusDataModule(BaseDataModule):
    """A text corpus for masked-LM (continued) pre-training, with upstream mitigations applied.

    Args:
        source: the registered name of the corpus source: ``text_files`` (local files) or ``hub_text`` (a
            Hugging Face dataset), or any installed ``CorpusSource`` (see ``lightning_bias.data.sources``). The
            source takes those of the options below that are named like its parameters.
        source_options: options of the source's own (a third party's).
        path: ``text_files``: corpus file(s) — plain text, ``.gz``, ``.jsonl``/``.json``, ``.csv``/``.tsv``;
            ``None``: no file, the corpus comes entirely from upstream mitigations (for example ``dapt`` with
            ``mode: replace``). ``hub_text``: the dataset name(s).
        format: ``text_files``: ``auto`` (by suffix), ``text``, ``jsonl`` or ``csv``.
        text_field: the field/column holding the text (JSONL, CSV, hub datasets).
        hf_config, hf_split: ``hub_text``: config name and split of the dataset.
        max_lines: keep only the first ``max_lines`` non-blank lines of the corpus (before mitigations).
        block_size: tokens per training sequence, special tokens included.
        line_by_line: one sequence per line instead of packing lines into full blocks.
        mlm_probability: share of tokens selected for prediction (80% masked, 10% random, 10% kept).
        val_fraction: share of the (mitigated) corpus lines held out for the validation loss; 0 = none.
        batch_size: sequences per training batch and process; eval_batch_size likewise (default: batch_size).
        num_workers: DataLoader workers.
        seed: seed of the shuffling, the validation split and the masking (rank r masks with seed + r).
        cache_dir: where tokenized corpora are cached (default ``$LIGHTNING_BIAS_CACHE/corpus`` or
            ``~/.cache/lightning_bias/corpus``).
        encoding: ``text_files``: the text encoding of the files; default ``utf-8``, e.g. ``latin-1``.

    The tokenizer comes from ``connect(tokenizer)`` or, in ``setup``, from the attached model. After
    ``setup``: ``info`` (a ``DatasetInfo``: ``sizes`` are lines per split after the mitigations, ``source``
    the corpus record — the source and its options, lines read and dropped, sizes before and after every
    mitigation, lines, sequences and tokens per split, the block settings), ``tables`` (the ``text`` tables
    per split) and ``tokenized``.
    """

    source_kind: ClassVar[type[CorpusSource]] = CorpusSource
    stage: ClassVar[Stage] = "upstream"

    def __init__(
        self,
        source: str = "text_files",
        source_options: dict[str, Any] | None = None,
        path: str | list[str] | None = None,
        format: str = "auto",
        text_field: str = "text",
        hf_config: str | None = None,
        hf_split: str = "train",
        max_lines: int | None = None,
        block_size: int = 128,
        line_by_line: bool = False,
        mlm_probability: float = 0.15,
        val_fraction: float = 0.0,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
        encoding: str = "utf-8",
    ) -> None:
        check_number("data.mlm_probability", mlm_probability, above=0, below=1)
        check_number("data.val_fraction", val_fraction, at_least=0, below=1)
        for name, value in [("max_lines", max_lines), ("block_size", block_size), ("batch_size", batch_size),
                            ("eval_batch_size", eval_batch_size)]:
            check_number(f"data.{name}", value, at_least=1, integer=True, optional=name in ("max_lines", "eval_batch_size"))
        for name, value in [("num_workers", num_workers), ("seed", seed)]:
            check_number(f"data.{name}", value, at_least=0, integer=True)
        super().__init__(source, source_options, offered_options(CorpusDataModule.__init__, locals()))
        self.max_lines = max_lines
        self.block_size = block_size
        self.line_by_line = line_by_line
        self.mlm_probability = mlm_probability
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "corpus"
        self.tables: dict[str, datasets.Dataset] = {}
        self.tokenized: dict[str, datasets.Dataset] = {}
        self.base_table: datasets.Dataset | None = None
        self._built_with: list[int] = []

    # --- building the corpus --------------------------------------------------------------------

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
        pipeline = self.mitigation_pipeline()
        if self.tokenized and self._built_with == [id(m) for m in pipeline.mitigations]:
            return  # already built (e.g. by a call before fit) with the same mitigations
        self._built_with = [id(m) for m in pipeline.mitigations]
        tokenizer = self.bind_tokenizer()
        if tokenizer.mask_token is None:
            raise ValueError("the tokenizer has no mask token, so it cannot be used for masked-LM pre-training")
        with self._rank_zero_first():
            read = self.source.read()
            base = read.table
            if self.max_lines is not None and len(base) > self.max_lines:
                base = base.select(range(self.max_lines))
            self.base_table = base if len(base) else None
            report: dict[str, Any] = {
                "source": {**self.source_record, "max_lines": self.max_lines},
                **read.stats,
                "before_mitigations": table_size(base),
                "mitigations": [],
            }

            def record(mitigation: Mitigation, before: datasets.Dataset, after: datasets.Dataset) -> None:
                if "text" not in after.column_names:
                    raise ValueError(
                        f"mitigation {type(mitigation).__name__}.transform must return a table with a 'text' "
                        f"column, got the columns {after.column_names}"
                    )
                report["mitigations"].append(
                    {"name": type(mitigation).__name__, "before": table_size(before), "after": table_size(after)}
                )

            table = pipeline.transform(base, "train", after_each=record)
            if len(table) == 0:
                raise ValueError(
                    f"the pre-training corpus is empty after the upstream mitigations (source: {report['source']}; "
                    f"sizes: {report['mitigations']}); give data.path or a mitigation that supplies text"
                )
            report["after_mitigations"] = table_size(table)
            if self.val_fraction > 0:
                if len(table) < 2:
                    raise ValueError(f"data.val_fraction {self.val_fraction} needs at least 2 corpus lines, got {len(table)}")
                self.tables = held_out_in_order(table, self.val_fraction, self.seed)
            else:
                self.tables = {"train": table}
            self.tokenized = {
                split: tokenize_corpus(t, tokenizer, self.block_size, self.line_by_line, self.cache_dir)
                for split, t in self.tables.items()
            }
            if "val" in self.tokenized:
                self.tokenized["val"] = mask_once(self.tokenized["val"], tokenizer, self.mlm_probability, self.seed)
        for split, tokens in self.tokenized.items():
            report[f"{split}_lines"] = len(self.tables[split])
            report[f"{split}_sequences"] = len(tokens)
            lengths = pc.list_value_length(tokens.with_format("arrow")[:]["input_ids"])
            report[f"{split}_tokens"] = int(pc.sum(lengths).as_py() or 0)
        report.update({"block_size": self.block_size, "line_by_line": self.line_by_line,
                       "mlm_probability": self.mlm_probability})
        self.info = DatasetInfo(sizes={split: len(t) for split, t in self.tables.items()}, source=report)

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
                + ("setup() has not run yet, or " if self.info is None else "")
                + "data.path is not set here (the corpus comes only from mitigations); set data.path to general "
                "text such as ../shared/data/wikitext2_raw/wiki.test.raw.gz, or drop model.head_calibration"
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
