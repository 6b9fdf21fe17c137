"""Upstream mitigation plugins: corpus CDA, DAPT/TAPT and dropout debiasing, alone and inside a pretrain run."""

from __future__ import annotations

import json
import re

import datasets
import pandas as pd
import pytest
import pytorch_lightning as pl
from conftest import TINY_MODEL_CONFIG
from lightning_bias_plugins.pretraining.corpus_counterfactual_augmentation import (
    CorpusCounterfactualAugmentation,
)
from lightning_bias_plugins.pretraining.dapt import DomainAdaptivePretraining
from lightning_bias_plugins.pretraining.dropout_debiasing import DropoutDebiasing, is_attention_dropout
from torch import nn
from transformers import AutoConfig

from lightning_bias.data.corpus import CorpusDataModule, tokenize_corpus
from lightning_bias.data.synthetic_bios import generate_bios
from lightning_bias.mitigation import Mitigation
from lightning_bias.models.masked_lm import EXPORT_DIR, REPORT_FILE, MaskedLanguageModel
from lightning_bias.models.pretrained import load_tokenizer

LINES = [
    "He said his sister was a nurse.",
    "The committee met on Tuesday.",
    "She thanked her father and Mr. Smith.",
    "Rain is expected tomorrow.",
]
SWAPPED = {
    0: "She said her brother was a nurse.",
    2: "He thanked his mother and Ms. Smith.",
}


def _table(lines=LINES) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": list(lines)})


def test_cda_two_sided_filtered_is_exact():
    cda = CorpusCounterfactualAugmentation(mode="two_sided_filtered", separate_copies=False)
    out = cda.transform(_table(), "train")
    assert list(out["text"]) == [LINES[0], SWAPPED[0], LINES[2], SWAPPED[2]]
    assert (cda.lines_in, cda.lines_with_attribute, cda.lines_out) == (4, 2, 4)
    assert cda.words_swapped == 7  # He his sister / She her father Mr.


def test_cda_two_sided_keeps_every_line():
    out = CorpusCounterfactualAugmentation(mode="two_sided", separate_copies=False).transform(_table(), "train")
    assert list(out["text"]) == [LINES[0], SWAPPED[0], LINES[1], LINES[2], SWAPPED[2], LINES[3]]


def test_cda_lays_out_originals_then_copies_in_the_same_order():
    out = list(CorpusCounterfactualAugmentation(mode="two_sided", seed=5).transform(_table(), "train")["text"])
    originals, copies = out[:4], out[4:]
    assert sorted(originals) == sorted(LINES)
    assert copies == [SWAPPED[LINES.index(line)] for line in originals if LINES.index(line) in SWAPPED]
    again = CorpusCounterfactualAugmentation(mode="two_sided", seed=5).transform(_table(), "train")["text"]
    assert list(again) == out


def _tagged_bios(count: int) -> list[str]:
    """Synthetic bios, each starting with a 6-digit tag that its swapped copy keeps."""
    return [f"entry {100000 + i} : {text}" for i, text in enumerate(generate_bios(count, seed=0).texts)]


def _blocks_holding_a_line_and_its_copy(lines: list[str], tokenizer) -> tuple[int, int]:
    """(blocks in which some tag occurs twice, blocks) of the corpus packed into 128-token blocks."""
    blocks = tokenize_corpus(_table(lines), tokenizer, block_size=128, line_by_line=False)
    leaking = 0
    for ids in blocks["input_ids"]:
        tags = re.findall(r"entry (\d{6})\b", tokenizer.decode(ids, skip_special_tokens=True))
        leaking += len(tags) != len(set(tags))
    return leaking, len(blocks)


def test_no_packed_block_holds_a_line_and_its_copy():
    tokenizer = load_tokenizer("minilm")
    table = _table(_tagged_bios(400))
    adjacent = CorpusCounterfactualAugmentation(mode="two_sided_filtered", separate_copies=False).transform(table, "train")
    leaking, blocks = _blocks_holding_a_line_and_its_copy(list(adjacent["text"]), tokenizer)
    assert leaking > blocks // 2  # the old layout: most blocks hold a bio and its copy
    separated = CorpusCounterfactualAugmentation(mode="two_sided_filtered", seed=3).transform(table, "train")
    assert len(separated) == len(adjacent) > 700
    leaking, blocks = _blocks_holding_a_line_and_its_copy(list(separated["text"]), tokenizer)
    assert (leaking, blocks > 100) == (0, True)


def test_with_a_validation_split_no_block_holds_a_line_and_its_copy(tmp_path):
    # the data module's seeded train/validation split keeps the train lines in the layout's order
    path = tmp_path / "bios.txt"
    path.write_text("\n".join(_tagged_bios(1500)) + "\n")
    tokenizer = load_tokenizer("minilm")
    data = CorpusDataModule(path=str(path), block_size=128, val_fraction=0.02, cache_dir=str(tmp_path / "c"))
    data.connect(tokenizer)
    data.trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[CorpusCounterfactualAugmentation()])
    data.setup("fit")
    leaking = 0
    for ids in data.tokenized["train"]["input_ids"]:
        tags = re.findall(r"entry (\d{6})\b", tokenizer.decode(ids, skip_special_tokens=True))
        leaking += len(tags) != len(set(tags))
    assert len(data.tokenized["train"]) > 800 and leaking == 0


