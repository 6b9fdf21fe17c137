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
        "evaluations": {"counterfactual": {"flip_rate": 0.25, "split_seen": "val"},
                        "counterfactual_2": {"flip_rate": 0.25, "split_seen": "val"}},
    }
    assert list(report_sections(callbacks, "test")["evaluations"]) == ["counterfactual", "counterfactual_2"]


def test_markdown_renders_every_plugin_section(tmp_path):
    report = {"split": "val", **_metrics_report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny",
              **report_sections([_Counting(), _FlipRate()], "val")}
    markdown = format_markdown(json.loads(json.dumps(report)))
    assert "## _counting" in markdown and "| per_label.nurse | 0.500 |" in markdown
    assert "## evaluations" in markdown and "| counterfactual.flip_rate | 0.250 |" in markdown
    assert "## model" not in markdown and "## gaps" not in markdown  # core keys keep their own tables
    path = write_bias_report(report, tmp_path)
    assert json.loads(path.read_text())["evaluations"]["counterfactual"]["flip_rate"] == 0.25
    assert (tmp_path / "bias_report.md").read_text() == format_markdown(json.loads(path.read_text()))  # + figures


def test_a_report_of_another_split_is_kept(tmp_path):
    base = {**_metrics_report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny"}
    first = write_bias_report({"split": "val", **base}, tmp_path)
    second = write_bias_report({"split": "test", **base}, tmp_path)
    assert first.name == "bias_report.json" and second.name == "bias_report_test.json"
    assert json.loads(first.read_text())["split"] == "val"


def test_markdown_shows_a_short_provenance_block():
    report = {
        "split": "test", **_metrics_report(), "train_cooccurrence": {}, "model": "tiny",
        "mitigations": [{"class": "plugins.CooccurrenceControl", "stage": "downstream",
                         "arguments": {"group": "female", "rate": 0.5, "mode": "size_matched", "seed": 3}}],
        "evaluation_distribution": {"split": "test", "declared": {"female_rate": 0.5, "ambiguity": 0.3},
                                    "num_rows": 6, "group_shares": {"male": 0.5, "female": 0.5},
                                    "p_group_given_label": {"nurse": {"male": 0.5, "female": 0.5}}},
        "provenance": {"seeds": {"global": 0, "data": 1, "split": 2, "source": 4,
                                 "plugins": {"cooccurrence_control": 3}},
                       "source": {"name": "synthetic_bios", "synthetic_bios": {"female_rate": "stereotypical"}},
                       "train_size": {"before_mitigation": 280, "after_mitigation": 280}, "evaluations": []},
    }
    markdown = format_markdown(report)
    block = markdown[markdown.index("## Provenance"):].splitlines()[2:7]
    assert block == [
        "- evaluated split: 6 rows; group shares male 0.500, female 0.500; declared setting: female_rate=0.500, "
        "ambiguity=0.300",
        "- train rows: 280 after mitigation (280 before)",
        "- seeds: global=0, data=1, split=2, source=4, plugins.cooccurrence_control=3",
        "- source: name=synthetic_bios, synthetic_bios.female_rate=stereotypical",
        "- plugins: CooccurrenceControl(group=female, rate=0.500, mode=size_matched, seed=3)",
    ]
    assert "## provenance" not in markdown and "## evaluation_distribution" not in markdown  # not plugin sections


def test_a_report_without_provenance_has_no_block():
    report = {"split": "val", **_metrics_report(), "train_cooccurrence": {}, "mitigations": [], "model": "tiny"}
    assert "Provenance" not in format_markdown(report)


def _nurse_report() -> dict:
    """10 female nurses all found, 2 male nurses of whom one: the quickstart's "nurse 1.00 vs 0.50"."""
    metric = FairnessMetrics(2, 2, group_names=["female", "male"], class_names=["nurse", "surgeon"])
    metric.update(torch.tensor([0] * 10 + [0, 1] + [1] * 24), torch.tensor([0] * 12 + [1] * 24),
                  torch.tensor([0] * 10 + [1, 1] + [0] * 12 + [1] * 12))
    return metric.report()


def test_markdown_marks_small_cells_and_gives_gaps_with_intervals(tmp_path):
    report = {"split": "val", **_nurse_report(), "mitigations": [], "model": "tiny",
              "train_cooccurrence": {"p_group_given_label": {"nurse": {"female": 0.9, "male": 0.1},
                                                             "surgeon": {"female": 0.2, "male": 0.8}}}}
    written = json.loads(write_bias_report(report, tmp_path).read_text())
    markdown = (tmp_path / "bias_report.md").read_text()
    nurse_row = next(line for line in markdown.splitlines() if line.startswith("| nurse |"))
    assert "| 1.000 | 0.500 † |" in nurse_row and "TPR female - male" in markdown
    assert "† fewer than 10 examples of the class in that group" in markdown
    gaps = written["gaps"]
    assert f"| TPR gap | {gaps['tpr_gap_rms']:.3f} [{gaps['tpr_gap_rms_ci95'][0]:.3f}, " in markdown
    assert "noise floor" in markdown and "corrected RMS" in markdown and "Newcombe" in markdown
    # two classes only: r is undefined (needs 3), but the section is there once train co-occurrence is
    assert written["gap_train_share_correlation"]["by_group"]["female"]["num_classes"] == 2
    assert "## gap_train_share_correlation" not in markdown and "## small_cells" not in markdown
