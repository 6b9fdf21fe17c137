"""The bias report's figures: drawn beside it, listed in the JSON, embedded in the markdown; per-term rates found
generically; a drawing failure costs the figures, never the report."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from lightning_bias.metrics import FairnessMetrics
from lightning_bias.reports import bias_report, figures
from lightning_bias.reports.bias_report import write_bias_report

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["nurse", "surgeon", "teacher", "chef", "pilot"]


def _report(split: str = "val", **extra) -> dict:
    """A fairness report of 400 seeded predictions over 5 classes and 2 groups, with a train co-occurrence."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (400,), generator=generator)
    groups = torch.randint(0, 2, (400,), generator=generator)
    guesses = torch.where(torch.rand(400, generator=generator) < 0.6, labels, torch.randint(0, 5, (400,),
                                                                                             generator=generator))
    metric = FairnessMetrics(5, 2, group_names=["male", "female"], class_names=CLASSES)
    metric.update(guesses, labels, groups)
    metric.compute()
    shares = {name: {"male": 0.2 + 0.15 * i, "female": 0.8 - 0.15 * i} for i, name in enumerate(CLASSES)}
    return {"split": split, **metric.report(), "train_cooccurrence": {"p_group_given_label": shares},
            "mitigations": [], "model": "tiny", **extra}


def _per_term(terms: int) -> dict:
    """An evaluation section in the documented shape: per-term FPR/FNR with intervals, overall rates."""
    return {"overall": {"fpr": 0.1, "fnr": 0.2},
            "per_term": {f"term{i}": {"fpr": i / (2 * terms), "fpr_ci95": [0.0, 0.6], "fnr": 0.25,
                                      "fnr_ci95": [0.1, 0.4], "n": 20} for i in range(terms)}}


def test_every_report_gets_its_figures_beside_it_listed_and_embedded(tmp_path):
    path = write_bias_report(_report(evaluations={"identity_templates": _per_term(12)}), tmp_path)
    written = json.loads(path.read_text())
    assert list(written["figures"]) == ["group_rates", "tpr_gap_vs_train_share", "evaluations_identity_templates_per_term"]
    markdown = (tmp_path / "bias_report.md").read_text()
    for figure in written["figures"].values():
        assert (tmp_path / figure["file"]).read_bytes().startswith(PNG)
        assert f"![{figure['title']}]({figure['file']})" in markdown
    # each image sits with the section it illustrates
    assert markdown.index("bias_report_group_rates.png") < markdown.index("Signed TPR gap")
    assert markdown.index("Signed TPR gap") < markdown.index("bias_report_tpr_gap_vs_train_share.png")
    assert markdown.index("## evaluations") < markdown.index("bias_report_evaluations_identity_templates_per_term.png")


def test_a_test_report_names_its_figures_after_its_own_stem(tmp_path):
    write_bias_report(_report("val"), tmp_path)
    test_path = write_bias_report(_report("test"), tmp_path)
    assert test_path.name == "bias_report_test.json"
    assert {f["file"] for f in json.loads(test_path.read_text())["figures"].values()} == {
        "bias_report_test_group_rates.png", "bias_report_test_tpr_gap_vs_train_share.png"}
    assert (tmp_path / "bias_report_group_rates.png").exists()  # the validation report's are kept


def test_without_a_train_cooccurrence_there_is_no_gap_share_figure(tmp_path):
    report = {**_report(), "train_cooccurrence": {}}
    written = json.loads(write_bias_report(report, tmp_path).read_text())
    assert list(written["figures"]) == ["group_rates"]
    assert not list(tmp_path.glob("*tpr_gap_vs_train_share.png"))


def test_the_gap_share_figure_plots_the_reports_own_numbers():
    report = _report()
    report["gap_train_share_correlation"] = {"by_group": {"male": {
        "pair": "male - female", "pearson_r": 0.42, "ci95": [-0.6, 0.9], "num_classes": 5}}}
    figure = figures.tpr_gap_vs_train_share(report)
    axis = figure.axes[0]
    assert "r = +0.42 [-0.60, +0.90], 5 classes" == axis.get_title()
    points = axis.lines[0].get_data()  # the markers of errorbar
    signed = report["gaps"]["signed_by_class"]["tpr"]["male - female"]
    assert list(points[0]) == pytest.approx([0.2 + 0.15 * i for i in range(5)])
    assert list(points[1]) == pytest.approx([signed[name] for name in CLASSES])


