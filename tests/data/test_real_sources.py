"""The real-data sources on ../shared/data: labels by name, groups, split handling, and their bad-input errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, shared_data

from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.identity_mentions import IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.base import ClassificationSource, build_source
from lightning_bias.data.sources.bias_in_bios import OCCUPATIONS
from lightning_bias.data.sources.data_root import DATA_ROOT_ENV, DATA_ROOT_OPTION
from lightning_bias.plugin_registry import SOURCES, available

REAL_SOURCES = ["bias_in_bios", "stormfront", "gab_hate_corpus", "wiki_toxicity", "sst2"]
STORMFRONT = ("hate_speech_identity_terms", "stormfront")


@pytest.fixture(autouse=True)
def no_data_root_in_the_environment(monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)


def load(name: str, **options):
    """The source's splits as the data module loads them (missing validation/test cut from train)."""
    return BiasDataModule(source=name, source_options=options).load()


def counts(table, num_labels: int, num_groups: int) -> np.ndarray:
    out = np.zeros((num_labels, num_groups), dtype=int)
    np.add.at(out, (np.asarray(table["label"]), np.asarray(table["group"])), 1)
    return out


def test_every_real_source_is_registered():
    assert set(REAL_SOURCES) <= set(available(SOURCES))


def test_stormfront_keeps_its_splits_and_groups_by_mention():
    root = shared_data(*STORMFRONT).parents[1]
    splits = load("stormfront", data_root=str(root))
    assert splits.label_names == ["not_hate", "hate"] and splits.group_names == ["no_mention", "mention"]
    sizes = {split: len(table) for split, table in splits.tables.items()}
    assert sizes == {"train": 7896, "val": 978, "test": 1998}  # train, dev, test as distributed
    hate = {split: int(np.sum(table["label"])) for split, table in splits.tables.items()}
    assert hate == {"train": 1059, "val": 122, "test": 246}  # PROVENANCE.md
    # the group is exactly "mentions a term of the project's list", recomputed here from the file itself
    matcher = IdentityTermMatcher(load_term_lists(None, "test"))
    raw = pd.read_csv(root / "hate_speech_identity_terms" / "stormfront" / "test.tsv.gz", sep="\t")
    assert list(splits.tables["test"]["group"]) == [int(bool(matcher.mentioned(t))) for t in raw["text"]]


def test_stormfront_identity_policy_groups_by_family():
    root = shared_data(*STORMFRONT).parents[1]
    with pytest.warns(UserWarning, match=r"left out of the groups: \['gender_identity'\] \(only texts that also"):
        splits = load("stormfront", data_root=str(root), group_by="identity")
    assert splits.group_names[-2:] == ["none", "multiple"]
    assert "gender_identity" not in splits.group_names
    for table in splits.tables.values():  # no group is empty over all splits together
        assert set(np.unique(table["group"])) <= set(range(len(splits.group_names)))
    total = sum(counts(t, 2, len(splits.group_names)) for t in splits.tables.values())
    assert (total.sum(axis=0) > 0).all()


def test_bias_in_bios_subset_has_a_gold_test_split_and_names_occupations():
    folder = shared_data("bias_in_bios_subset")
    splits = load("bias_in_bios", data_root=str(folder.parent))
    assert splits.label_names == ["dentist", "nurse", "physician", "psychologist", "surgeon"]  # the hub's id order
    assert splits.group_names == ["male", "female"]
    test = splits.tables["test"]
    gold = pd.read_csv(folder / "biosbias.csv")
    assert len(test) == 339
    assert [splits.label_names[i] for i in test["label"]] == list(gold["title"])  # gold occupations, in order
    assert int(np.sum(test["group"])) == 201  # female (PROVENANCE.md)
    # train and validation: the predicted-occupation bios, without those of the gold test split, val cut seeded
    texts = {split: set(table["text"]) for split, table in splits.tables.items()}
    assert not texts["test"] & (texts["train"] | texts["val"])
    assert len(splits.tables["train"]) + len(splits.tables["val"]) == 1036 + 108 - 335
    assert load("bias_in_bios", data_root=str(folder)).tables["val"]["text"] == splits.tables["val"]["text"]


