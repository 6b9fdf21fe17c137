"""MaskedLanguageModel: learning, the Hugging Face checkpoint hand-off, the report, loading errors, DDP."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import REPO_ROOT, TINY_MODEL_CONFIG, shared_data
from safetensors import safe_open
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, GPT2Config

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.models.classifier import SequenceClassifier
from lightning_bias.models.masked_lm import (
    EXPORT_DIR,
    MARKDOWN_REPORT_FILE,
    REPORT_FILE,
    MaskedLanguageModel,
    load_masked_lm,
)
from lightning_bias.models.pretrained import load_tokenizer, resolve_pretrained

SENTENCES = [
    "the nurse checked the chart before the night shift .",
    "the chef tasted the soup and added more salt .",
    "the teacher graded the essays at the kitchen table .",
    "the pilot checked the weather before the long flight .",
]


def _corpus(tmp_path: Path, repeats: int = 30) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(SENTENCES * repeats) + "\n")
    return path


def _trainer(tmp_path: Path, steps: int, **kwargs) -> pl.Trainer:
    defaults = {
        "max_steps": steps, "accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
        "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(tmp_path / "run"),
        "num_sanity_val_steps": 0,
    }
    return pl.Trainer(**{**defaults, **kwargs})


def _tiny(**kwargs) -> MaskedLanguageModel:
    return MaskedLanguageModel(model_config=dict(TINY_MODEL_CONFIG), tokenizer="minilm", **kwargs)


def test_mlm_loss_falls_on_a_fixed_corpus(tmp_path):
    pl.seed_everything(0)
    model = _tiny(learning_rate=5e-3, measure_intrinsic=False, export_dir=None)
    data = CorpusDataModule(path=str(_corpus(tmp_path)), block_size=24, batch_size=8, cache_dir=str(tmp_path / "c"))
    _trainer(tmp_path, 30).fit(model, data)
    training = model.report["training"]
    assert training["global_steps"] == 30
    assert training["initial_loss"] == pytest.approx(10.33, abs=0.3)  # ~ log(30522): a random model
    assert training["final_loss"] < training["initial_loss"] - 2.0


def test_sparse_prediction_gives_the_full_head_loss():
    torch.manual_seed(0)
    model = _tiny(measure_intrinsic=False)
    model.eval()
    ids = torch.randint(1000, 5000, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[:, 2::4] = ids[:, 2::4]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    assert model.prediction_head() is model.net.cls
    sparse = model.masked_lm_step(batch).loss
    model.hparams.sparse_prediction = False
    assert sparse.item() == pytest.approx(model.masked_lm_step(batch).loss.item(), rel=1e-5)


def test_checkpoint_hands_off_to_a_sequence_classifier(tmp_path):
    pl.seed_everything(1)
    model = _tiny(learning_rate=1e-3)
    data = CorpusDataModule(path=str(_corpus(tmp_path, 5)), block_size=32, line_by_line=True, batch_size=4,
                            val_fraction=0.2, cache_dir=str(tmp_path / "c"))
    _trainer(tmp_path, 4, val_check_interval=2).fit(model, data)
    export = tmp_path / "run" / EXPORT_DIR
    assert model.export_path == export and (export / "model.safetensors").is_file()
    assert not [p for p in export.parent.iterdir() if p.name.startswith(".")]  # no staging leftovers
    classifier = AutoModelForSequenceClassification.from_pretrained(str(export), num_labels=3)
    trained = {k: v for k, v in model.net.bert.state_dict().items()}
    loaded = classifier.bert.state_dict()
    for name, value in trained.items():
        assert torch.equal(loaded[name], value), name
    mlm = AutoModelForMaskedLM.from_pretrained(str(export))
    for name, value in model.net.state_dict().items():
        assert torch.equal(mlm.state_dict()[name], value), name
    assert load_tokenizer(str(export)).get_vocab() == model.tokenizer.get_vocab()
    report = json.loads((tmp_path / "run" / REPORT_FILE).read_text())
    assert report["checkpoint"] == str(export)
    assert report["corpus"]["train_lines"] + report["corpus"]["val_lines"] == 20
    assert report["training"]["global_steps"] == 4 and report["training"]["val_loss"] is not None
    intrinsic = report["intrinsic"]
    assert intrinsic["before"]["log_probability_bias"]["num_templates"] >= 10
    # a model built from a config trains its own head: masked-LM readings are the model's, not a probe's
    assert intrinsic["masked_lm_readings"] == {"before": "model", "after": "model"}
    for when in ("before", "after"):  # the head-free measures run before and after too
        assert set(intrinsic[when]["association_test"]) == {
            "gender_terms_career_home", "first_names_career_home", "gender_terms_occupations"}
        assert 0 <= intrinsic[when]["gender_probe"]["accuracy"] <= 1
    assert "association_test/gender_terms_occupations/effect_size" in intrinsic["change"]
    markdown = (tmp_path / "run" / MARKDOWN_REPORT_FILE).read_text()
    assert "## Intrinsic bias after training" in markdown and "PROBE READINGS" not in markdown
    change = intrinsic["change"]["log_probability_bias/mean"]
    assert change == pytest.approx(
        intrinsic["after"]["log_probability_bias"]["mean"] - intrinsic["before"]["log_probability_bias"]["mean"]
    )


def test_resumed_run_reports_the_original_before_numbers(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    pl.seed_everything(2)
    corpus = _corpus(tmp_path, 5)

    def data() -> CorpusDataModule:
        return CorpusDataModule(path=str(corpus), block_size=24, line_by_line=True, batch_size=4,
                                cache_dir=str(tmp_path / "c"))

    first = _tiny(learning_rate=1e-2)
    saver = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=2, save_top_k=-1)
    _trainer(tmp_path, 2, enable_checkpointing=True, callbacks=[saver]).fit(first, data())
    checkpoint = next((tmp_path / "ckpt").glob("*.ckpt"))
    resumed = _tiny(learning_rate=1e-2)
    _trainer(tmp_path, 4, default_root_dir=str(tmp_path / "resumed")).fit(resumed, data(), ckpt_path=str(checkpoint))
    report = resumed.report
    assert report["training"]["global_steps"] == 4
    assert report["training"]["initial_loss"] == pytest.approx(first.report["training"]["initial_loss"])
    assert report["intrinsic"]["before"] == first.report["intrinsic"]["before"]
    assert report["intrinsic"]["after"] != first.report["intrinsic"]["after"]


@pytest.mark.slow
def test_minilm_gets_a_tied_head_and_keeps_its_pooler(tmp_path):
    with pytest.warns(UserWarning, match=r"cls\.predictions\.transform\.dense\.weight.*newly initialised"):
        loaded = load_masked_lm("minilm")
    model = loaded.model
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert "cls.predictions.transform.dense.weight" in loaded.initialised_keys
    with safe_open(str(Path(resolve_pretrained("minilm")) / "model.safetensors"), framework="pt") as handle:
        pooler = handle.get_tensor("pooler.dense.weight")
        embeddings = handle.get_tensor("embeddings.word_embeddings.weight")
    assert torch.equal(loaded.carried_weights["bert.pooler.dense.weight"], pooler)
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings)
    # Through a real (one-step) run: the export carries the pooler to the classifier.
    module = MaskedLanguageModel(model="minilm", measure_intrinsic=False)
    data = CorpusDataModule(path=str(_corpus(tmp_path, 1)), block_size=16, batch_size=2, cache_dir=str(tmp_path / "c"))
    _trainer(tmp_path, 1).fit(module, data)
    classifier = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "run" / EXPORT_DIR), num_labels=2)
    assert torch.equal(classifier.bert.pooler.dense.weight, pooler)
    report = json.loads((tmp_path / "run" / REPORT_FILE).read_text())
    assert "cls.predictions.transform.dense.weight" in report["model"]["initialised_head_weights"]
    assert report["model"]["carried_weights"] == ["bert.pooler.dense.bias", "bert.pooler.dense.weight"]


def test_loading_errors(tmp_path):
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    GPT2Config(n_layer=1, n_embd=32, n_head=2).save_pretrained(gpt2)
    with pytest.raises(ValueError, match="'gpt2'.*is not a masked language model"):
        load_masked_lm(str(gpt2))
    with pytest.raises(ValueError, match="not a masked language model"):
        load_masked_lm(model_config={"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2})
    with pytest.raises(ValueError, match="exactly one of model"):
        load_masked_lm("minilm", model_config=dict(TINY_MODEL_CONFIG))
    with pytest.raises(ValueError, match="vocab_size 100 is smaller than the tokenizer's 30522"):
        MaskedLanguageModel(model_config={**TINY_MODEL_CONFIG, "vocab_size": 100})
    no_tokenizer = tmp_path / "no_tokenizer"
    _tiny(measure_intrinsic=False).net.save_pretrained(no_tokenizer)
    with pytest.raises(ValueError, match="no tokenizer files"):
        MaskedLanguageModel(model=str(no_tokenizer))
    with pytest.raises(ValueError, match="no tokenizer files"):  # the hand-off to fine-tuning checks it too
        SequenceClassifier(model=str(no_tokenizer), num_labels=2)


@pytest.mark.multiprocess
def test_pretraining_under_two_process_ddp(tmp_path):
    pl.seed_everything(0)
    model = _tiny(learning_rate=1e-3)
    data = CorpusDataModule(path=str(_corpus(tmp_path, 4)), block_size=32, batch_size=4, cache_dir=str(tmp_path / "c"))
    trainer = _trainer(tmp_path, 3, devices=2, strategy="ddp_spawn")
    trainer.fit(model, data)
    report = json.loads((tmp_path / "run" / REPORT_FILE).read_text())
    assert report["training"]["world_size"] == 2 and report["training"]["strategy"] == "DDPStrategy"
    assert report["training"]["global_steps"] == 3
    assert report["intrinsic"]["after"]["log_probability_bias"]["num_occupations"] == 16
    exported = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "run" / EXPORT_DIR))
    # ddp_spawn hands rank 0's trained weights back to this process: the export must equal them.
    for name, value in model.net.state_dict().items():
        assert torch.equal(exported.state_dict()[name], value), name


@pytest.mark.parametrize(
    ("name", "with_cda"),
    [("tiny", True), pytest.param("minilm_cda", True, marks=pytest.mark.slow),
     pytest.param("minilm_dapt_only", False, marks=pytest.mark.slow)],
)
def test_configs_parse_with_lightning_cli(tmp_path, monkeypatch, name, with_cda):
    from pytorch_lightning.cli import LightningCLI

    monkeypatch.setattr(sys, "argv", ["pretrain"])
    shared_data("crows_pairs", "crows_pairs_anonymized.csv")
    shared_data("wikitext2_raw", "wiki.test.raw.gz")
    monkeypatch.chdir(REPO_ROOT)
    cli = LightningCLI(MaskedLanguageModel, CorpusDataModule, run=False,
                       args=["--config", f"configs/pretrain/{name}.yaml", f"--trainer.default_root_dir={tmp_path}"])
    assert isinstance(cli.model, MaskedLanguageModel) and isinstance(cli.datamodule, CorpusDataModule)
    names = [type(c).__name__ for c in cli.trainer.callbacks]
    assert "DomainAdaptivePretraining" in names
    assert ("CorpusCounterfactualAugmentation" in names) == with_cda, name
    if name.startswith("minilm"):  # MiniLM has no head: "before" must read a fitted one
        assert cli.model.head_calibration.batches > 0
    if name == "minilm_dapt_only":  # the control trains on as many lines and tokens as the CDA run
        dapt = next(c for c in cli.trainer.callbacks if type(c).__name__ == "DomainAdaptivePretraining")
        assert dapt.size_matched_cda == {"attribute": "gender", "mode": "two_sided_filtered", "seed": 0}
