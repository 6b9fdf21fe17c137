"""BiasDataModule: splits, the mitigation pipeline (transform checks, weights, one sampler), DatasetInfo, tokenizer."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from lightning_bias.data.batching import BatchKeys
from lightning_bias.data.datamodule import BiasDataModule, cooccurrence
from lightning_bias.data.samplers import DistributedWeightedSampler
from lightning_bias.data.synthetic_bios import generate_bios
from lightning_bias.mitigation import Mitigation
from lightning_bias.models.pretrained import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _module(tmp_path, tokenizer, *callbacks, **options) -> BiasDataModule:
    data = BiasDataModule(synthetic_bios={"num_examples": 400, "seed": 1}, batch_size=16,
                          cache_dir=str(tmp_path / "cache"), **options)
    data.connect(tokenizer)
    if callbacks:
        data.trainer = pl.Trainer(callbacks=list(callbacks), logger=False, enable_progress_bar=False)
    return data


class _Halving(Mitigation):
    """Keeps the first half of the train rows."""

    def transform(self, table, split):
        return table.select(range(len(table) // 2)) if split == "train" else table


class _EmptyingVal(Mitigation):
    """Drops every validation row."""

    def transform(self, table, split):
        return table.select([]) if split == "val" else table


class _ToList(Mitigation):
    """Returns the wrong type."""

    def transform(self, table, split):
        return table.to_list()


class _Weights(Mitigation):
    """Weights every row by ``factor`` times (label + 1)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def sample_weights(self, table):
        return [self.factor * (label + 1) for label in table["label"]]


class _Sampling(Mitigation):
    """Supplies a seeded weighted sampler."""

    def sampler(self, table, num_replicas, rank, seed):
        return DistributedWeightedSampler(torch.ones(len(table)), num_samples=32, num_replicas=num_replicas,
                                          rank=rank, seed=seed)


class _SamplingToo(_Sampling):
    """A second sampler."""


class _Upstream(Mitigation):
    """Belongs to pre-training."""

    stage = "upstream"


def test_setup_gives_info_tables_and_batches(tmp_path, tokenizer):
    data = _module(tmp_path, tokenizer)
    data.setup("fit")
    info = data.info
    assert info.group_names == ("male", "female") and info.num_labels == 16
    assert info.sizes == {"train": 280, "val": 60, "test": 60, "predict": 60}
    assert info.sizes == {split: len(table) for split, table in data.tables.items()}
    assert info.train_cooccurrence == cooccurrence(data.tables["train"], list(info.label_names), list(info.group_names))
    assert info.source["name"] == "synthetic_bios" and info.source["synthetic_bios"] == {"num_examples": 400, "seed": 1}
    assert data.tables["train"].features["group"].names == ["male", "female"]
    assert data.tables["predict"] is data.tables["test"]
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {BatchKeys.INPUT_IDS, BatchKeys.ATTENTION_MASK, BatchKeys.LABELS, BatchKeys.GROUPS}
    assert batch[BatchKeys.INPUT_IDS].shape[1] <= data.max_length


def test_info_records_sizes_before_mitigation_every_splits_distribution_and_the_seeds(tmp_path, tokenizer):
    data = _module(tmp_path, tokenizer, _Halving(), seed=5, split_seed=7)
    data.setup("fit")
    info = data.info
    assert info.sizes_before_mitigation == {"train": 280, "val": 60, "test": 60, "predict": 60}
    assert info.sizes["train"] == 140
    assert info.seeds == {"data": 5, "split": 7, "source": 1}  # source: data.synthetic_bios.seed
    names = (list(info.label_names), list(info.group_names))
    assert info.cooccurrence == {split: cooccurrence(table, *names) for split, table in data.tables.items()}
    assert info.cooccurrence["train"] is info.train_cooccurrence
    groups = np.asarray(data.tables["test"]["group"])
    assert info.cooccurrence["test"]["group_shares"] == {"male": float((groups == 0).mean()),
                                                         "female": float((groups == 1).mean())}
    # what the synthetic source declares: the configured train rate, balanced evaluation splits
    assert info.declared_distribution == {"train": {"female_rate": "stereotypical", "ambiguity": 0.3},
                                          "val": {"female_rate": 0.5, "ambiguity": 0.3},
                                          "test": {"female_rate": 0.5, "ambiguity": 0.3}}