def test_dapt_size_matched_control_has_the_cda_corpus_size():
    tokenizer = load_tokenizer("minilm")
    corpus = _table(LINES * 30)
    cda_settings = {"attribute": "gender", "mode": "two_sided_filtered", "seed": 0}
    treated = CorpusCounterfactualAugmentation(**cda_settings).transform(
        DomainAdaptivePretraining(synthetic_bios=200, mode="extend").transform(corpus, "train"), "train")
    control_plugin = DomainAdaptivePretraining(synthetic_bios=200, mode="extend", size_matched_cda=cda_settings)
    control = control_plugin.transform(corpus, "train")
    plain = DomainAdaptivePretraining(synthetic_bios=200, mode="extend").transform(corpus, "train")
    assert len(control) == len(treated) == control_plugin.size_matched_lines != len(plain)

    def tokens(table):
        return sum(len(ids) for ids in tokenizer(list(table["text"]), add_special_tokens=False)["input_ids"])

    assert abs(tokens(control) - tokens(treated)) <= 0.01 * tokens(treated)
    half = len(control) // 2
    assert list(control["text"][half:]) == [t for t in control["text"][:half]]  # copies unswapped, same order
    with pytest.raises(ValueError, match="leave out 'copies'"):
        DomainAdaptivePretraining(synthetic_bios=10, size_matched_cda={"copies": "swapped"})
    with pytest.raises(ValueError, match="is not a set of corpus CDA settings"):
        DomainAdaptivePretraining(synthetic_bios=10, size_matched_cda={"modes": "two_sided"})


def test_cda_substitution_is_seeded_and_follows_probability():
    table = _table(LINES * 50)
    always = CorpusCounterfactualAugmentation(mode="substitution", probability=1.0).transform(table, "train")
    assert list(always["text"][:4]) == [SWAPPED[0], LINES[1], SWAPPED[2], LINES[3]]
    never = CorpusCounterfactualAugmentation(mode="substitution", probability=0.0).transform(table, "train")
    assert list(never["text"]) == list(table["text"])
    half = CorpusCounterfactualAugmentation(mode="substitution", probability=0.5, seed=7)
    first = list(half.transform(table, "train")["text"])
    again = list(CorpusCounterfactualAugmentation(mode="substitution", probability=0.5, seed=7)
                 .transform(table, "train")["text"])
    other = list(CorpusCounterfactualAugmentation(mode="substitution", probability=0.5, seed=8)
                 .transform(table, "train")["text"])
    assert first == again and first != other
    assert 30 <= half.lines_substituted <= 70  # of 100 lines with attribute words
    assert len(first) == len(table)


def test_cda_errors_and_non_train_splits():
    no_attribute = _table(["The committee met.", "Rain is expected."])
    with pytest.raises(ValueError, match=r"none of the 2 corpus lines contains a gender attribute word"):
        CorpusCounterfactualAugmentation().transform(no_attribute, "train")
    assert CorpusCounterfactualAugmentation().transform(no_attribute, "val") is no_attribute
    with pytest.raises(ValueError, match="mode must be one of"):
        CorpusCounterfactualAugmentation(mode="one_sided")


def test_cda_takes_the_same_word_files_as_the_other_plugins(tmp_path):
    terms = tmp_path / "pets.txt"
    terms.write_text("cat\tdog\n")
    pets = CorpusCounterfactualAugmentation(attribute="pets", term_files=[str(terms)], mode="two_sided",
                                            separate_copies=False)
    table = _table(["The cat sat.", "He ran."])
    out = pets.transform(table, "train")
    assert list(out["text"]) == ["The cat sat.", "The dog sat.", "He ran."]
    # the output's cache key follows the word lists, not only the settings
    again = CorpusCounterfactualAugmentation(attribute="pets", term_files=[str(terms)], mode="two_sided",
                                             separate_copies=False)
    gender = CorpusCounterfactualAugmentation(mode="two_sided", separate_copies=False)
    assert again.transform(table, "train")._fingerprint == out._fingerprint
    assert gender.transform(table, "train")._fingerprint != out._fingerprint
    with pytest.raises(ValueError, match="name_files is only used together with term_files"):
        CorpusCounterfactualAugmentation(name_files=[str(terms)])


