"""CorpusDataModule: reading formats, exact tokenization/packing, caching, masking, splits and errors."""

from __future__ import annotations

import gzip
import json

import datasets
import pytest
import pytorch_lightning as pl
import torch
from conftest import shared_data

from lightning_bias.data.corpus import (
    CorpusDataModule,
    mask_once,
    read_corpus,
    special_token_frame,
    tokenize_corpus,
)
from lightning_bias.mitigation import Mitigation
from lightning_bias.models.pretrained import load_tokenizer

LINES = ["The nurse finished her shift.", "", "   ", "He repaired the old bicycle.", "Rain fell all night."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_corpus_formats_agree(tmp_path):
    text = _write(tmp_path / "c.txt", LINES)
    gz = tmp_path / "c.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as stream:
        stream.write("\n".join(LINES) + "\n")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"body": line, "id": i}) for i, line in enumerate(LINES)) + "\n")
    csv = tmp_path / "c.csv"
    csv.write_text("id,body\n" + "\n".join(f'{i},"{line}"' for i, line in enumerate(LINES)) + "\n")
    expected = [line for line in LINES if line.strip()]
    for path, field in ((text, "text"), (gz, "text"), (jsonl, "body"), (csv, "body")):
        table, counts = read_corpus(str(path), text_field=field)
        assert table.column_names == ["text"]
        assert list(table["text"]) == expected, path
        assert counts["blank_lines_dropped"] == counts["raw_lines"] - len(expected)
    both, _ = read_corpus([str(text), str(gz)])
    assert len(both) == 2 * len(expected)


def test_read_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*format: hf"):
        read_corpus(str(tmp_path / "missing.txt"))
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"body": "x"}\n')
    with pytest.raises(ValueError, match=r"no text field 'text'; it has the columns \['body'\]"):
        read_corpus(str(jsonl))
    empty = _write(tmp_path / "empty.txt", ["", "  ", ""])
    with pytest.raises(ValueError, match=r"empty\.txt is empty: 3 line\(s\) read, none with text"):
        read_corpus(str(empty))


def test_read_corpus_through_datasets_load_dataset(tmp_path):
    folder = tmp_path / "local_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"content": line}) for line in LINES if line.strip()))
    table, _ = read_corpus(str(folder), format="hf", text_field="content", hf_split="train")
    assert list(table["text"]) == [line for line in LINES if line.strip()]


def test_packed_and_line_by_line_tokenization_are_exact(tokenizer):
    table = datasets.Dataset.from_dict({"text": ["a b c", "d e", "f"]})
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert special_token_frame(tokenizer) == ([cls], [sep])
    word = {w: tokenizer.convert_tokens_to_ids(w) for w in "abcdef"}
    packed = tokenize_corpus(table, tokenizer, block_size=6, line_by_line=False)
    # stream: a b c [SEP] d e [SEP] f  -> chunks of 4 between [CLS] ... [SEP]
    assert packed["input_ids"] == [
        [cls, word["a"], word["b"], word["c"], sep, sep],
        [cls, word["d"], word["e"], sep, word["f"], sep],
    ]
    assert packed["special_tokens_mask"][1] == [1, 0, 0, 1, 0, 1]
    by_line = tokenize_corpus(table, tokenizer, block_size=4, line_by_line=True)
    assert by_line["input_ids"] == [
        [cls, word["a"], word["b"], sep], [cls, word["d"], word["e"], sep], [cls, word["f"], sep]
    ]
    with pytest.raises(ValueError, match="no room"):
        tokenize_corpus(table, tokenizer, block_size=2, line_by_line=True)


def test_tokenization_is_cached_across_calls(tmp_path, tokenizer):
    table = datasets.Dataset.from_dict({"text": ["one line of text", "another line"]})
    first = tokenize_corpus(table, tokenizer, 16, False, cache_dir=tmp_path)
    second = tokenize_corpus(datasets.Dataset.from_dict({"text": ["one line of text", "another line"]}),
                             tokenizer, 16, False, cache_dir=tmp_path)
    assert first.cache_files[0]["filename"] == second.cache_files[0]["filename"]
    changed = tokenize_corpus(datasets.Dataset.from_dict({"text": ["one line of text", "other"]}),
                              tokenizer, 16, False, cache_dir=tmp_path)
    other_block = tokenize_corpus(table, tokenizer, 8, False, cache_dir=tmp_path)
    names = {t.cache_files[0]["filename"] for t in (first, changed, other_block)}
    assert len(names) == 3