def test_a_source_that_declares_nothing_and_has_no_seed(tmp_path, tokenizer):
    bios = generate_bios(200, seed=2)
    path = tmp_path / "bios.csv"
    pd.DataFrame({"text": bios.texts, "label": bios.labels, "group": bios.groups}).to_csv(path, index=False)
    data = BiasDataModule(source="files", files={"train": str(path)}, label_names=list(bios.label_names),
                          group_names={"group": list(bios.group_names)}, cache_dir=str(tmp_path / "cache"))
    data.connect(tokenizer)
    data.setup("fit")
    assert data.info.declared_distribution == {} and data.info.seeds == {"data": 0, "split": 0}


def test_transforms_run_in_order_and_every_output_is_checked(tmp_path, tokenizer):
    data = _module(tmp_path, tokenizer, _Halving())
    data.setup("fit")
    assert data.info.sizes["train"] == 140 and data.info.train_cooccurrence["num_rows"] == 140
    with pytest.raises(ValueError, match="data split 'val' has no rows after mitigation _EmptyingVal"):
        _module(tmp_path, tokenizer, _EmptyingVal()).setup("fit")
    with pytest.raises(ValueError, match="_ToList.transform must return a datasets.Dataset, got list"):
        _module(tmp_path, tokenizer, _ToList()).setup("fit")


def test_weights_multiply_and_only_one_sampler(tmp_path, tokenizer):
    data = _module(tmp_path, tokenizer, _Weights(2.0), _Weights(0.5), _Halving())
    data.setup("fit")
    labels = np.asarray(data.tables["train"]["label"])
    np.testing.assert_allclose(data.tokenized["train"]["weight"], (labels + 1.0) ** 2)
    assert BatchKeys.WEIGHTS in next(iter(data.train_dataloader()))
    data = _module(tmp_path, tokenizer, _Sampling())
    data.setup("fit")
    data.train_dataloader()
    assert isinstance(data.train_sampler, DistributedWeightedSampler) and data.train_sampler.num_samples == 32
    with pytest.raises(ValueError, match=r"several mitigations supply a training sampler \(_Sampling, _SamplingToo\)"):
        _module(tmp_path, tokenizer, _Sampling(), _SamplingToo()).setup("fit")


def test_upstream_mitigation_in_a_fine_tuning_run_is_an_error(tmp_path, tokenizer):
    with pytest.raises(ValueError, match=r"downstream run given mitigation\(s\) of another stage: _Upstream"):
        _module(tmp_path, tokenizer, _Upstream()).setup("fit")


def test_missing_splits_are_cut_from_train_stratified_and_seeded(tmp_path, tokenizer):
    data = _module(tmp_path, tokenizer, val_fraction=0.25, test_fraction=0.0)
    first = data.load()
    assert sorted(first.tables) == ["train", "val"]
    again = _module(tmp_path, tokenizer, val_fraction=0.25, test_fraction=0.0).load()
    assert first.tables["val"]["text"] == again.tables["val"]["text"]


def test_label_and_split_errors_name_the_data(tmp_path, tokenizer):
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("text,label,group\n" + "".join(f"bio {i},nurse,{['f', 'm'][i % 2]}\n" for i in range(8)))
    data = BiasDataModule(source="files", files={"train": str(one_class)}, cache_dir=str(tmp_path))
    data.connect(tokenizer)
    with pytest.raises(ValueError, match=r"the label column has 1 class\(es\); classification needs 2 or more"):
        data.setup("fit")
    data = BiasDataModule(source="files", files={"test": str(one_class)}, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"the files source gives no train split; splits found: \['test'\]"):
        data.load()


def test_tokenizer_comes_from_connect_or_the_model(tmp_path, tokenizer):
    data = BiasDataModule(synthetic_bios={"num_examples": 200}, cache_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match=r"BiasDataModule needs a tokenizer: call connect\(tokenizer\)"):
        data.setup("fit")


def test_tables_keep_extra_columns_for_plugins(tmp_path, tokenizer):
    class _Flagging(Mitigation):
        """Adds a column."""

        def transform(self, table, split):
            return table.add_column("flag", [True] * len(table))

    data = _module(tmp_path, tokenizer, _Flagging())
    data.setup("fit")
    assert isinstance(data.tables["val"], datasets.Dataset) and "flag" in data.tables["val"].column_names
    assert sorted(data.tokenized["val"].column_names) == ["group", "input_ids", "label"]