def test_dapt_sources_and_modes(tmp_path):
    bios = DomainAdaptivePretraining(synthetic_bios=40, synthetic_seed=3, mode="replace")
    replaced = bios.transform(_table(), "train")
    assert list(replaced["text"]) == generate_bios(40, seed=3).texts
    task = tmp_path / "task.csv"
    pd.DataFrame({"bio": ["A nurse bio.", "A chef bio."], "label": [0, 1]}).to_csv(task, index=False)
    extended = DomainAdaptivePretraining(path=str(task), text_field="bio").transform(_table(), "train")
    assert list(extended["text"]) == LINES + ["A nurse bio.", "A chef bio."]
    assert DomainAdaptivePretraining(path=str(task), text_field="bio").transform(_table(), "val")["text"] == LINES
    with pytest.raises(ValueError, match="exactly one domain corpus"):
        DomainAdaptivePretraining()
    with pytest.raises(ValueError, match="dapt.format must be one of"):
        DomainAdaptivePretraining(path=str(task), format="parquet")
    with pytest.raises(ValueError, match=r"no text field 'text'; it has the columns \['bio', 'label'\]"):
        DomainAdaptivePretraining(path=str(task)).transform(_table(), "train")


def test_dropout_debiasing_classifies_modules():
    assert is_attention_dropout("bert.encoder.layer.0.attention.self.dropout")
    assert not is_attention_dropout("bert.encoder.layer.0.attention.output.dropout")
    assert is_attention_dropout("distilbert.transformer.layer.1.attention.dropout")
    assert is_attention_dropout("albert.encoder.albert_layer_groups.0.albert_layers.0.attention.attention_dropout")
    assert not is_attention_dropout("bert.embeddings.dropout")


class _DropoutProbe(pl.Callback):
    """Records the dropout of the model's modules and config during training."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        net = pl_module.net
        self.seen = {
            "attention": net.bert.encoder.layer[0].attention.self.dropout.p,
            "hidden": net.bert.encoder.layer[1].output.dropout.p,
            "embeddings": net.bert.embeddings.dropout.p,
            "config": (net.config.hidden_dropout_prob, net.config.attention_probs_dropout_prob),
        }


def _corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 6) + "\n")
    return path


def test_plugins_in_a_pretrain_run(tmp_path):
    pl.seed_everything(0)
    dropout, probe = DropoutDebiasing(), _DropoutProbe()
    callbacks = [
        DomainAdaptivePretraining(synthetic_bios=32, mode="extend"),
        CorpusCounterfactualAugmentation(mode="two_sided_filtered"),
        dropout,
        probe,
    ]
    model = MaskedLanguageModel(model_config=dict(TINY_MODEL_CONFIG), learning_rate=1e-3)
    data = CorpusDataModule(path=str(_corpus(tmp_path)), block_size=32, line_by_line=True, batch_size=8,
                            cache_dir=str(tmp_path / "c"))
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                         default_root_dir=str(tmp_path / "run"))
    trainer.fit(model, data)
    assert probe.seen == {"attention": 0.15, "hidden": 0.20, "embeddings": 0.20, "config": (0.20, 0.15)}
    assert dropout.changed_modules == {"attention": 2, "hidden": 5}
    assert model.net.bert.encoder.layer[0].attention.self.dropout.p == 0.1  # restored after training
    exported = AutoConfig.from_pretrained(str(tmp_path / "run" / EXPORT_DIR))
    assert (exported.hidden_dropout_prob, exported.attention_probs_dropout_prob) == (0.1, 0.1)
    report = json.loads((tmp_path / "run" / REPORT_FILE).read_text())
    sizes = report["corpus"]["mitigations"]
    assert [s["name"] for s in sizes] == ["DomainAdaptivePretraining", "CorpusCounterfactualAugmentation"]
    assert sizes[0]["before"]["lines"] == 24 and sizes[0]["after"]["lines"] == 24 + 32
    with_attribute = report["mitigations"][1]["state"]["lines_with_attribute"]
    assert sizes[1]["after"]["lines"] == 2 * with_attribute
    described = {m["name"]: m for m in report["mitigations"]}
    assert described["DropoutDebiasing"]["args"] == {"hidden_dropout": 0.2, "attention_dropout": 0.15}
    assert described["DropoutDebiasing"]["state"]["original_config"] == {
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    assert described["CorpusCounterfactualAugmentation"]["args"]["mode"] == "two_sided_filtered"


class _Downstream(Mitigation):
    """A downstream mitigation, out of place in a pretrain run."""


def test_downstream_mitigation_in_pretrain_is_an_error(tmp_path):
    model = MaskedLanguageModel(model_config=dict(TINY_MODEL_CONFIG), measure_intrinsic=False)
    data = CorpusDataModule(path=str(_corpus(tmp_path)), block_size=32, cache_dir=str(tmp_path / "c"))
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, callbacks=[_Downstream()], default_root_dir=str(tmp_path))
    with pytest.raises(ValueError, match="upstream run given mitigation.s. of another stage: _Downstream"):
        trainer.fit(model, data)


def test_dropout_debiasing_needs_dropout_modules():
    class NoDropout(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 2)

    with pytest.raises(ValueError, match="holds no Hugging Face model"):
        DropoutDebiasing().on_fit_start(None, NoDropout())
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        DropoutDebiasing(hidden_dropout=1.5)