def test_bias_in_bios_reads_a_local_copy_in_the_hub_shape(tmp_path):
    folder = tmp_path / "bias_in_bios"
    folder.mkdir()
    rows = {"train": [(19, 0), (13, 1), (19, 1)], "dev": [(13, 0)], "test": [(19, 1), (13, 0)]}
    for split, pairs in rows.items():
        pd.DataFrame(
            {"hard_text": [f"bio {i} of {split}" for i in range(len(pairs))],
             "profession": [p for p, _ in pairs], "gender": [g for _, g in pairs]}
        ).to_parquet(folder / f"{split}.parquet")
    splits = load("bias_in_bios", data_root=str(tmp_path))
    assert splits.label_names == ["nurse", "physician"] and splits.group_names == ["male", "female"]
    assert {s: len(t) for s, t in splits.tables.items()} == {"train": 3, "val": 1, "test": 2}
    assert [splits.label_names[i] for i in splits.tables["train"]["label"]] == ["physician", "nurse", "physician"]


@pytest.mark.parametrize(
    ("name", "hub_dataset"), [("bias_in_bios", "LabHC/bias_in_bios"), ("sst2", "stanfordnlp/sst2")]
)
def test_without_a_data_root_the_hub_is_read_and_an_offline_hub_is_one_error(monkeypatch, name, hub_dataset):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=hub_dataset) as error:
        load(name)
    assert "offline" in str(error.value) and DATA_ROOT_OPTION in str(error.value)


def test_gab_hate_corpus_trains_on_dev_without_a_train_file_and_groups_by_target():
    folder = shared_data("hate_speech_identity_terms", "gab_hate_corpus")
    with pytest.warns(UserWarning) as caught:
        splits = load("gab_hate_corpus", data_root=str(folder))
    messages = " | ".join(str(w.message) for w in caught)
    assert "training on dev.jsonl.gz" in messages
    assert "['sxo', 'mph'] are missing from some split's file" in messages  # test has no sxo / mph columns
    assert "1 row(s) without text left out" in messages  # one blank post in dev
    assert splits.label_names == ["not_hate", "hate"]
    assert splits.group_names == [
        "race_ethnicity", "nationality", "gender", "religion", "ideology", "political", "none", "multiple"]
    test = pd.read_json(folder / "test.jsonl.gz", lines=True)
    hate = ((test["hd"] == 1) | (test["cv"] == 1)).astype(int)
    assert list(splits.tables["test"]["label"]) == list(hate)  # hate = hd or cv
    assert len(splits.tables["train"]) + len(splits.tables["val"]) == 1586 - 1


def test_wiki_toxicity_variants_share_labels_and_cut_their_evaluation_splits():
    root = shared_data("wiki_toxicity_dixon2018").parent
    plain = load("wiki_toxicity", data_root=str(root))
    fuzzed = load("wiki_toxicity", data_root=str(root), variant="fuzzed")
    for splits in (plain, fuzzed):
        assert splits.label_names == ["non_toxic", "toxic"] and set(splits.tables) == {"train", "val", "test"}
        assert sum(len(t) for t in splits.tables.values()) == 1492
        assert sum(int(np.sum(t["label"])) for t in splits.tables.values()) == 248


def test_sst2_uses_glue_dev_as_test_and_cuts_validation_from_train():
    root = shared_data("sst2").parent
    splits = load("sst2", data_root=str(root))
    assert splits.label_names == ["negative", "positive"] and splits.group_names == ["no_mention", "mention"]
    assert len(splits.tables["test"]) == 872 and int(np.sum(splits.tables["test"]["label"])) == 444
    assert len(splits.tables["train"]) + len(splits.tables["val"]) == 67349


