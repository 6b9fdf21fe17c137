"""CorpusDataModule: reading formats, exact tokenization/packing, caching, masking, splits and errors."""

from __future__ import annotations

import gzip
import json

import datasets
import pytest
import pytorch_lightning as pl
import torch
from conftest import shared_data

from lightning_bias.data.corpus import CorpusDataModule, mask_once, special_token_frame, tokenize_corpus
from lightning_bias.data.sources.hub_text import HubTextSource
from lightning_bias.data.sources.text_files import TextFilesSource
from lightning_bias.mitigation import Mitigation
from lightning_bias.models.pretrained import load_tokenizer

LINES = ["The nurse finished her shift.", "", "   ", "He repaired the old bicycle.", "Rain fell all night."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_corpus(path, **options):
    """The text table and read statistics of the ``text_files`` source."""
    read = TextFilesSource(path, **options).read()
    return read.table, read.stats


def _corpus_module(tokenizer, **options) -> CorpusDataModule:
    data = CorpusDataModule(**options)
    data.connect(tokenizer)
    return data


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
    with pytest.raises(ValueError, match="does not exist.*source: hub_text"):
        read_corpus(str(tmp_path / "missing.txt"))
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"body": "x"}\n')
    with pytest.raises(ValueError, match=r"no text field 'text'; it has the columns \['body'\]"):
        read_corpus(str(jsonl))
    empty = _write(tmp_path / "empty.txt", ["", "  ", ""])
    with pytest.raises(ValueError, match=r"empty\.txt is empty: 3 line\(s\) read, none with text"):
        read_corpus(str(empty))


def test_hub_text_source_reads_through_datasets_load_dataset(tmp_path):
    folder = tmp_path / "local_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"content": line}) for line in LINES))
    read = HubTextSource(str(folder), text_field="content", hf_split="train").read()
    assert list(read.table["text"]) == [line for line in LINES if line.strip()]
    assert read.stats == {"raw_lines": len(LINES), "blank_lines_dropped": 2}


def test_format_hf_points_to_the_hub_text_source(tmp_path):
    with pytest.raises(ValueError, match="data.format must be one of .* got 'hf'.*source: hub_text"):
        CorpusDataModule(path="some/dataset", format="hf")
    with pytest.raises(ValueError, match="'hub_text' but data.path .* is not set"):
        CorpusDataModule(source="hub_text")


def test_datamodule_reads_a_hub_dataset_through_source_hub_text(tmp_path, tokenizer):
    folder = tmp_path / "local_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps({"content": f"line {i} of text"}) for i in range(12)))
    data = _corpus_module(tokenizer, source="hub_text", path=str(folder), text_field="content", block_size=16,
                          cache_dir=str(tmp_path / "cache"))
    data.setup("fit")
    assert data.info.sizes == {"train": 12}
    assert data.info.source["source"] == {"name": "hub_text", "path": str(folder), "text_field": "content",
                                          "hf_config": None, "hf_split": "train", "max_lines": None}


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
    data = _corpus_module(tokenizer, seed=3)
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
    data = _corpus_module(tokenizer, path=str(path), block_size=16, val_fraction=0.25, batch_size=4,
                          cache_dir=str(tmp_path / "cache"))
    data.setup("fit")
    assert data.info.sizes == {"train": 30, "val": 10}
    assert data.info.label_names == () and data.info.train_cooccurrence is None
    report = data.info.source
    assert report["source"] == {"name": "text_files", "path": str(path), "format": "auto", "text_field": "text",
                                "encoding": "utf-8", "max_lines": None}
    assert report["raw_lines"] == 41 and report["blank_lines_dropped"] == 1
    assert report["before_mitigations"]["lines"] == 40 == report["after_mitigations"]["lines"]
    assert report["train_lines"] == 30 and report["val_lines"] == 10
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape[1] <= 16
    val = next(iter(data.val_dataloader()))
    assert (val["labels"] != -100).any()
    assert torch.equal(val["labels"], next(iter(data.val_dataloader()))["labels"])  # masked once, stable


def test_max_lines_and_wikitext_gz(tmp_path, tokenizer):
    path = shared_data("wikitext2_raw", "wiki.test.raw.gz")
    data = _corpus_module(tokenizer, path=str(path), max_lines=50, cache_dir=str(tmp_path))
    data.setup("fit")
    assert data.info.source["raw_lines"] == 2891
    assert data.info.source["train_lines"] == 50


class _Downstream(Mitigation):
    """A downstream mitigation that must not be accepted by a pretrain run."""


class _Emptying(Mitigation):
    """Drops every line."""

    stage = "upstream"

    def transform(self, table, split):
        return table.select([])


class _Doubling(Mitigation):
    """Repeats the corpus once."""

    stage = "upstream"

    def transform(self, table, split):
        return datasets.concatenate_datasets([table, table])


class _Weighting(Mitigation):
    """Gives per-row weights, which pre-training cannot use."""

    stage = "upstream"

    def sample_weights(self, table):
        return [1.0] * len(table)


def _with_trainer(data: CorpusDataModule, *callbacks) -> CorpusDataModule:
    data.trainer = pl.Trainer(callbacks=list(callbacks), logger=False, enable_progress_bar=False)
    return data


def test_mitigation_sizes_are_recorded_through_the_pipeline(tmp_path, tokenizer):
    path = _write(tmp_path / "c.txt", ["one line", "two lines here"])
    data = _with_trainer(_corpus_module(tokenizer, path=str(path), cache_dir=str(tmp_path)), _Doubling(), _Emptying())
    with pytest.raises(ValueError, match="corpus is empty after the upstream mitigations"):
        data.setup("fit")
    data = _with_trainer(_corpus_module(tokenizer, path=str(path), cache_dir=str(tmp_path)), _Doubling())
    data.setup("fit")
    assert data.info.source["mitigations"] == [
        {"name": "_Doubling", "before": {"lines": 2, "characters": 22}, "after": {"lines": 4, "characters": 44}}
    ]
    assert data.info.sizes == {"train": 4} and data.info.source["after_mitigations"]["lines"] == 4


def test_downstream_mitigation_and_weights_are_errors(tmp_path, tokenizer):
    path = _write(tmp_path / "c.txt", ["some text"])
    data = _with_trainer(_corpus_module(tokenizer, path=str(path), cache_dir=str(tmp_path)), _Downstream())
    with pytest.raises(ValueError, match=r"upstream run given mitigation\(s\) of another stage: _Downstream"):
        data.setup("fit")
    data = _with_trainer(_corpus_module(tokenizer, path=str(path), cache_dir=str(tmp_path)), _Weighting())
    with pytest.raises(ValueError, match="_Weighting supply sample weights or a sampler"):
        data.setup("fit")


def test_tokenizer_comes_from_connect_or_the_model(tmp_path, tokenizer):
    path = _write(tmp_path / "c.txt", ["some text"])
    data = CorpusDataModule(path=str(path), cache_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match=r"needs a tokenizer: call connect\(tokenizer\)"):
        data.setup("fit")

    class _Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.tokenizer = tokenizer

    data.trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    data.trainer.strategy.connect(_Model())
    data.setup("fit")
    assert data.tokenizer is tokenizer and data.info.sizes == {"train": 1}
