"""The bias report warns, in JSON and at the top of the markdown, when predictions collapse to one class."""

from __future__ import annotations

import json

import torch

from lightning_bias.metrics import FairnessMetrics
from lightning_bias.reports.bias_report import write_bias_report
from lightning_bias.reports.prediction_collapse import collapse_warnings, predicted_counts

CLASSES = ["nurse", "surgeon", "teacher"]


def _report(preds: list[int], labels: list[int], groups: list[int], group_names=("male", "female"),
            classes=CLASSES) -> dict:
    metric = FairnessMetrics(len(classes), len(group_names), group_names=list(group_names), class_names=list(classes))
    metric.update(torch.tensor(preds), torch.tensor(labels), torch.tensor(groups))
    metric.compute()
    return {"split": "val", **metric.report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny"}


def test_one_class_for_every_input_is_flagged_in_json_and_markdown(tmp_path):
    labels = [0, 1, 2] * 10
    report = _report([1] * 30, labels, [0, 1] * 15)
    path = write_bias_report(report, tmp_path)
    written = json.loads(path.read_text())
    assert list(written)[:3] == ["report_version", "split", "warnings"]
    (warning,) = written["warnings"]
    assert "collapsed" in warning and "100% of the 30 examples are predicted 'surgeon'" in warning
    assert "1 of 3 classes" in warning
    markdown = (tmp_path / "bias_report.md").read_text().splitlines()
    assert markdown[:5] == ["# Bias report — val split", "", "Examples: 30; accuracy 0.333", "",
                            f"**Warning:** {warning}"]


def test_a_share_of_95_percent_counts_as_collapsed_and_below_does_not():
    labels = [0, 1, 2] * 20
    groups = [0, 1] * 30
    almost = [0] * 57 + [1, 2, 2]  # 95% nurse
    assert predicted_counts(_report(almost, labels, groups)) == {"nurse": 57, "surgeon": 1, "teacher": 2}
    assert collapse_warnings(_report(almost, labels, groups))[0].startswith("predictions collapsed: 95% of the 60")
    assert "3 of 3 classes" in collapse_warnings(_report(almost, labels, groups))[0]
    assert collapse_warnings(_report([0] * 56 + [1, 1, 2, 2], labels, groups)) == []  # 93%


def test_a_model_that_learned_gets_no_warning_and_empty_groups_count_nothing(tmp_path):
    labels = [0, 1, 2] * 10
    report = _report(labels, labels, [0] * 30, group_names=("male", "female", "nonbinary"))
    assert report["empty_groups"] == ["female", "nonbinary"]
    assert predicted_counts(report) == {"nurse": 10, "surgeon": 10, "teacher": 10}
    written = json.loads(write_bias_report(report, tmp_path).read_text())
    assert written["warnings"] == []
    assert "Warning" not in (tmp_path / "bias_report.md").read_text()


def test_an_imbalanced_task_predicted_mostly_as_its_majority_class_is_not_collapsed_when_it_beats_chance():
    # 100 hate of 1,000; 960 predicted not hate
    labels = [1] * 100 + [0] * 900
    found = [1] * 35 + [0] * 65 + [1] * 5 + [0] * 895  # 35% of hate found, 5 false alarms: 96% predicted 0
    report = _report(found, labels, [0, 1] * 500, classes=("not_hate", "hate"))
    assert predicted_counts(report)["not_hate"] == 960 and report["overall"]["macro_tpr"] > 0.5 + 0.05
    assert collapse_warnings(report) == []
    # all one class: balanced accuracy at chance, collapsed
    assert collapse_warnings(_report([0] * 1000, labels, [0, 1] * 500, classes=("not_hate", "hate")))
