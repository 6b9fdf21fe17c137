"""A real-data source chosen on the command line like any other: ``fit --config tiny.yaml --data.source stormfront``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import ERROR, REPO_ROOT, one_error_line, run_cli, shared_data

from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.data.identity_mentions import IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.data_root import DATA_ROOT_ENV

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
DATA_CONFIGS = sorted((REPO_ROOT / "configs" / "data").glob("*.yaml"))


def test_fit_on_stormfront_selected_by_name_reports_the_measured_mention_rates(tmp_path, capsys, monkeypatch):
    root = tmp_path / "data"
    (root / "stormfront").mkdir(parents=True)
    for name in ("train", "dev", "test"):  # the first 150 rows of each split: a run of seconds
        source = shared_data("hate_speech_identity_terms", "stormfront", f"{name}.tsv.gz")
        rows = pd.read_csv(source, sep="\t").head(150)
        rows.to_csv(root / "stormfront" / f"{name}.tsv.gz", sep="\t", index=False)
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    code, err = run_cli(
        ["fit", "--config", TINY, "--data.source", "stormfront", "--trainer.max_epochs=1",
         "--trainer.limit_train_batches=3", "--trainer.log_every_n_steps=1",
         f"--trainer.default_root_dir={tmp_path / 'run'}",
         f"--data.cache_dir={tmp_path / 'cache'}"],
        capsys,
    )
    assert code == 0, err
    (run,) = sorted((tmp_path / "run" / "lightning_logs").glob("version_*"))
    report = json.loads((run / "bias_report.json").read_text())
    assert set(report["by_group"]) == {"no_mention", "mention"}
    # P(mention | label) of the train split, recomputed from the file with the project's term list
    train = pd.read_csv(root / "stormfront" / "train.tsv.gz", sep="\t")
    matcher = IdentityTermMatcher(load_term_lists(None, "test"))
    train["mention"] = [bool(matcher.mentioned(text)) for text in train["text"]]
    rates = report["train_cooccurrence"]["p_group_given_label"]
    for label, is_hate in (("not_hate", 0), ("hate", 1)):
        expected = train.loc[train["is_hate"] == is_hate, "mention"].mean()
        assert rates[label]["mention"] == pytest.approx(expected)


def test_a_data_root_without_the_files_is_one_error_line(tmp_path, capsys):
    code, err = run_cli(
        ["fit", "--config", TINY, "--data.source", "stormfront", f"--data.source_options={{data_root: {tmp_path}}}",
         f"--trainer.default_root_dir={tmp_path / 'run'}"],
        capsys,
    )
    lines, at = one_error_line(code, err)
    assert lines[at].startswith(f"{ERROR}data.source_options.data_root={tmp_path}: no stormfront files there")


@pytest.mark.parametrize("config", DATA_CONFIGS, ids=lambda path: path.stem)
def test_every_data_config_builds_its_source(config):
    data = yaml.safe_load(config.read_text())["data"]
    module = BiasDataModule(**data)
    assert module.source_record["name"] == config.stem
