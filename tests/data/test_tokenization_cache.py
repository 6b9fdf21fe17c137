"""The tokenization cache: token ids shared across runs, labels and groups always the run's own; stale temp files go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lightning_bias.data.corpus import tokenize_corpus
from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.stale_temp_files import STALE_AFTER_S, remove_stale_temp_files
from lightning_bias.models.pretrained import load_tokenizer

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _write_splits(folder: Path, flipped: bool) -> dict[str, str]:
    """The same bios per split; ``flipped`` swaps every row's occupation and gender."""
    folder.mkdir()
    files = {}
    for split in SPLITS:
        rows = ["bio,occupation,gender"]
        for i in range(24):
            occupation, gender = ("nurse", "female") if i % 3 else ("surgeon", "male")
            if flipped:
                occupation = "surgeon" if occupation == "nurse" else "nurse"
                gender = "male" if gender == "female" else "female"
            rows.append(f"{split} bio number {i} about a person,{occupation},{gender}")
        files[split] = str(folder / f"{split}.csv")
        Path(files[split]).write_text("\n".join(rows) + "\n")
    return files


def _set_up(files: dict[str, str], cache_dir: Path, tokenizer) -> BiasDataModule:
    data = BiasDataModule(source="files", files=files, columns={"text": "bio", "label": "occupation",
                          "group": "gender"}, cache_dir=str(cache_dir))
    data.connect(tokenizer)
    data.setup("fit")
    return data


def test_same_texts_with_other_labels_and_groups_see_their_own(tmp_path, tokenizer):
    cache_dir = tmp_path / "cache"
    first = _set_up(_write_splits(tmp_path / "first", flipped=False), cache_dir, tokenizer)
    cached = sorted(cache_dir.glob("*.arrow"))
    second = _set_up(_write_splits(tmp_path / "second", flipped=True), cache_dir, tokenizer)
    for split in SPLITS:
        own, other = second.tokenized[split], first.tokenized[split]
        assert own["label"] == second.tables[split]["label"] != other["label"], split
        assert own["group"] == second.tables[split]["group"] != other["group"], split
        assert own["input_ids"] == other["input_ids"]
        assert own.features["group"].names == ["female", "male"]
    assert sorted(cache_dir.glob("*.arrow")) == cached  # the second run read the first run's token ids


def test_a_split_cut_from_train_keeps_its_rows_labels(tmp_path, tokenizer):
    files = _write_splits(tmp_path / "files", flipped=False)
    data = _set_up({"train": files["train"]}, tmp_path / "cache", tokenizer)
    for split in SPLITS:
        table, tokenized = data.tables[split], data.tokenized[split]
        assert tokenized["label"] == table["label"] and tokenized["group"] == table["group"]
        assert tokenized["input_ids"][0][1:-1] == tokenizer(table["text"][0], add_special_tokens=False)["input_ids"]


def _plant(cache_dir: Path, name: str, age_s: float) -> Path:
    path = cache_dir / name
    path.write_bytes(b"half an arrow file")
    modified = time.time() - age_s
    os.utime(path, (modified, modified))
    return path


def test_stale_temp_files_go_and_fresh_ones_and_others_stay(tmp_path):
    stale = _plant(tmp_path, "tmpab_c9xyz", STALE_AFTER_S + 60)
    fresh = _plant(tmp_path, "tmpq1w2e3r4", 5)  # a concurrent run's, being written now
    not_datasets = [_plant(tmp_path, name, STALE_AFTER_S + 60) for name in ("tmp_notes.txt", "abc.arrow", "tmpshort")]
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists() and all(p.exists() for p in not_datasets)


def test_tokenizing_cleans_its_cache_directory(tmp_path, tokenizer):
    import datasets

    fine_tuning, corpus = tmp_path / "cache", tmp_path / "corpus"
    corpus.mkdir()
    stale = [_plant(corpus, "tmp0000kill", STALE_AFTER_S * 2)]
    tokenize_corpus(datasets.Dataset.from_dict({"text": ["one line", "two lines"]}), tokenizer, 16, True, corpus)
    _set_up(_write_splits(tmp_path / "first", flipped=False), fine_tuning, tokenizer)
    stale.append(_plant(fine_tuning, "tmp1111kill", STALE_AFTER_S * 2))
    _set_up(_write_splits(tmp_path / "second", flipped=True), fine_tuning, tokenizer)
    assert not any(p.exists() for p in stale)
    assert not list(fine_tuning.glob("tmp*")) and not list(corpus.glob("tmp*"))  # and none of its own left behind