@pytest.mark.parametrize("section, found", [
    ({"identity_templates": _per_term(3)}, [("evaluations", "identity_templates")]),
    ({"wiki": {"fuzzed": {"by_term": {"gay": {"fnr": None}}}, "auc": 0.9}}, [("evaluations", "wiki", "fuzzed")]),
    ({"counterfactual": {"flip_rate": 0.2, "per_class": {"nurse": {"rate": 0.1}}}}, []),
    ({"empty": {"per_term": {}}}, []),
])
def test_per_term_rates_are_found_at_any_depth_in_the_documented_shape(section, found):
    assert [path for path, _ in figures.per_term_sections(section, ("evaluations",))] == found


def test_per_term_bars_keep_terms_without_rows_and_the_overall_lines():
    section = {"fpr": 0.15, "fnr": 0.3, "per_term": {"gay": {"fpr": 0.4, "fnr": 0.1}, "lesbian": {"fpr": None, "fnr": None}}}
    figure = figures.per_term_rates("evaluations.x", section)
    fpr_axis, fnr_axis = figure.axes[:2]
    assert [t.get_text() for t in fpr_axis.get_yticklabels()] == ["gay", "lesbian (no rows)"]
    assert [bar.get_width() for bar in fpr_axis.patches] == [0.4, 0.0]
    assert fpr_axis.get_legend().get_texts()[0].get_text() == "overall 0.150"
    assert fnr_axis.get_legend().get_texts()[0].get_text() == "overall 0.300"


def test_a_drawing_failure_is_one_warning_and_the_report_is_still_written(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(figures, "write_report_figures", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_bias_report(_report(), tmp_path)
    assert [str(w.message) for w in caught if "figures not drawn" in str(w.message)] == [
        "bias report bias_report: figures not drawn (RuntimeError: no canvas); the report's numbers are complete "
        "without them"]
    assert json.loads(path.read_text())["figures"] == {}
    assert "![" not in (tmp_path / "bias_report.md").read_text()
    assert bias_report.CORE_KEYS >= {"figures"}


def test_the_heat_map_shows_every_split_and_cell():
    inspection = {"label_names": ["a", "b"], "group_names": ["x", "y"], "splits": {
        split: {"rows": 4, "counts": {"a": {"x": 1, "y": 1}, "b": {"x": 2, "y": 0}},
                "p_group_given_label": {"a": {"x": 0.5, "y": 0.5}, "b": {"x": 1.0, "y": 0.0}}}
        for split in ("train", "test")}}
    figure = figures.cooccurrence_heatmap(inspection)
    assert [axis.get_title() for axis in figure.axes[:2]] == ["train (4 rows)", "test (4 rows)"]
    assert [text.get_text() for text in figure.axes[0].texts] == ["0.50\n1", "0.50\n1", "1.00\n2", "0.00\n0"]
    assert figures.png_bytes(figure).startswith(PNG)


def test_a_binary_task_has_no_gap_share_figure(tmp_path):
    metric = FairnessMetrics(2, 2, group_names=["mention", "no_mention"], class_names=["not_hate", "hate"])
    metric.update(torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 1, 0, 0, 1, 1]), torch.tensor([0, 0, 1, 1, 1, 0]))
    metric.compute()
    shares = {"not_hate": {"mention": 0.2, "no_mention": 0.8}, "hate": {"mention": 0.5, "no_mention": 0.5}}
    report = {"split": "val", **metric.report(), "train_cooccurrence": {"p_group_given_label": shares},
              "mitigations": [], "model": "tiny"}
    assert list(json.loads(write_bias_report(report, tmp_path).read_text())["figures"]) == ["group_rates"]