def test_the_data_root_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(shared_data("wiki_toxicity_dixon2018").parent))
    assert sum(len(t) for t in load("wiki_toxicity").tables.values()) == 1492


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_SOURCES)
def test_a_data_root_without_the_files_names_the_root_and_the_option(tmp_path, name):
    with pytest.raises(ValueError) as error:
        load(name, data_root=str(tmp_path))
    message = str(error.value)
    assert str(tmp_path) in message and DATA_ROOT_OPTION in message and "\n" not in message


def test_a_data_root_set_by_the_environment_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=rf"{DATA_ROOT_ENV}={tmp_path / 'nowhere'}: no such folder"):
        load("stormfront")


def test_a_source_without_a_hub_copy_asks_for_a_data_root():
    with pytest.raises(ValueError, match=rf"stormfront: no local copy given .*{DATA_ROOT_ENV}"):
        load("stormfront")


def _stormfront_copy(tmp_path, rows: int = 60):
    """A small copy of the Stormfront files under tmp_path/stormfront (first ``rows`` of each split)."""
    folder = tmp_path / "stormfront"
    folder.mkdir()
    for name in ("train", "dev", "test"):
        table = pd.read_csv(shared_data(*STORMFRONT, f"{name}.tsv.gz"), sep="\t").head(rows)
        table.to_csv(folder / f"{name}.tsv.gz", sep="\t", index=False)
    return folder


def test_a_label_value_outside_the_label_set_names_file_row_and_column(tmp_path):
    folder = _stormfront_copy(tmp_path)
    test = pd.read_csv(folder / "test.tsv.gz", sep="\t")
    test.loc[7, "is_hate"] = 2
    test.to_csv(folder / "test.tsv.gz", sep="\t", index=False)
    with pytest.raises(ValueError, match=r"test\.tsv\.gz\), row 7, column 'is_hate': value 2 is not one of \[0, 1\]"):
        load("stormfront", data_root=str(tmp_path))


def test_a_label_never_seen_in_train_is_one_warning(tmp_path):
    folder = tmp_path / "bias_in_bios"
    folder.mkdir()
    train = [{"hard_text": f"bio {i}", "profession": 19, "gender": i % 2} for i in range(4)]
    test = train[:2] + [{"hard_text": "a dentist's bio", "profession": OCCUPATIONS.index("dentist"), "gender": 1}]
    for split, rows in {"train": train, "test": test}.items():
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    with pytest.warns(UserWarning, match=r"never seen in the train split .*\{'dentist \(test\)': 1\}") as caught:
        splits = load("bias_in_bios", data_root=str(tmp_path))
    assert len(caught) == 1 and splits.label_names == ["dentist", "physician"]


def test_a_term_list_that_matches_no_stormfront_text_is_an_error(tmp_path):
    _stormfront_copy(tmp_path)
    terms = tmp_path / "terms.txt"
    terms.write_text("zyzzyva\n")
    with pytest.raises(ValueError, match=r"data.source_options.identity_terms: no text of stormfront mentions"):
        load("stormfront", data_root=str(tmp_path), identity_terms=[str(terms)])


def test_the_shared_term_list_can_replace_the_projects():
    identity = shared_data("hate_speech_identity_terms", "identity_term_lists", "identity.csv")
    splits = load("stormfront", data_root=str(SHARED_DATA), group_by="identity", identity_terms=[str(identity)])
    assert splits.group_names == ["identity", "none"]  # the file's one family: no text concerns several


@pytest.mark.parametrize(("name", "option"), [("wiki_toxicity", "variant"), ("gab_hate_corpus", "group_by")])
def test_bad_option_values_name_the_option(name, option):
    with pytest.raises(ValueError, match=rf"data.source_options.{option}: unknown"):
        build_source(name, ClassificationSource, {}, {option: "nonsense"})
