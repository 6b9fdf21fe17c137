"""What of a bias report goes to wandb: split-level numbers as summary values, per-group rows as a table."""

from __future__ import annotations

import json

import pytest
import torch

from lightning_bias.metrics import FairnessMetrics
from lightning_bias.reports.bias_report import write_bias_report
from lightning_bias.reports.wandb_report import (
    by_group_rows,
    log_bias_report,
    per_term_tables,
    summary_values,
)


@pytest.fixture
def report(tmp_path) -> dict:
    generator = torch.Generator().manual_seed(1)
    labels, groups = torch.randint(0, 3, (60,), generator=generator), torch.randint(0, 2, (60,), generator=generator)
    metric = FairnessMetrics(3, 2, group_names=["male", "female"], class_names=["nurse", "surgeon", "chef"])
    metric.update(torch.where(torch.rand(60, generator=generator) < 0.5, labels, 0), labels, groups)
    metric.compute()
    shares = {"nurse": {"male": 0.2, "female": 0.8}, "surgeon": {"male": 0.7, "female": 0.3},
              "chef": {"male": 0.5, "female": 0.5}}
    sections = {"evaluations": {"identity_templates": {"fpr_equality_difference": 0.4, "per_term": {
        "gay": {"fpr": 0.5, "fpr_ci95": [0.2, 0.8], "fnr": 0.1}}}}}
    raw = {"split": "val", **metric.report(), "train_cooccurrence": {"p_group_given_label": shares},
           "mitigations": [], "model": "tiny", **sections}
    return json.loads(write_bias_report(raw, tmp_path).read_text())


def test_summary_values_are_the_split_level_numbers_with_their_intervals(report):
    values = summary_values(report)
    assert values["overall.accuracy"] == report["overall"]["accuracy"]
    assert [values["overall.accuracy_ci95.low"], values["overall.accuracy_ci95.high"]] == report["overall"]["accuracy_ci95"]
    assert values["gaps.tpr_gap_rms"] == report["gaps"]["tpr_gap_rms"]
    assert values["gap_train_share_correlation.by_group.male.pearson_r"] == pytest.approx(
        report["gap_train_share_correlation"]["by_group"]["male"]["pearson_r"])
    assert values["evaluations.identity_templates.fpr_equality_difference"] == 0.4
    assert values["num_examples"] == 60
    # per class, per group and provenance stay out
    assert not [key for key in values if "by_class" in key or "per_term" in key or key.startswith((
        "by_group", "overall.tpr.", "train_cooccurrence", "figures"))]


def test_the_table_has_a_row_per_group_and_class_with_intervals(report):
    columns, rows = by_group_rows(report)
    assert len(rows) == 6 and columns[:7] == ["group", "n", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high",
                                              "class", "support"]
    row = dict(zip(columns, rows[0], strict=True))
    male = report["by_group"]["male"]
    assert (row["group"], row["class"], row["n"], row["support"]) == ("male", "nurse", male["n"], male["support"]["nurse"])
    assert [row["tpr"], row["tpr_ci95_low"], row["tpr_ci95_high"]] == [male["tpr"]["nurse"], *male["tpr_ci95"]["nurse"]]


def test_a_run_without_wandb_sends_nothing(report, tmp_path):
    from pytorch_lightning.loggers import CSVLogger

    log_bias_report([CSVLogger(tmp_path)], report, tmp_path, step=0)  # no WandbLogger: nothing to do, no import
    assert not (tmp_path / "wandb").exists()


def test_per_term_rates_get_a_table_of_their_own_and_stay_out_of_the_summary(report):
    tables = per_term_tables(report)
    assert list(tables) == ["evaluations.identity_templates"]
    columns, rows = tables["evaluations.identity_templates"]
    assert columns == ["term", "fpr", "fpr_ci95_low", "fpr_ci95_high", "fnr"]
    assert rows == [["gay", 0.5, 0.2, 0.8, 0.1]]
