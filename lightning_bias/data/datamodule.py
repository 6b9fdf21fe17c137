"""``BiasDataModule``: classification rows with a protected attribute, ready for fair training.

One run's data path, top to bottom (``setup``):

1. load the splits from the source named by ``source`` (looked up in the ``lightning_bias.sources``
   registry: ``synthetic_bios``, ``files``, ``hub`` or a third party's), encoded to ``text`` / ``label`` /
   ``group`` with label and group names (several protected attributes become one intersectional group);
2. cut a missing validation or test split from train (seeded, stratified by label and group);
3. run the downstream mitigations' ``transform`` on every split, in listed order (``MitigationPipeline``);
4. record ``info`` (a ``DatasetInfo``: names, sizes before and after the mitigations, measured co-occurrence
   of every split, the source's declared distribution, seeds, source);
5. take the product of the mitigations' ``sample_weights`` and their one ``sampler`` for the train split;
6. tokenize once (fast tokenizer, batched; the token ids cached on disk across runs).

The dataloaders pad dynamically, shard evaluation exactly once per example under DDP, and
use the distributed-aware sampler that a mitigation supplies, if any. The train loader resumes
mid-epoch exactly from a Lightning checkpoint whenever its sampler is resumable (the default
length-grouped shuffle, the plain shuffle and ``DistributedWeightedSampler`` all are).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from lightning_bias.data.base_datamodule import BaseDataModule, offered_options
from lightning_bias.data.batching import PaddingCollator
from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.option_checks import check_number
from lightning_bias.data.resumable_loader import ResumableDataLoader, ResumableSampler
from lightning_bias.data.samplers import (
    DistributedWeightedSampler,
    LengthGroupedSampler,
    UnpaddedDistributedSampler,
)
from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.encoding import ColumnMapping
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions
from lightning_bias.data.stale_temp_files import remove_stale_temp_files
from lightning_bias.data.step_progress import advance_data_step, data_step
from lightning_bias.data.tables import Table
from lightning_bias.mitigation import Mitigation, MitigationPipeline, Stage

DEFAULT_CACHE_DIR = Path(os.environ.get("LIGHTNING_BIAS_CACHE", Path.home() / ".cache" / "lightning_bias"))


class BiasDataModule(BaseDataModule):
    """Rows ``text``, ``label``, ``group`` for sequence classification with group-fairness metrics.

    Args:
        source: the registered name of the data source: ``synthetic_bios`` (built-in), ``files`` (local
            CSV/TSV/JSONL/Parquet, optionally gzipped), ``hub`` (a Hugging Face dataset by name), or any
            installed ``ClassificationSource`` (see ``lightning_bias.data.sources``). The source takes those of
            the options below that are named like its parameters.
        source_options: options of the source's own (a third party's), e.g. ``{path: x.csv, threshold: 0.7}``.
        synthetic_bios: options of the synthetic source.
        files: one path per split (keys ``train``, ``val``, ``test``); splits not given are
            cut from ``train`` by a seeded split stratified by label and group.
        hub_dataset, hub_config, hub_splits: the hub dataset, its config and a map from our split names to
            its own (default ``{"train": "train", "val": "validation", "test": "test"}``).
        columns: the source's text, label and group column(s); several group columns give intersectional
            groups such as ``female|black``.
        label_names, group_names: names for integer ids, or the order of string values (per group column).
        val_fraction, test_fraction, split_seed: the seeded stratified split for splits not given.
        batch_size, eval_batch_size, max_length: batching; padding is dynamic, to the longest in a batch;
            every row is truncated to ``max_length`` tokens, special tokens included.
        group_by_length: batch rows of similar token length together (much less padding on real text, see
            benchmarks/README.md); off by default: where length goes with the label, as in the synthetic bios,
            batches of one label made the tiny config predict a single class in 3 of 3 seeds (accuracy 0.05-0.06
            against 0.24-0.35 shuffled). A mitigation's sampler replaces either.
        seed: seed of the training order (and of samplers that mitigations supply).
        cache_dir: where tokenized tables are cached across runs.
        encoding: the text encoding of ``files`` (CSV, TSV, JSON); default ``utf-8``, e.g. ``latin-1``.

    After ``setup``: ``info`` (``DatasetInfo``: label and group names, rows per split before and after the
    mitigations, the measured co-occurrence of every split, the source's declared distribution, the seeds,
    the source record), ``tables`` (the untokenized tables per split — ``train``, ``val``,
    ``test``, ``predict`` — after the mitigations' transforms, with ``ClassLabel`` names; the counterfactual
    evaluation reads them) and ``tokenized`` (the same, tokenized). ``max_length`` is the truncation length
    of every tokenized row.
    """

    source_kind: ClassVar[type[ClassificationSource]] = ClassificationSource
    stage: ClassVar[Stage] = "downstream"

    def __init__(
        self,
        source: str = "synthetic_bios",
        source_options: dict[str, Any] | None = None,
        synthetic_bios: SyntheticBiosOptions | None = None,
        files: dict[str, str] | None = None,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        hub_splits: dict[str, str] | None = None,
        columns: ColumnMapping | None = None,
        label_names: list[str] | None = None,
        group_names: dict[str, list[str]] | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        max_length: int = 128,
        group_by_length: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
        encoding: str = "utf-8",
    ) -> None:
        for name, value in [("val_fraction", val_fraction), ("test_fraction", test_fraction)]:
            check_number(f"data.{name}", value, at_least=0, below=1)
        for name, value in [("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("max_length", max_length)]:
            check_number(f"data.{name}", value, at_least=1, integer=True, optional=name == "eval_batch_size")
        for name, value in [("num_workers", num_workers), ("seed", seed), ("split_seed", split_seed)]:
            check_number(f"data.{name}", value, at_least=0, integer=True)
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"data.val_fraction + data.test_fraction must be below 1, got {val_fraction + test_fraction}"
            )
        super().__init__(source, source_options, offered_options(BiasDataModule.__init__, locals()))
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.max_length = max_length
        self.group_by_length = group_by_length
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "tokenized"

        self.tables: dict[str, Table] = {}
        self.tokenized: dict[str, Table] = {}
        self.train_sampler: Sampler[int] | None = None
        self.pipeline = MitigationPipeline([], self.stage)

    # --- loading --------------------------------------------------------------------------------

    def load(self) -> LabelledSplits:
        """Every split from the source, encoded and checked, missing val/test cut from train; no mitigation,
        no tokenization."""
        loaded = self.source.load()
        if "train" not in loaded.tables:
            raise ValueError(
                f"data: the {self.source_name} source gives no train split; splits found: {sorted(loaded.tables)}"
            )
        if len(loaded.label_names) < 2:
            raise ValueError(
                f"data: the label column has {len(loaded.label_names)} class(es); classification needs 2 or more"
            )
        if len(loaded.group_names) < 2:
            raise ValueError(
                f"data: the group column of the {self.source_name} source has {len(loaded.group_names)} group "
                f"{loaded.group_names} over all splits; group-fairness metrics need 2 or more protected groups. "
                "Point data.columns.group at the protected attribute, or use data with rows of several groups"
            )
        return LabelledSplits(self._split_missing(loaded.tables), loaded.label_names, loaded.group_names)

    def _split_missing(self, tables: dict[str, Table]) -> dict[str, Table]:
        """Cut missing val/test splits from train, stratified by (label, group), seeded."""
        wanted = {"val": self.val_fraction, "test": self.test_fraction}
        missing = {s: f for s, f in wanted.items() if s not in tables and f > 0}
        if not missing:
            return tables
        train = tables["train"]
        strata = np.asarray(train["label"], dtype=np.int64) * 1_000_003 + np.asarray(train["group"], dtype=np.int64)
        rng = np.random.default_rng(self.split_seed)
        picked: dict[str, list[int]] = {s: [] for s in missing}
        keep: list[int] = []
        for stratum in np.unique(strata):
            rows = np.flatnonzero(strata == stratum)
            rng.shuffle(rows)
            start = 0
            for split, fraction in missing.items():
                take = math.floor(len(rows) * fraction + 0.5)
                picked[split].extend(rows[start : start + take].tolist())
                start += take
            keep.extend(rows[start:].tolist())
        out = dict(tables)
        out["train"] = train.select(sorted(keep))
        for split, rows in picked.items():
            out[split] = train.select(sorted(rows))
        return out

    # --- setup ----------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        self.bind_tokenizer()
        if self.tables:
            return  # already set up (fit followed by test in one process)
        pipeline = self.mitigation_pipeline()
        loaded, sizes_before_mitigation = self.load_transformed(pipeline)
        tables, label_names, group_names = loaded.tables, loaded.label_names, loaded.group_names
        self.tables = tables
        self.info = DatasetInfo(
            label_names=tuple(label_names),
            group_names=tuple(group_names),
            sizes={split: len(table) for split, table in tables.items()},
            sizes_before_mitigation=sizes_before_mitigation,
            cooccurrence={split: cooccurrence(table, label_names, group_names) for split, table in tables.items()},
            declared_distribution=dict(self.source.declared_distribution()),
            seeds=self.seeds(),
            source=self.source_record,
        )
        self._warn_empty_groups()
        weights = pipeline.sample_weights(tables["train"])
        self.pipeline = pipeline
        self.tokenized = {split: self._tokenize(table, split) for split, table in tables.items()}
        if weights is not None:
            self.tokenized["train"] = self.tokenized["train"].add_column("weight", weights.tolist())

    def load_transformed(self, pipeline: MitigationPipeline) -> tuple[LabelledSplits, dict[str, int]]:
        """Steps 1-3 of ``setup``, without tokenization (``lightning_bias data inspect`` reads them too): every
        split loaded with its label and group names on it, ``predict`` as a copy of ``test`` when the source
        has none, each through ``pipeline``'s transforms and checked; with each split's rows before them."""
        loaded = self.load()
        label_names, group_names = loaded.label_names, loaded.group_names
        tables = {split: _with_names(table, label_names, group_names) for split, table in loaded.tables.items()}
        if "predict" not in tables and "test" in tables:
            tables["predict"] = tables["test"]
        sizes_before_mitigation = {split: len(table) for split, table in tables.items()}
        for split in list(tables):
            tables[split] = pipeline.transform(tables[split], split, after_each=_checking_output_of(split))
        for split, table in tables.items():
            _check_table(table, split, "")
            _check_ids(table, split, label_names, group_names)
        return LabelledSplits(tables, label_names, group_names), sizes_before_mitigation

    def seeds(self) -> dict[str, int]:
        """The seeds of this data module by role: ``data`` (training order and the samplers of mitigations),
        ``split`` (the cut of missing validation/test splits) and ``source`` (the source's own ``seed``
        option, e.g. ``data.synthetic_bios.seed``, when it has one)."""
        seeds = {"data": self.seed, "split": self.split_seed}
        options = [self.source_record, *(v for v in self.source_record.values() if isinstance(v, dict))]
        declared = [option["seed"] for option in options if isinstance(option.get("seed"), int)]
        if declared:
            seeds["source"] = declared[0]
        return seeds

    def _warn_empty_groups(self) -> None:
        for split in ("val", "test"):
            if split not in self.tables:
                continue
            present = set(np.unique(np.asarray(self.tables[split]["group"])).tolist())
            empty = [name for i, name in enumerate(self.info.group_names) if i not in present]
            if empty:
                warnings.warn(
                    f"data split {split!r} has no rows for group(s) {empty}; their rates and gaps are undefined "
                    "and the bias report lists them under empty_groups",
                    stacklevel=2,
                )

    def _tokenize(self, table: Table, split: str) -> Table:
        """``input_ids`` of every row's text beside the table's own ``label`` and ``group``.

        Only the token ids are cached on disk (keyed by tokenizer, ``max_length`` and the texts): labels and
        groups always come from ``table``, so two runs on the same texts with other labels or groups (explicit
        splits, a shared cache) each see their own.
        """
        import datasets

        tokenizer = self.tokenizer
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        if self.max_length <= specials:
            # the tokenizer would silently not truncate at all rather than drop its special tokens
            raise ValueError(
                f"data.max_length {self.max_length} leaves no room for text after the tokenizer's {specials} special "
                f"tokens; set it to {specials + 1} or more"
            )
        # the backend keeps the truncation and padding of its last call: not part of the key, or the first split
        # tokenized in a process would never meet its cache file again
        backend = json.loads(tokenizer.backend_tokenizer.to_str())
        backend.pop("truncation", None)
        backend.pop("padding", None)
        digest = hashlib.sha256()
        digest.update(json.dumps(backend, sort_keys=True).encode())
        # "input_ids" names the cached columns: files of the layout that also stored label and group are not reused
        digest.update(f"input_ids|{self.max_length}|{len(table)}".encode())
        for start in range(0, len(table), 65536):
            digest.update("\x00".join(table[start : start + 65536]["text"]).encode())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.cache_dir)
        cache_file = self.cache_dir / f"{digest.hexdigest()[:32]}.arrow"

        max_length = self.max_length  # not `self` in the closure: datasets would hash the whole trainer with it

        def encode(batch: dict[str, list]) -> dict[str, list]:
            advance_data_step(len(batch["text"]))
            return {"input_ids": tokenizer(batch["text"], truncation=True, max_length=max_length)["input_ids"]}

        with data_step(f"tokenizing {split}", len(table)):
            token_ids = table.select_columns(["text"]).map(
                encode, batched=True, batch_size=2048, cache_file_name=str(cache_file), remove_columns=["text"],
                load_from_cache_file=True, desc="tokenizing",
            )
        # in memory and without the row-selection mapping of a split cut from train, as a side-by-side join needs
        labels_and_groups = table.select_columns(["label", "group"]).flatten_indices(keep_in_memory=True)
        return datasets.concatenate_datasets([token_ids, labels_and_groups], axis=1).with_format(None)

    # --- dataloaders ----------------------------------------------------------------------------

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        # Lightning keeps the flag only on its private connector; a wrapped sampler would shard twice
        wraps = getattr(self.trainer._accelerator_connector, "use_distributed_sampler", False)
        if self.trainer.world_size > 1 and wraps:
            raise ValueError(
                "BiasDataModule shards its data by rank itself (exact evaluation, mitigation samplers): run the "
                "Trainer with use_distributed_sampler=False (the lightning_bias CLI does so by default)"
            )
        return self.trainer.world_size, self.trainer.global_rank

    def _collator(self) -> PaddingCollator:
        return PaddingCollator(pad_token_id=self.tokenizer.pad_token_id)

    def train_dataloader(self) -> DataLoader:
        table = self.tokenized["train"]
        num_replicas, rank = self._world()
        sampler = self.pipeline.sampler(self.tables["train"], num_replicas, rank, self.seed)
        if sampler is None and self.group_by_length:
            lengths = [len(ids) for ids in table["input_ids"]]
            sampler = LengthGroupedSampler(lengths, self.batch_size, num_replicas=num_replicas, rank=rank, seed=self.seed)
        if sampler is None:
            # a seeded shuffle (a uniform draw without replacement) that resumes mid-epoch exactly; with several
            # ranks, up to num_replicas - 1 rows sit out each epoch so that no row is seen twice
            usable = len(table) - len(table) % num_replicas
            sampler = DistributedWeightedSampler(
                torch.ones(len(table)), num_samples=usable, num_replicas=num_replicas, rank=rank,
                replacement=False, seed=self.seed,
            )
        self.train_sampler = sampler
        loader_class = ResumableDataLoader if isinstance(sampler, ResumableSampler) else DataLoader
        return loader_class(
            table, batch_size=self.batch_size, sampler=sampler, collate_fn=self._collator(),
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def _eval_dataloader(self, split: str) -> DataLoader:
        table = self.tokenized[split]
        num_replicas, rank = self._world()
        return DataLoader(
            table, batch_size=self.eval_batch_size, collate_fn=self._collator(), num_workers=self.num_workers,
            sampler=UnpaddedDistributedSampler(len(table), num_replicas=num_replicas, rank=rank),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_dataloader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_dataloader("predict")


def _with_names(table: Table, label_names: list[str], group_names: list[str]) -> Table:
    """Carry label and group names on the table (``ClassLabel`` features) so plugins can resolve names."""
    import datasets

    features = table.features.copy()
    features["label"] = datasets.ClassLabel(names=list(label_names))
    features["group"] = datasets.ClassLabel(names=list(group_names))
    return table.cast(features)


def _check_table(table: Table, split: str, after: str) -> None:
    """The columns ``text``, ``label``, ``group`` and at least one row; ``after`` names the mitigation, if any."""
    missing = {"text", "label", "group"} - set(table.column_names)
    if missing:
        raise ValueError(f"data split {split!r}{after} lacks column(s) {sorted(missing)}")
    if len(table) == 0:
        raise ValueError(
            f"data split {split!r} has no rows{after}; check the source file, the split fractions"
            + (" or that mitigation's settings" if after else "")
        )


def _checking_output_of(split: str) -> Callable[[Mitigation, Table, Table], None]:
    """The pipeline's ``after_each`` hook for ``split``: check every mitigation's output table."""

    def check(mitigation: Mitigation, before: Table, after: Table) -> None:
        _check_table(after, split, f" after mitigation {type(mitigation).__name__}")

    return check


def _check_ids(table: Table, split: str, label_names: list[str], group_names: list[str]) -> None:
    labels = np.asarray(table["label"])
    groups = np.asarray(table["group"])
    if labels.min() < 0 or labels.max() >= len(label_names):
        raise ValueError(f"data split {split!r}: label ids outside 0..{len(label_names) - 1}")
    if groups.min() < 0 or groups.max() >= len(group_names):
        raise ValueError(f"data split {split!r}: group ids outside 0..{len(group_names) - 1}")


def cooccurrence(table: Table, label_names: list[str], group_names: list[str]) -> dict[str, Any]:
    """Measured P(group | label) of a table, with the counts behind it and each group's share of the rows."""
    counts = np.zeros((len(label_names), len(group_names)), dtype=np.int64)
    np.add.at(counts, (np.asarray(table["label"]), np.asarray(table["group"])), 1)
    per_label = counts.sum(axis=1)
    rates = {
        label: {
            group: (float(counts[i, j] / per_label[i]) if per_label[i] else None) for j, group in enumerate(group_names)
        }
        for i, label in enumerate(label_names)
    }
    return {
        "p_group_given_label": rates,
        "counts": {label: dict(zip(group_names, counts[i].tolist(), strict=True)) for i, label in enumerate(label_names)},
        "group_shares": {
            group: (float(counts[:, j].sum() / counts.sum()) if counts.sum() else None) for j, group in enumerate(group_names)
        },
        "num_rows": int(counts.sum()),
    }
