"""The sources registry: built-ins and third-party sources through one entry-point group, options by name."""

from __future__ import annotations

import gzip
import json
import sys
import textwrap

import numpy as np
import pytest

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.sources.base import (
    ClassificationSource,
    CorpusSource,
    build_source,
    installed_sources,
)
from lightning_bias.data.sources.encoding import ColumnMapping
from lightning_bias.data.sources.files import FilesSource
from lightning_bias.data.sources.hub import HubSource
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosSource
from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE
from lightning_bias.models.pretrained import load_tokenizer
from lightning_bias.plugin_registry import SOURCES, load_entry

# A third party's source, as its package would ship it: one file ...
THIRD_PARTY_SOURCE = '''
"""A third party's data source: a few inline reviews."""

import datasets

from lightning_bias.data.sources import ClassificationSource, LabelledSplits


class InlineReviewsSource(ClassificationSource):
    """Short reviews labelled negative or positive, written by women or men."""

    def __init__(self, rows_per_cell: int, label_names: list[str] | None = None, suffix: str = "") -> None:
        if rows_per_cell < 1:
            raise ValueError(f"data.source_options.rows_per_cell must be positive, got {rows_per_cell}")
        self.rows_per_cell = rows_per_cell
        self.label_names = label_names or ["negative", "positive"]
        self.suffix = suffix

    def load(self) -> LabelledSplits:
        rows = [
            (f"review {i} by a {group} reader, {label}{self.suffix}", label_id, group_id)
            for label_id, label in enumerate(self.label_names)
            for group_id, group in enumerate(["woman", "man"])
            for i in range(self.rows_per_cell)
        ]
        table = datasets.Dataset.from_dict(
            {"text": [r[0] for r in rows], "label": [r[1] for r in rows], "group": [r[2] for r in rows]}
        )
        return LabelledSplits({"train": table}, list(self.label_names), ["female", "male"])
'''
# ... and one entry point in its pyproject.toml (here: the dist-info that installing it would write)
THIRD_PARTY_ENTRY_POINTS = """
[lightning_bias.sources]
inline_reviews = lb_test_inline_reviews:InlineReviewsSource
"""


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture
def third_party_source(tmp_path, monkeypatch):
    """Install the third-party source above: its one file and a dist-info carrying its one entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "lb_test_inline_reviews.py").write_text(textwrap.dedent(THIRD_PARTY_SOURCE))
    dist_info = site / "lb_test_inline_reviews-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-test-inline-reviews\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(THIRD_PARTY_ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    yield "inline_reviews"
    sys.modules.pop("lb_test_inline_reviews", None)


def test_builtins_are_found_through_the_entry_point_group():
    assert load_entry(SOURCES, "synthetic_bios", ClassificationSource) is SyntheticBiosSource
    assert {"synthetic_bios", "files", "hub"} <= set(installed_sources(ClassificationSource))
    assert {"text_files", "hub_text"} <= set(installed_sources(CorpusSource))
    assert not {"text_files", "hub_text"} & set(installed_sources(ClassificationSource))


def test_a_third_party_source_is_one_file_and_one_entry_point(third_party_source, tokenizer, tmp_path):
    assert third_party_source in installed_sources(ClassificationSource)
    data = BiasDataModule(
        source=third_party_source, source_options={"rows_per_cell": 10, "suffix": "!"}, label_names=["bad", "good"],
        val_fraction=0.2, test_fraction=0.2, cache_dir=str(tmp_path / "cache"),
    )
    data.connect(tokenizer)
    data.setup("fit")
    info = data.info
    assert info.label_names == ("bad", "good") and info.group_names == ("female", "male")
    # 10 rows per (label, group) cell; val and test cut from train, 2 rows of every cell each
    assert info.sizes == {"train": 24, "val": 8, "test": 8, "predict": 8}
    assert info.source == {"name": "inline_reviews", "label_names": ["bad", "good"], "rows_per_cell": 10, "suffix": "!"}
    assert info.train_cooccurrence["counts"] == {"bad": {"female": 6, "male": 6}, "good": {"female": 6, "male": 6}}
    assert data.tables["train"][0]["text"].endswith("!")


def test_source_options_are_checked_against_the_source(third_party_source):
    with pytest.raises(ValueError, match=r"no option\(s\) \['rows'\]; it accepts \['rows_per_cell', 'suffix'\]"):
        BiasDataModule(source=third_party_source, source_options={"rows": 3})
    with pytest.raises(ValueError, match=r"\['label_names'\] are options of the data module itself; set them as "
                                         r"data.label_names"):
        BiasDataModule(source=third_party_source, source_options={"rows_per_cell": 3, "label_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['rows_per_cell'\]; set them under "
                                         r"data.source_options"):
        BiasDataModule(source=third_party_source)
    with pytest.raises(ValueError, match="rows_per_cell must be positive"):
        BiasDataModule(source=third_party_source, source_options={"rows_per_cell": 0})


def test_unknown_source_lists_the_installed_ones():
    with pytest.raises(ValueError, match=r"unknown data source 'csv_files' \(data.source\); installed "
                                         r"ClassificationSources: bias_in_bios, files, gab_hate_corpus, hub, sst2, "
                                         r"stormfront, synthetic_bios, wiki_toxicity"):
        BiasDataModule(source="csv_files")
    with pytest.raises(ValueError, match="unknown data source 'hf'.*installed CorpusSources: hub_text, text_files"):
        CorpusDataModule(source="hf")


def test_a_source_of_the_other_kind_is_refused():
    with pytest.raises(ValueError, match="'text_files' is a CorpusSource, but this data module reads "
                                         "ClassificationSources: bias_in_bios, files, gab_hate_corpus, hub, sst2, "
                                         "stormfront, synthetic_bios, wiki_toxicity"):
        BiasDataModule(source="text_files")
    with pytest.raises(ValueError, match="'files' is a ClassificationSource, but this data module reads CorpusSources"):
        CorpusDataModule(source="files")


def test_data_module_options_reach_the_source_by_name():
    source, record = build_source(
        "files", ClassificationSource,
        {"files": {"train": "a.csv"}, "columns": ColumnMapping(group="gender"), "label_names": None,
         "group_names": None, "batch_size": 8},
        {},
    )
    assert isinstance(source, FilesSource) and source.columns.group == "gender"
    assert record == {"name": "files", "files": {"train": "a.csv"},
                      "columns": {"text": "text", "label": "label", "group": "gender"},
                      "label_names": None, "group_names": None}


def test_source_option_errors_keep_their_messages():
    with pytest.raises(ValueError, match="data.source is 'files' but data.files is empty"):
        BiasDataModule(source="files")
    with pytest.raises(ValueError, match="data.files: unknown split 'dev'"):
        BiasDataModule(source="files", files={"train": "a.csv", "dev": "b.csv"})
    with pytest.raises(ValueError, match="data.source is 'hub' but data.hub_dataset is not set"):
        BiasDataModule(source="hub")
    with pytest.raises(ValueError, match="data.hub_splits .* has no 'train' key"):
        BiasDataModule(source="hub", hub_dataset="x", hub_splits={"val": "validation"})


def _write_rows(path, rows):
    text = "\n".join(json.dumps(row) for row in rows) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _rows(n: int, genders=("female", "male"), races=("black", "white")):
    return [
        {"bio": f"bio number {i}", "job": ["nurse", "surgeon"][i % 2], "gender": genders[i % len(genders)],
         "race": races[(i // 2) % len(races)]}
        for i in range(n)
    ]


def test_files_source_encodes_names_and_intersectional_groups(tmp_path):
    train = _write_rows(tmp_path / "train.jsonl.gz", _rows(16))
    test = _write_rows(tmp_path / "test.jsonl", _rows(4))
    source = FilesSource({"train": str(train), "test": str(test)},
                         columns={"text": "bio", "label": "job", "group": ["gender", "race"]})
    loaded = source.load()
    assert loaded.label_names == ["nurse", "surgeon"]
    assert loaded.group_names == ["female|black", "female|white", "male|black", "male|white"]
    assert sorted(loaded.tables) == ["test", "train"]
    assert loaded.tables["train"].column_names == ["text", "label", "group"]
    assert loaded.tables["train"][:4]["group"] == [0, 2, 1, 3]


def test_files_source_names_file_row_and_column(tmp_path):
    rows = _rows(6)
    rows[3]["job"] = 1.5
    train = _write_rows(tmp_path / "train.jsonl", rows)
    source = FilesSource({"train": str(train)}, columns=ColumnMapping(text="bio", label="job", group="gender"),
                         label_names=["nurse", "surgeon"])
    with pytest.raises(ValueError, match=r"data.files.train \(.*train.jsonl\), row 3, column 'job': label 1.5"):
        source.load()


def test_hub_source_reads_a_dataset_through_datasets_load_dataset(tmp_path):
    folder = tmp_path / "hub_dataset"
    folder.mkdir()
    _write_rows(folder / "train.jsonl", _rows(12))
    _write_rows(folder / "validation.jsonl", _rows(4))
    source = HubSource(str(folder), hub_splits={"train": "train", "val": "validation"},
                       columns={"text": "bio", "label": "job", "group": "gender"})
    loaded = source.load()
    assert {split: len(t) for split, t in loaded.tables.items()} == {"train": 12, "val": 4}
    assert loaded.group_names == ["female", "male"]


def test_one_group_dataset_fails_in_the_data_module(tmp_path, tokenizer):
    train = _write_rows(tmp_path / "train.jsonl", _rows(12, genders=("female",)))
    data = BiasDataModule(source="files", files={"train": str(train)},
                          columns=ColumnMapping(text="bio", label="job", group="gender"), cache_dir=str(tmp_path))
    data.connect(tokenizer)
    with pytest.raises(ValueError, match=r"the group column of the files source has 1 group \['female'\] over all "
                                         r"splits; group-fairness metrics need 2 or more"):
        data.setup("fit")


def test_synthetic_bios_source_accepts_a_mapping_of_options():
    loaded = SyntheticBiosSource({"num_examples": 200, "seed": 3}, val_fraction=0.1, test_fraction=0.0).load()
    assert {split: len(t) for split, t in loaded.tables.items()} == {"train": 180, "val": 20}
    assert loaded.group_names == ["male", "female"]


def _female_counts(table) -> dict[int, tuple[int, int]]:
    """Per label id: (female rows, rows)."""
    labels, groups = np.asarray(table["label"]), np.asarray(table["group"])
    return {int(y): (int((groups[labels == y] == 1).sum()), int((labels == y).sum())) for y in np.unique(labels)}


def test_synthetic_bios_evaluation_splits_do_not_move_with_the_train_rate():
    loaded = {rate: SyntheticBiosSource({"num_examples": 1000, "seed": 3, "female_rate": rate}).load().tables
              for rate in ("stereotypical", 0.1, 0.9)}
    for split in ("val", "test"):
        rows = [tables[split].to_dict() for tables in loaded.values()]
        assert rows[0] == rows[1] == rows[2], f"the {split} split changed with the train female_rate"
    assert loaded[0.1]["train"]["group"] != loaded[0.9]["train"]["group"]  # the condition itself did change
    for split in ("val", "test"):  # balanced by default: round(0.5 n) women per occupation
        for female, n in _female_counts(loaded[0.9][split]).values():
            assert female == round(0.5 * n)


def test_synthetic_bios_evaluation_rate_can_be_set_and_is_declared():
    source = SyntheticBiosSource({"num_examples": 1000, "seed": 3, "female_rate": 0.2,
                                  "eval_female_rate": "stereotypical"}, test_fraction=0.0)
    loaded = source.load()
    test_like, names = loaded.tables["val"], loaded.label_names
    for y, (female, n) in _female_counts(test_like).items():
        assert female == round(STEREOTYPICAL_FEMALE_RATE[names[y]] * n)
    assert source.declared_distribution() == {"train": {"female_rate": 0.2, "ambiguity": 0.3},
                                              "val": {"female_rate": "stereotypical", "ambiguity": 0.3}}
    assert SyntheticBiosSource().declared_distribution()["test"] == {"female_rate": 0.5, "ambiguity": 0.3}