def test_masking_rates_and_determinism(tokenizer):
    ids = tokenizer(" ".join(["word"] * 4000), add_special_tokens=False)["input_ids"][:4000]
    rows = [{"input_ids": ids[i : i + 100], "special_tokens_mask": [0] * 100} for i in range(0, 4000, 100)]
    data = CorpusDataModule(tokenizer="minilm", seed=3)
    data.tokenizer = tokenizer
    batch = data.train_collator()(rows)
    again = data.train_collator()(rows)
    assert torch.equal(batch["input_ids"], again["input_ids"])  # seeded
    chosen = batch["labels"] != -100
    assert abs(chosen.float().mean().item() - 0.15) < 0.02
    original = torch.tensor([r["input_ids"] for r in rows])
    masked = batch["input_ids"][chosen] == tokenizer.mask_token_id
    kept = batch["input_ids"][chosen] == original[chosen]
    assert abs(masked.float().mean().item() - 0.8) < 0.04
    assert abs(kept.float().mean().item() - 0.1) < 0.04 + 0.01  # random replacements may hit the same word
    assert torch.equal(batch["labels"][chosen], original[chosen])
    special = {"input_ids": [tokenizer.cls_token_id] + ids[:50] + [tokenizer.sep_token_id],
               "special_tokens_mask": [1] + [0] * 50 + [1]}
    fixed = mask_once(datasets.Dataset.from_list([special] * 20), tokenizer, 0.15, seed=0)
    assert all(row[0] == -100 and row[-1] == -100 for row in fixed["labels"])  # specials never chosen


def test_datamodule_setup_split_report_and_dataloaders(tmp_path, tokenizer):
    path = _write(tmp_path / "c.txt", [f"line number {i} about a teacher and a chef." for i in range(40)] + [""])
    data = CorpusDataModule(path=str(path), tokenizer="minilm", block_size=16, val_fraction=0.25, batch_size=4,
                            cache_dir=str(tmp_path / "cache"))
    data.setup("fit")
    report = data.corpus_report
    assert report["raw_lines"] == 41 and report["blank_lines_dropped"] == 1
    assert report["before_mitigations"]["lines"] == 40 == report["after_mitigations"]["lines"]
    assert report["train_lines"] == 30 and report["val_lines"] == 10
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape[1] <= 16
    val = next(iter(data.val_dataloader()))
    assert (val["labels"] != -100).any()
    assert torch.equal(val["labels"], next(iter(data.val_dataloader()))["labels"])  # masked once, stable


def test_max_lines_and_wikitext_gz(tmp_path):
    path = shared_data("wikitext2_raw", "wiki.test.raw.gz")
    data = CorpusDataModule(path=str(path), tokenizer="minilm", max_lines=50, cache_dir=str(tmp_path))
    data.setup("fit")
    assert data.corpus_report["raw_lines"] == 2891
    assert data.corpus_report["train_lines"] == 50


class _Downstream(Mitigation):
    """A downstream mitigation that must not be accepted by a pretrain run."""


class _Emptying(Mitigation):
    """Drops every line."""

    stage = "upstream"

    def transform(self, table, split):
        return table.select([])


def test_downstream_mitigation_and_emptied_corpus_are_errors(tmp_path):
    path = _write(tmp_path / "c.txt", ["some text"])
    data = CorpusDataModule(path=str(path), tokenizer="minilm", cache_dir=str(tmp_path))
    data.trainer = pl.Trainer(callbacks=[_Downstream()], logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"only upstream mitigations, but got _Downstream \(stage 'downstream'\)"):
        data.setup("fit")
    data = CorpusDataModule(path=str(path), tokenizer="minilm", cache_dir=str(tmp_path))
    data.trainer = pl.Trainer(callbacks=[_Emptying()], logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match="corpus is empty after the upstream mitigations"):
        data.setup("fit")
