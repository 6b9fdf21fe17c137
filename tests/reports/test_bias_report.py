"""The bias report: core tables by name, every plugin section rendered generically, nothing overwritten."""

from __future__ import annotations

import json

import torch

from lightning_bias.metrics import FairnessMetrics
from lightning_bias.mitigation import Evaluation, Mitigation, report_sections
from lightning_bias.reports.bias_report import format_markdown, write_bias_report


def _metrics_report() -> dict:
    metric = FairnessMetrics(2, 2, group_names=["male", "female"], class_names=["nurse", "surgeon"])
    metric.update(torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 1, 0, 0, 1, 1]), torch.tensor([0, 0, 1, 1, 1, 0]))
    metric.compute()
    return metric.report()


class _Counting(Mitigation):
    """A mitigation that reports what it did."""

    def report_section(self, split: str) -> dict | None:
        return {"rows_kept": 10, "per_label": {"nurse": 0.5}} if split == "val" else None


class _FlipRate(Evaluation):
    """An evaluation with a custom report name."""

    report_name = "counterfactual"

    def report_section(self, split: str) -> dict:
        return {"flip_rate": 0.25, "split_seen": split}


def test_plugin_sections_are_collected_under_report_names():
    callbacks = [_Counting(), object(), _FlipRate(), _FlipRate()]
    assert report_sections(callbacks, "val") == {
        "_counting": {"rows_kept": 10, "per_label": {"nurse": 0.5}},
        "counterfactual": {"flip_rate": 0.25, "split_seen": "val"},
        "counterfactual_2": {"flip_rate": 0.25, "split_seen": "val"},
    }
    assert list(report_sections(callbacks, "test")) == ["counterfactual", "counterfactual_2"]


def test_markdown_renders_every_plugin_section(tmp_path):
    report = {"split": "val", **_metrics_report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny",
              **report_sections([_Counting(), _FlipRate()], "val")}
    markdown = format_markdown(json.loads(json.dumps(report)))
    assert "## _counting" in markdown and "| per_label.nurse | 0.500 |" in markdown
    assert "## counterfactual" in markdown and "| flip_rate | 0.250 |" in markdown
    assert "## model" not in markdown and "## gaps" not in markdown  # core keys keep their own tables
    path = write_bias_report(report, tmp_path)
    assert json.loads(path.read_text())["counterfactual"]["flip_rate"] == 0.25
    assert (tmp_path / "bias_report.md").read_text() == markdown


def test_a_report_of_another_split_is_kept(tmp_path):
    base = {**_metrics_report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny"}
    first = write_bias_report({"split": "val", **base}, tmp_path)
    second = write_bias_report({"split": "test", **base}, tmp_path)
    assert first.name == "bias_report.json" and second.name == "bias_report_test.json"
    assert json.loads(first.read_text())["split"] == "val"
