"""Head calibration: a new masked-LM head is fitted to the frozen encoder before the "before" measurement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_MODEL_CONFIG
from transformers import AutoModel

from lightning_bias.commands.evaluate_intrinsic import evaluate_intrinsic
from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.intrinsic.log_probability_bias import template_bootstrap_interval
from lightning_bias.models.head_calibration import HeadCalibration, calibrate_head, new_head_parameters
from lightning_bias.models.masked_lm import (
    MARKDOWN_REPORT_FILE,
    REPORT_FILE,
    MaskedLanguageModel,
    load_masked_lm,
)
from lightning_bias.models.pretrained import build_config, load_tokenizer

LINES = [
    "he said the surgeon had finished the operation before noon .",
    "she wrote that the nurse would stay for the night shift .",
    "the engineer and his team fixed the bridge in a week .",
    "her brother works as a teacher in the old school .",
]


@pytest.fixture(scope="module")
def headless_checkpoint(tmp_path_factory) -> str:
    """A small *pre-trained-like* encoder saved without a masked-LM head, like the packaged MiniLM."""
    directory = tmp_path_factory.mktemp("headless")
    torch.manual_seed(0)
    AutoModel.from_config(build_config(dict(TINY_MODEL_CONFIG))).save_pretrained(directory)
    load_tokenizer("minilm").save_pretrained(directory)
    return str(directory)


@pytest.fixture()
def corpus(tmp_path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 20) + "\n")
    return str(path)


def _loaded(checkpoint: str):
    torch.manual_seed(1)
    with pytest.warns(UserWarning, match="newly initialised"):
        return load_masked_lm(checkpoint)


def _batches(checkpoint: str, corpus: str, tmp_path: Path, seed: int = 0):
    data = CorpusDataModule(path=corpus, block_size=24, batch_size=8, cache_dir=str(tmp_path / "c"))
    data.connect(load_tokenizer(checkpoint))
    data.setup("fit")
    return data.calibration_dataloader(seed=seed)


def test_calibration_fits_only_the_new_head(headless_checkpoint, corpus, tmp_path):
    loaded = _loaded(headless_checkpoint)
    model = loaded.model.train()
    trained = new_head_parameters(model, loaded.initialised_keys)
    assert sorted(trained) == [
        "cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight",
    ]
    trained_storage = {p.data_ptr() for p in trained.values()}
    tied_to_trained = {k for k, v in model.state_dict().items() if v.data_ptr() in trained_storage}
    assert tied_to_trained == set(trained) | {"cls.predictions.decoder.bias"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    options = HeadCalibration(batches=10, validation_batches=1, max_epochs=10, learning_rate=5e-2, fit_transform=True)
    report = calibrate_head(model, loaded.initialised_keys, _batches(headless_checkpoint, corpus, tmp_path), options)
    after = model.state_dict()
    for name, value in before.items():
        if name in tied_to_trained:
            assert not torch.equal(after[name], value), f"{name} was not trained"
        else:  # the encoder, and the input embeddings the decoder is tied to
            assert torch.equal(after[name], value), f"{name} changed"
    assert report["trained_parameters"] == sorted(trained)
    assert report["trained_numel"] == sum(p.numel() for p in trained.values())
    available = len(_batches(headless_checkpoint, corpus, tmp_path))
    assert report["held_out_batches"] == 1 and report["encoded_batches"] == available - 1  # all there are
    assert len(report["validation_losses"]) == report["epochs_run"] + 1 == len(report["epoch_losses"]) + 1
    assert report["steps"] == report["best_epoch"] * report["encoded_batches"] and report["best_epoch"] >= 1
    assert report["final_loss"] == min(report["validation_losses"]) < report["initial_loss"] - 1.0
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_default_calibration_reads_through_an_identity_transform(headless_checkpoint, corpus, tmp_path):
    loaded = _loaded(headless_checkpoint)
    options = HeadCalibration(batches=10, validation_batches=1, max_epochs=4, learning_rate=5e-2)
    report = calibrate_head(loaded.model, loaded.initialised_keys, _batches(headless_checkpoint, corpus, tmp_path), options)
    transform = loaded.model.cls.predictions.transform
    assert torch.equal(transform.dense.weight, torch.eye(transform.dense.weight.shape[0]))
    assert not transform.dense.bias.any()
    assert report["identity_parameters"] == ["cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight"]
    assert report["trained_parameters"] == [
        "cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight",
    ]
    assert report["final_loss"] < report["initial_loss"]


def test_calibration_keeps_the_best_epoch_when_held_out_loss_rises(headless_checkpoint, corpus, tmp_path):
    loaded = _loaded(headless_checkpoint)
    initial = {k: v.clone() for k, v in loaded.model.cls.state_dict().items()}
    options = HeadCalibration(batches=10, validation_batches=1, max_epochs=5, learning_rate=30.0, warmup_ratio=0.0,
                              fit_transform=True)
    report = calibrate_head(loaded.model, loaded.initialised_keys, _batches(headless_checkpoint, corpus, tmp_path), options)
    # A learning rate this large makes the held-out loss worse at once: nothing is kept.
    assert report["best_epoch"] == 0 and report["epochs_run"] == 1 and report["steps"] == 0
    assert report["validation_losses"][1] > report["validation_losses"][0] == report["final_loss"]
    for name, value in loaded.model.cls.state_dict().items():
        assert torch.equal(value, initial[name]), name


def test_calibration_is_deterministic(headless_checkpoint, corpus, tmp_path):
    """Every rank runs it on its own: the same seed must give the same head, bit for bit."""
    heads = []
    for _ in range(2):
        loaded = _loaded(headless_checkpoint)
        batches = _batches(headless_checkpoint, corpus, tmp_path)
        calibrate_head(loaded.model, loaded.initialised_keys, batches, HeadCalibration(batches=3, validation_batches=1, max_epochs=4, learning_rate=1e-2))
        heads.append({k: v.clone() for k, v in loaded.model.cls.state_dict().items()})
    for name, value in heads[0].items():
        assert torch.equal(heads[1][name], value), name


def test_calibration_errors(headless_checkpoint, corpus, tmp_path):
    tiny = load_masked_lm(model_config=dict(TINY_MODEL_CONFIG))
    with pytest.raises(ValueError, match="nothing to fit: the checkpoint has its own masked-LM head"):
        calibrate_head(tiny.model, tiny.initialised_keys, [], HeadCalibration(batches=1))
    loaded = _loaded(headless_checkpoint)
    with pytest.raises(ValueError, match=r"got 0 batch\(es\) with masked tokens, not enough to hold out 8"):
        calibrate_head(loaded.model, loaded.initialised_keys, [], HeadCalibration(batches=1))
    with pytest.raises(ValueError, match="head_calibration.batches must be >= 0"):
        HeadCalibration(batches=-1).validate()
    with pytest.raises(ValueError, match="head_calibration.max_epochs must be >= 1"):
        HeadCalibration(max_epochs=0).validate()
    with pytest.raises(ValueError, match="head_calibration.validation_batches must be >= 1"):
        HeadCalibration(validation_batches=0).validate()
    with pytest.raises(ValueError, match="head_calibration.learning_rate must be positive"):
        MaskedLanguageModel(model_config=dict(TINY_MODEL_CONFIG), tokenizer="minilm",
                            head_calibration=HeadCalibration(learning_rate=0.0))
    data = CorpusDataModule(path=None, cache_dir=str(tmp_path / "c"))
    data.connect(load_tokenizer("minilm"))
    with pytest.raises(ValueError, match="data.path is not set"):
        data.calibration_dataloader()


def _pretrain(tmp_path: Path, name: str, checkpoint: str, corpus: str, calibration: HeadCalibration | None):
    pl.seed_everything(3)
    with pytest.warns(UserWarning, match="newly initialised"):
        module = MaskedLanguageModel(model=checkpoint, learning_rate=1e-3, head_calibration=calibration)
    data = CorpusDataModule(path=corpus, block_size=24, batch_size=8, cache_dir=str(tmp_path / "c"))
    trainer = pl.Trainer(
        max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path / name),
    )
    trainer.fit(module, data)
    return json.loads((tmp_path / name / REPORT_FILE).read_text())


def test_pretrain_measures_before_through_the_calibrated_head(headless_checkpoint, corpus, tmp_path):
    calibration = HeadCalibration(batches=5, validation_batches=1, max_epochs=3, learning_rate=1e-2, seed=0)
    calibrated = _pretrain(tmp_path, "calibrated", headless_checkpoint, corpus, calibration)
    random_head = _pretrain(tmp_path, "random", headless_checkpoint, corpus, None)
    recorded = calibrated["model"]["head_calibration"]
    assert recorded["steps"] == recorded["best_epoch"] * recorded["encoded_batches"] > 0
    assert recorded["final_loss"] < recorded["initial_loss"]
    assert recorded["corpus_sequences"] > 0 and recorded["masked_positions"] > 0
    assert random_head["model"]["head_calibration"] is None
    assert "fitted to the frozen encoder (" in calibrated["notes"][0]
    assert "reflects a random head" in random_head["notes"][0]
    # the masked-LM readings through a head the checkpoint did not have are marked in the JSON and the markdown
    assert calibrated["intrinsic"]["masked_lm_readings"] == {"before": "probe", "after": "probe"}
    assert random_head["intrinsic"]["masked_lm_readings"] == {"before": "random head", "after": "probe"}
    assert calibrated["intrinsic"]["before"]["log_probability_bias"]["reading"] == "probe"
    assert any("PROBE READINGS" in note for note in calibrated["notes"])
    markdown = (tmp_path / "calibrated" / MARKDOWN_REPORT_FILE).read_text()
    assert "Masked-LM measures — PROBE READINGS" in markdown and "Association tests" in markdown
    before = calibrated["intrinsic"]["before"]["log_probability_bias"]
    assert before != random_head["intrinsic"]["before"]["log_probability_bias"]
    # "before" is exactly the score of the same head calibrated outside the Trainer.
    pl.seed_everything(3)
    with pytest.warns(UserWarning, match="newly initialised"):
        module = MaskedLanguageModel(model=headless_checkpoint, head_calibration=calibration)
    data = CorpusDataModule(path=corpus, block_size=24, batch_size=8, cache_dir=str(tmp_path / "c"))
    data.connect(load_tokenizer(headless_checkpoint))
    data.setup("fit")
    calibrate_head(module.net, module.initialised_keys, data.calibration_dataloader(seed=0), calibration)
    from lightning_bias.intrinsic.suite import measure_intrinsic_bias

    direct = measure_intrinsic_bias(module.net, module.tokenizer, module.intrinsic_options)["log_probability_bias"]
    assert before["mean"] == pytest.approx(direct["mean"], abs=1e-6)


def test_evaluate_intrinsic_calibrates_a_headless_checkpoint(headless_checkpoint, corpus):
    with pytest.warns(UserWarning, match="newly initialised"):
        result = evaluate_intrinsic(headless_checkpoint, calibration_corpus=corpus,
                                    head_calibration=HeadCalibration(batches=5, validation_batches=1, max_epochs=2, learning_rate=1e-2,
                                                                     batch_size=2),
                                    batch_size=32)
    calibration = result["head_calibration"]
    assert calibration["epochs_run"] <= 2 and calibration["corpus"] == corpus
    assert result["masked_lm_head"]["readings"] == "probe" and "PROBE READINGS" in result["masked_lm_head"]["note"]
    assert result["measures"]["log_probability_bias"]["reading"] == "probe"
    low, high = result["measures"]["log_probability_bias"]["mean_ci95"]
    assert low <= result["measures"]["log_probability_bias"]["mean"] <= high


def test_template_bootstrap_interval():
    constant = np.full((14, 16), 0.25)
    assert template_bootstrap_interval(constant) == pytest.approx((0.25, 0.25))
    generator = np.random.default_rng(0)
    scores = generator.normal(0.3, 0.05, size=(14, 16))
    low, high = template_bootstrap_interval(scores)
    assert low < scores.mean() < high and 0.0 < low
    assert (low, high) == template_bootstrap_interval(scores)  # seeded
    noise = generator.normal(0.0, 0.2, size=(14, 16))
    low, high = template_bootstrap_interval(noise)
    assert low < 0.0 < high


def test_stereotype_alignment():
    from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE as shares
    from lightning_bias.intrinsic.log_probability_bias import stereotype_alignment

    following = {o: 0.5 - share for o, share in shares.items()}  # leans male exactly where men dominate
    aligned = stereotype_alignment(following, shares)
    assert aligned["pearson_r"] == pytest.approx(1.0) and aligned["p_value"] < 0.001
    assert aligned["occupations"] == len(shares)
    against = stereotype_alignment({o: -v for o, v in following.items()}, shares)
    assert against["pearson_r"] == pytest.approx(-1.0) and against["p_value"] < 0.001
    assert stereotype_alignment({"nurse": 0.1, "surgeon": 0.2}, shares) is None  # too few to correlate
    assert stereotype_alignment({o: 0.3 for o in shares}, shares) is None  # constant scores
