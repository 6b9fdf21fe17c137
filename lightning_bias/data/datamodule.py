"""``BiasDataModule``: classification rows with a protected attribute, ready for fair training.

One run's data path, top to bottom (``setup``):

1. load the raw splits from the source (synthetic bios, local files, or a hub dataset);
2. encode them to ``text`` / ``label`` / ``group`` with label and group names (several
   protected attributes become one intersectional group);
3. apply the downstream mitigations' ``transform`` to every split, in listed order;
4. collect their ``sample_weights`` and ``sampler`` for the train split;
5. tokenize once (fast tokenizer, batched, cached on disk across runs).

The dataloaders pad dynamically, shard evaluation exactly once per example under DDP, and
use the distributed-aware sampler that a mitigation supplies, if any. The train loader resumes
mid-epoch exactly from a Lightning checkpoint whenever its sampler is resumable (the default
shuffle and ``DistributedWeightedSampler`` are; length grouping is not).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedTokenizerBase

from lightning_bias.data import sources
from lightning_bias.data.batching import LengthGroupedSampler, PaddingCollator
from lightning_bias.data.synthetic_bios import generate_bios
from lightning_bias.metrics import intersectional_groups
from lightning_bias.mitigation import Mitigation, mitigations_of
from lightning_bias.sampler_checkpointing import ResumableDataLoader, ResumableSampler
from lightning_bias.samplers import DistributedWeightedSampler, UnpaddedDistributedSampler

DEFAULT_CACHE_DIR = Path(os.environ.get("LIGHTNING_BIAS_CACHE", Path.home() / ".cache" / "lightning_bias"))


@dataclass
class SyntheticBiosOptions:
    """Options of the built-in synthetic biographies (see ``lightning_bias.data.synthetic_bios``).

    ``female_rate`` is P(female | occupation) of the train split: a number, a mapping per
    occupation, or a preset (``"stereotypical"``, ``"balanced"``). ``eval_female_rate`` does the
    same for validation and test (default: the same as train).
    """

    num_examples: int = 3000
    female_rate: float | dict[str, float] | str = "stereotypical"
    eval_female_rate: float | dict[str, float] | str | None = None
    ambiguity: float = 0.3
    occupations: list[str] | None = None
    seed: int = 0


@dataclass
class ColumnMapping:
    """Which source columns hold the text, the label and the protected attribute(s)."""

    text: str = "text"
    label: str = "label"
    group: str | list[str] = "group"


@dataclass
class EncodedSplits:
    tables: dict[str, datasets.Dataset]
    label_names: list[str]
    group_names: list[str]
    notes: list[str] = field(default_factory=list)


class BiasDataModule(LightningDataModule):
    """Rows ``text``, ``label``, ``group`` for sequence classification with group-fairness metrics.

    Args:
        source: ``"synthetic_bios"`` (built-in), ``"files"`` (local CSV/TSV/JSONL/Parquet, optionally
            gzipped) or ``"hub"`` (a Hugging Face dataset by name).
        synthetic_bios: options of the synthetic source.
        files: one path per split (keys ``train``, ``val``, ``test``, ``predict``); splits not given are
            cut from ``train`` by a seeded split stratified by label and group.
        hub_dataset, hub_config, hub_splits: the hub dataset, its config and a map from our split names to
            its own (default ``{"train": "train", "val": "validation", "test": "test"}``).
        columns: the source's text, label and group column(s); several group columns give intersectional
            groups such as ``female|black``.
        label_names, group_names: names for integer ids, or the order of string values (per group column).
        val_fraction, test_fraction, split_seed: the seeded stratified split for splits not given.
        batch_size, eval_batch_size, max_length: batching; padding is dynamic, to the longest in a batch.
        group_by_length: batch rows of similar token length together (faster, less padding).
        seed: seed of the training order (and of samplers that mitigations supply).
        cache_dir: where tokenized tables are cached across runs.
    """

    def __init__(
        self,
        source: Literal["synthetic_bios", "files", "hub"] = "synthetic_bios",
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
    ) -> None:
        super().__init__()
        for name, value in [("val_fraction", val_fraction), ("test_fraction", test_fraction)]:
            if not 0.0 <= value < 1.0:
                raise ValueError(f"data.{name} must be in [0, 1), got {value}")
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"data.val_fraction + data.test_fraction must be below 1, got {val_fraction + test_fraction}"
            )
        if source == "files" and not files:
            raise ValueError("data.source is 'files' but data.files is empty; give e.g. {train: path/to/train.csv}")
        if source == "hub" and not hub_dataset:
            raise ValueError("data.source is 'hub' but data.hub_dataset is not set; give a dataset name")
        self.source = source
        self.synthetic_bios = synthetic_bios or SyntheticBiosOptions()
        self.files = dict(files or {})
        self.hub_dataset = hub_dataset
        self.hub_config = hub_config
        self.hub_splits = dict(hub_splits or {"train": "train", "val": "validation", "test": "test"})
        self.columns = columns or ColumnMapping()
        self.given_label_names = label_names
        self.given_group_names = group_names
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

        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.label_names: list[str] = []
        self.group_names: list[str] = []
        self.tables: dict[str, datasets.Dataset] = {}
        self.tokenized: dict[str, datasets.Dataset] = {}
        self.train_cooccurrence: dict[str, Any] = {}
        self.mitigation_notes: list[str] = []
        self.train_sampler: Sampler[int] | None = None
        self._plugin_sampler_factory: Mitigation | None = None

    # --- wiring ---------------------------------------------------------------------------------

    def connect(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Give the data module the model's tokenizer (done by ``setup`` when a trainer is attached)."""
        self.tokenizer = tokenizer

    def _mitigations(self) -> list[Mitigation]:
        if self.trainer is None:
            return []
        upstream = mitigations_of(self.trainer.callbacks, stage="upstream")
        if upstream:
            names = ", ".join(type(m).__name__ for m in upstream)
            raise ValueError(
                f"upstream mitigation(s) {names} listed in a fine-tuning run; they act on masked-LM pre-training: "
                "run them with `lightning_bias pretrain` and give its checkpoint to fit as model.model"
            )
        return mitigations_of(self.trainer.callbacks, stage="downstream")

    # --- loading --------------------------------------------------------------------------------

    def load(self) -> EncodedSplits:
        """Load and encode every split; no mitigation, no tokenization."""
        if self.source == "synthetic_bios":
            return self._load_synthetic()
        raw = sources.load_files(self.files) if self.source == "files" else self._load_hub()
        if "train" not in raw:
            raise ValueError(f"data: the {self.source} source gives no train split; splits found: {sorted(raw)}")
        group_columns = [self.columns.group] if isinstance(self.columns.group, str) else list(self.columns.group)
        label_names = self.given_label_names or sources.infer_names(list(raw.values()), self.columns.label)
        attr_names = dict(self.given_group_names or {})
        for column in group_columns:
            if column not in attr_names:
                inferred = sources.infer_names(list(raw.values()), column)
                if inferred is not None:
                    attr_names[column] = inferred
        encoded: dict[str, datasets.Dataset] = {}
        for split, table in raw.items():
            where = f"data.files.{split} ({self.files[split]})" if self.source == "files" else f"hub {self.hub_dataset}[{split}]"
            encoded[split], label_names, attr_names = sources.normalize_table(
                table,
                text_column=self.columns.text,
                label_column=self.columns.label,
                group_columns=group_columns,
                label_names=label_names,
                group_names=attr_names,
                where=where,
            )
        if len(label_names) < 2:
            raise ValueError(f"data: the label column has {len(label_names)} class(es); classification needs 2 or more")
        encoded, group_names = self._combine_groups(encoded, group_columns, attr_names)
        encoded = self._split_missing(encoded)
        return EncodedSplits(encoded, label_names, group_names)

    def _load_hub(self) -> dict[str, datasets.Dataset]:
        return sources.load_hub(self.hub_dataset, self.hub_config, self.hub_splits)

    def _load_synthetic(self) -> EncodedSplits:
        opts = self.synthetic_bios
        n_val = round(opts.num_examples * self.val_fraction)
        n_test = round(opts.num_examples * self.test_fraction)
        n_train = opts.num_examples - n_val - n_test
        eval_rate = opts.female_rate if opts.eval_female_rate is None else opts.eval_female_rate
        plan = [("train", n_train, opts.female_rate, 0), ("val", n_val, eval_rate, 1), ("test", n_test, eval_rate, 2)]
        tables, label_names, group_names = {}, [], []
        for split, n, rate, offset in plan:
            if n == 0:
                continue
            bios = generate_bios(
                n, seed=opts.seed * 1000 + offset, female_rate=rate, ambiguity=opts.ambiguity, occupations=opts.occupations
            )
            tables[split] = datasets.Dataset.from_dict({"text": bios.texts, "label": bios.labels, "group": bios.groups})
            label_names, group_names = list(bios.label_names), list(bios.group_names)
        return EncodedSplits(tables, label_names, group_names)

    @staticmethod
    def _combine_groups(
        tables: dict[str, datasets.Dataset], group_columns: list[str], attr_names: dict[str, list[str]]
    ) -> tuple[dict[str, datasets.Dataset], list[str]]:
        if len(group_columns) == 1:
            column = group_columns[0]
            return {s: t.rename_column(f"attr/{column}", "group") for s, t in tables.items()}, attr_names[column]
        # every split shares one id space: the full product of attribute values
        combined, names = {}, []
        for split, table in tables.items():
            ids, names = intersectional_groups(
                {c: table[f"attr/{c}"] for c in group_columns}, {c: attr_names[c] for c in group_columns}
            )
            ids = [int(i) for i in ids]
            table = table.remove_columns([f"attr/{c}" for c in group_columns])
            combined[split] = table.add_column("group", ids)
        return combined, list(names)

    def _split_missing(self, tables: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
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
        if self.tokenizer is None:
            if self.trainer is None or not hasattr(self.trainer.lightning_module, "tokenizer"):
                raise RuntimeError("BiasDataModule needs a tokenizer: call connect(tokenizer) or attach to a Trainer")
            self.tokenizer = self.trainer.lightning_module.tokenizer
        if self.tables:
            return  # already set up (fit followed by test in one process)
        loaded = self.load()
        self.label_names, self.group_names = loaded.label_names, loaded.group_names
        tables = {split: self._with_names(table) for split, table in loaded.tables.items()}
        if "predict" not in tables and "test" in tables:
            tables["predict"] = tables["test"]
        mitigations = self._mitigations()
        for split in list(tables):
            for mitigation in mitigations:
                tables[split] = mitigation.transform(tables[split], split)
                self._check_table(tables[split], split, type(mitigation).__name__)
        for split, table in tables.items():
            self._check_table(table, split, None)
        self.tables = tables
        self.train_cooccurrence = cooccurrence(tables["train"], self.label_names, self.group_names)
        self._warn_empty_groups()
        weights = self._sample_weights(mitigations, tables["train"])
        self._plugin_sampler_factory = self._sampler_plugin(mitigations)
        self.tokenized = {split: self._tokenize(table) for split, table in tables.items()}
        if weights is not None:
            self.tokenized["train"] = self.tokenized["train"].add_column("weight", weights.tolist())

    def _with_names(self, table: datasets.Dataset) -> datasets.Dataset:
        """Carry label and group names on the table (``ClassLabel`` features) so plugins can resolve names."""
        features = table.features.copy()
        features["label"] = datasets.ClassLabel(names=list(self.label_names))
        features["group"] = datasets.ClassLabel(names=list(self.group_names))
        return table.cast(features)

    def _check_table(self, table: datasets.Dataset, split: str, by: str | None) -> None:
        after = f" after mitigation {by}" if by else ""
        missing = {"text", "label", "group"} - set(table.column_names)
        if missing:
            raise ValueError(f"data split {split!r}{after} lacks column(s) {sorted(missing)}")
        if len(table) == 0:
            raise ValueError(
                f"data split {split!r} has no rows{after}; check the source file, the split fractions"
                + (" or that mitigation's settings" if by else "")
            )
        if by is None:
            labels = np.asarray(table["label"])
            groups = np.asarray(table["group"])
            if labels.min() < 0 or labels.max() >= len(self.label_names):
                raise ValueError(f"data split {split!r}: label ids outside 0..{len(self.label_names) - 1}")
            if groups.min() < 0 or groups.max() >= len(self.group_names):
                raise ValueError(f"data split {split!r}: group ids outside 0..{len(self.group_names) - 1}")

    def _warn_empty_groups(self) -> None:
        for split in ("val", "test"):
            if split not in self.tables:
                continue
            present = set(np.unique(np.asarray(self.tables[split]["group"])).tolist())
            empty = [name for i, name in enumerate(self.group_names) if i not in present]
            if empty:
                warnings.warn(
                    f"data split {split!r} has no rows for group(s) {empty}; their rates and gaps are undefined "
                    "and the bias report lists them under empty_groups",
                    stacklevel=2,
                )

    @staticmethod
    def _sample_weights(mitigations: Sequence[Mitigation], table: datasets.Dataset) -> np.ndarray | None:
        weights = None
        for mitigation in mitigations:
            given = mitigation.sample_weights(table)
            if given is None:
                continue
            name = type(mitigation).__name__
            array = np.asarray(given.detach().cpu() if isinstance(given, torch.Tensor) else given, dtype=np.float64)
            if array.ndim != 1 or len(array) != len(table):
                raise ValueError(
                    f"mitigation {name}: sample_weights gave shape {array.shape}; expected ({len(table)},), "
                    "one weight per row of the transformed train table"
                )
            bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
            if len(bad):
                raise ValueError(
                    f"mitigation {name}: sample weight at row {bad[0]} is {array[bad[0]]}; weights must be "
                    "finite and non-negative"
                )
            weights = array if weights is None else weights * array
        if weights is not None and not weights.sum() > 0:
            raise ValueError("the combined sample weights are all zero; no row would contribute to the loss")
        return weights

    @staticmethod
    def _sampler_plugin(mitigations: Sequence[Mitigation]) -> Mitigation | None:
        supplying = [m for m in mitigations if type(m).sampler is not Mitigation.sampler]
        if len(supplying) > 1:
            names = ", ".join(type(m).__name__ for m in supplying)
            raise ValueError(
                f"several mitigations supply a training sampler ({names}); only one may — "
                "drop one of them or use a reweighting scheme instead of a second sampler"
            )
        return supplying[0] if supplying else None

    def _tokenize(self, table: datasets.Dataset) -> datasets.Dataset:
        tokenizer = self.tokenizer
        digest = hashlib.sha256()
        digest.update(tokenizer.backend_tokenizer.to_str().encode())
        digest.update(f"{self.max_length}|{len(table)}".encode())
        for start in range(0, len(table), 65536):
            digest.update("\x00".join(table[start : start + 65536]["text"]).encode())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cache_file = self.cache_dir / f"{digest.hexdigest()[:32]}.arrow"

        def encode(batch: dict[str, list]) -> dict[str, list]:
            return {"input_ids": tokenizer(batch["text"], truncation=True, max_length=self.max_length)["input_ids"]}

        keep = [c for c in table.column_names if c not in ("label", "group")]
        tokenized = table.map(
            encode, batched=True, batch_size=2048, cache_file_name=str(cache_file), remove_columns=keep,
            load_from_cache_file=True, desc="tokenizing",
        )
        return tokenized.with_format(None)

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
        sampler: Sampler[int] | None = None
        if self._plugin_sampler_factory is not None:
            sampler = self._plugin_sampler_factory.sampler(self.tables["train"], num_replicas, rank, self.seed)
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


def cooccurrence(table: datasets.Dataset, label_names: list[str], group_names: list[str]) -> dict[str, Any]:
    """Measured P(group | label) of a table, with the counts behind it."""
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
        "num_rows": int(counts.sum()),
    }
