"""The shipped mitigation plugins end to end through ``lightning_bias fit`` on the tiny config, and the
framework's clear errors for bad plugin input (exit code 2, one message)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, run_cli
from lightning_bias_plugins.downstream.cooccurrence import CooccurrenceControl
from lightning_bias_plugins.downstream.counterfactual_augmentation import CounterfactualAugmentation
from lightning_bias_plugins.downstream.resampling import StratifiedEpochSampler, cell_targets
from lightning_bias_plugins.downstream.reweighting import row_weights

from lightning_bias.commands.lightning_cli import run_fit_cli
from lightning_bias.mitigation import Evaluation, Mitigation
from lightning_bias.plugin_registry import EVALUATIONS, MITIGATIONS, available, build_from_spec

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
CONFIGS = REPO_ROOT / "configs" / "mitigations"
FAST = ["--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400"]


def fit(tmp_path: Path, *configs: str, extra: list[str] = ()):
    """Run ``fit`` in-process on the tiny config plus mitigation configs; return the CLI object."""
    args = ["fit", "--config", TINY]
    for name in configs:
        args += ["--config", str(CONFIGS / f"{name}.yaml")]
    return run_fit_cli([*args, *FAST, f"--trainer.default_root_dir={tmp_path}", *extra])


def report_of(tmp_path: Path) -> dict:
    run = sorted((tmp_path / "lightning_logs").glob("version_*"))[-1]
    return json.loads((run / "bias_report.json").read_text())




# --- every example config names plugins that exist and accept its arguments -------------------------


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_mitigation_config_builds_its_plugins(config):
    import importlib

    if config == "group_dro.yaml":
        pytest.importorskip("lightning_bias_example_plugin", reason="pip install -e plugins/example_plugin")
    content = yaml.safe_load((CONFIGS / config).read_text())
    mitigations = [build_from_spec(MITIGATIONS, spec, Mitigation) for spec in content.get("mitigations", [])]
    evaluations = [build_from_spec(EVALUATIONS, spec, Evaluation) for spec in content.get("evaluations", [])]
    for callback in content.get("trainer", {}).get("callbacks", []):
        module, _, name = callback["class_path"].rpartition(".")
        mitigations.append(getattr(importlib.import_module(module), name)(**callback.get("init_args", {})))
    assert mitigations or evaluations, f"{config} names no plugin"
    assert all(plugin.stage == "downstream" for plugin in mitigations)


def test_all_shipped_plugins_are_registered():
    assert {"reweighting", "resampling", "cooccurrence", "counterfactual_augmentation", "scrubbing",
            "corpus_counterfactual_augmentation", "dapt", "dropout_debiasing"} <= set(available(MITIGATIONS))
    assert "counterfactual_evaluation" in available(EVALUATIONS)


# --- end to end -------------------------------------------------------------------------------------


def test_fit_with_reweighting_trains_on_the_plugin_weights(tmp_path):
    cli = fit(tmp_path, "reweighting")
    datamodule = cli.datamodule
    weights = np.asarray(datamodule.tokenized["train"]["weight"])
    np.testing.assert_allclose(weights, row_weights(datamodule.tables["train"], "kamiran_calders", clip_max=10.0),
                               rtol=1e-6)
    assert weights.mean() == pytest.approx(1.0)
    report = report_of(tmp_path)
    assert [m["class"] for m in report["mitigations"]] == ["lightning_bias_plugins.downstream.reweighting.Reweighting"]
    assert cli.trainer.global_step == math.ceil(len(datamodule.tables["train"]) / 32)


def test_fit_with_resampling_draws_exact_balanced_epochs(tmp_path):
    probe = tmp_path / "probe"
    cli = fit(tmp_path, "resampling", extra=["--trainer.max_epochs=2", "--trainer.callbacks+=plugin_probe.EpochIndexRecorder",
                                             f"--trainer.callbacks.out_dir={probe}"])
    table = cli.datamodule.tables["train"]
    sampler = cli.datamodule.train_sampler
    assert isinstance(sampler, StratifiedEpochSampler)
    record = json.loads((probe / "rank0.json").read_text())
    labels, groups = np.asarray(table["label"]), np.asarray(table["group"])
    counts = np.zeros((labels.max() + 1, groups.max() + 1), dtype=np.int64)
    np.add.at(counts, (labels, groups), 1)
    targets = cell_targets(counts, "undersample")
    for epoch in record["epochs"]:
        indices = epoch["indices"]
        assert len(indices) == len(set(indices)) == targets.sum()  # distinct rows, exact epoch size
        drawn = Counter(zip(labels[indices].tolist(), groups[indices].tolist(), strict=True))
        assert drawn == {(y, g): int(t) for (y, g), t in np.ndenumerate(targets) if t}
        assert epoch["seen"] == [[int(labels[i]), int(groups[i])] for i in indices]  # the loader used it
    assert record["epochs"][0]["indices"] != record["epochs"][1]["indices"]  # redrawn each epoch
    assert cli.trainer.global_step == 2 * math.ceil(targets.sum() / 32)


def test_fit_with_cooccurrence_control_sets_the_rates_and_reports_them(tmp_path):
    cli = fit(tmp_path, "cooccurrence")
    report = report_of(tmp_path)
    section = report[CooccurrenceControl.report_name]
    assert section["group"] == "female" and section["rows_after"] == len(cli.datamodule.tables["train"])
    measured = report["train_cooccurrence"]
    for label, rates in measured["p_group_given_label"].items():
        rows = sum(measured["counts"][label].values())
        assert abs(rates["female"] - 0.5) <= 1 / rows  # nearest reachable to 0.5
        assert section["labels"][label]["achieved_rate"] == pytest.approx(rates["female"], abs=1e-6)
        assert section["labels"][label]["rows_after"] == rows
    # size-matched by default: the train split keeps its 280 rows, and the report says so with the arguments
    assert section["mode"] == "size_matched" and measured["num_rows"] == 280
    assert report["provenance"]["train_size"] == {"before_mitigation": 280, "after_mitigation": 280}
    assert report["provenance"]["seeds"]["plugins"] == {CooccurrenceControl.report_name: 0}
    assert [m["arguments"] for m in report["mitigations"]] == [
        {"group": "female", "rate": 0.5, "shift": None, "mode": "size_matched", "seed": 0}]


def test_fit_with_augmentation_and_counterfactual_evaluation_then_test(tmp_path, capsys):
    cli = fit(tmp_path, "counterfactual_augmentation", "counterfactual_evaluation")
    datamodule = cli.datamodule
    swapper = next(c for c in cli.trainer.callbacks if isinstance(c, CounterfactualAugmentation)).swapper
    original = datamodule.load().tables["train"]
    with_words = [swapper.swap_with_count(text)[1] > 0 for text in original["text"]]
    assert sum(with_words) > 0.9 * len(original)  # nearly every bio names a gender
    # two-sided CDA: each row with a gender word is followed by its swapped copy in the other group
    train = datamodule.tables["train"]
    assert len(train) == len(original) + sum(with_words)
    position = 0
    for row, has_words in zip(original, with_words, strict=True):
        assert train[position] == row
        if has_words:
            copy = train[position + 1]
            assert copy["text"] == swapper.swap_with_count(row["text"])[0] and copy["label"] == row["label"]
            assert copy["group"] == 1 - row["group"]
        position += 2 if has_words else 1
    val_report = report_of(tmp_path)
    section = val_report["evaluations"]["counterfactual"]
    val_with_words = sum(swapper.swap_with_count(text)[1] > 0 for text in datamodule.tables["val"]["text"])
    assert section["num_rows"] == 60 and section["num_swapped"] == val_with_words > 50
    assert 0.0 <= section["flip_rate"] <= 1.0 and 0.0 <= section["mean_abs_prob_change"] <= 1.0
    metrics = pd.read_csv(sorted((tmp_path / "lightning_logs").glob("version_*"))[-1] / "metrics.csv")
    assert metrics["val/counterfactual_flip_rate"].notna().any()
    ckpt = next(tmp_path.rglob("*.ckpt"))
    code, err = run_cli(["test", "--config", TINY, "--config", str(CONFIGS / "counterfactual_evaluation.yaml"),
                         *FAST, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={ckpt}"], capsys)
    assert code == 0, err
    # `test` on the fit's checkpoint writes into the fit's run dir, beside its validation report
    test_report = json.loads((ckpt.parent.parent / "bias_report_test.json").read_text())
    assert test_report["split"] == "test" and test_report["evaluations"]["counterfactual"]["num_rows"] == 60


def test_example_plugin_by_short_name(tmp_path):
    pytest.importorskip("lightning_bias_example_plugin", reason="pip install -e plugins/example_plugin")
    assert "group_dro" in available(MITIGATIONS)
    fit(tmp_path, "group_dro")
    report = report_of(tmp_path)
    assert report["mitigations"][0]["class"] == "lightning_bias_example_plugin.group_dro.GroupDRO"
    weights = report["group_dro"]["group_weights"]
    assert len(weights) == 16 * 2 and sum(weights.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(weights.values()) > min(weights.values())  # q moved away from uniform
    metrics = pd.read_csv(sorted((tmp_path / "lightning_logs").glob("version_*"))[-1] / "metrics.csv")
    assert "group_dro/q_nurse|female" in metrics.columns


# --- bad input: one clear message, exit code 2 -------------------------------------------------------


def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def config_with(tmp_path: Path, mitigations: list) -> str:
    path = tmp_path / "mitigations.yaml"
    path.write_text(yaml.safe_dump({"mitigations": mitigations}))
    return str(path)


def test_unknown_plugin_name_lists_the_installed_ones(tmp_path, capsys):
    config = config_with(tmp_path, [{"name": "nope"}])
    code, err = run_cli(["fit", "--config", TINY, "--config", config, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert_clear_error(code, err, "unknown mitigation plugin 'nope'", "reweighting", "resampling", "cooccurrence",
                       "scrubbing")


def test_an_evaluation_listed_as_a_mitigation_says_where_it_belongs(tmp_path, capsys):
    config = config_with(tmp_path, [{"name": "counterfactual_evaluation"}])
    code, err = run_cli(["fit", "--config", TINY, "--config", config, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert_clear_error(code, err, "'counterfactual_evaluation' is not a mitigation plugin but an evaluation",
                       "evaluations:")


@pytest.mark.parametrize(("kind", "needle"), [
    ("short", "sample_weights gave shape (279,); expected (280,)"),
    ("negative", "sample weight at row 3 is -1.0"),
    ("nan", "sample weight at row 3 is nan"),
])
def test_misbehaving_sample_weights(tmp_path, capsys, kind, needle):
    code, err = run_cli(["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}",
                         "--trainer.callbacks+=plugin_probe.BadWeights", f"--trainer.callbacks.kind={kind}"], capsys)
    assert_clear_error(code, err, "mitigation BadWeights", needle)


@pytest.mark.parametrize(("spec", "extra", "needles"), [
    ({"name": "cooccurrence", "group": 1, "rate": 1.5}, [], [r"rate must be a number in [0, 1], got 1.5"]),
    # no female rows at all: no subsampling can reach a share of one half
    ({"name": "cooccurrence", "group": 1, "rate": 0.5}, ["--data.synthetic_bios.female_rate=0.0"],
     ["cooccurrence: label", "rate 0.5 is unreachable", "no rows of the controlled group"]),
    ({"name": "resampling", "method": "undersample", "num_samples": 100}, [],
     ["num_samples applies to method 'balanced' only"]),
])
def test_bad_plugin_settings(tmp_path, capsys, spec, extra, needles):
    config = config_with(tmp_path, [spec])
    code, err = run_cli(["fit", "--config", TINY, "--config", config, *FAST, *extra,
                         f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert_clear_error(code, err, *needles)


def test_table_emptied_by_a_transform(tmp_path, capsys):
    code, err = run_cli(["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}",
                         "--trainer.callbacks+=plugin_probe.EmptyingTransform"], capsys)
    assert_clear_error(code, err, "data split 'train' has no rows after mitigation EmptyingTransform")


def test_malformed_word_list(tmp_path, capsys):
    words = tmp_path / "my_terms.txt"
    words.write_text("he\tshe\nman\twoman\tperson\n")
    config = config_with(tmp_path, [{"name": "counterfactual_augmentation", "term_files": [str(words)]}])
    code, err = run_cli(["fit", "--config", TINY, "--config", config, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert_clear_error(code, err, "my_terms.txt:2")


def test_two_plugins_supplying_a_sampler(tmp_path, capsys):
    config = config_with(tmp_path, [{"name": "resampling"}])
    code, err = run_cli(["fit", "--config", TINY, "--config", config, *FAST, f"--trainer.default_root_dir={tmp_path}",
                         "--trainer.callbacks+=plugin_probe.PlainSampler"], capsys)
    assert_clear_error(code, err, "several mitigations supply a training sampler (Resampling, PlainSampler)")
