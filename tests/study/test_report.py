"""``write_study_report``: report.md and figures from results.csv and study.json, for full and sparse studies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analysis import OUTCOME, planted_study

from lightning_bias.study.analysis import Estimate
from lightning_bias.study.report import effect_sentence, write_study_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _study_dir(root: Path, payload: dict, table: pd.DataFrame) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.json").write_text(json.dumps(payload))
    table.to_csv(root / "results.csv", index=False)
    return root


def _pngs(study_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((study_dir / "figures").glob("*.png"))}


def test_a_full_study_answers_both_questions_with_computed_sentences_and_figures(tmp_path):
    payload, table = planted_study(intrinsic_coef=0.0, slope=0.2)
    study_dir = _study_dir(tmp_path / "study", payload, table)
    report = write_study_report(study_dir)
    assert report == study_dir / "report.md"
    text = report.read_text()
    # no upstream effect planted: every pre-trained arm reads as no practically meaningful change
    for arm in ("stereotyped", "anti"):
        assert (f"Changing the upstream model from `minilm` to `{arm}` does not change extrinsic bias "
                f"(`{OUTCOME}`) by a practically meaningful amount") in text
    assert "Over the pre-trained arms: 2 of 2: includes 0, lies within ±τ." in text
    # a planted co-occurrence slope: raised, beyond the threshold, for pre-trained and from-scratch arms
    assert "from `balanced` to `amplified` in a pre-trained model raises extrinsic bias" in text
    assert "from `balanced` to `amplified` in the same architecture trained from scratch raises" in text
    assert "Left out: 25 rows, from-scratch arm" in text
    assert "`reweighting` lowers extrinsic bias" in text and "The largest reduction is `reweighting`" in text
    pngs = _pngs(study_dir)
    assert set(pngs) == {"gap_vs_cooccurrence.png", "intrinsic_vs_extrinsic.png", "mitigations.png"}
    assert all(data.startswith(PNG_SIGNATURE) for data in pngs.values())
    for name in pngs:
        assert f"](figures/{name})" in text
    assert not [p.name for p in study_dir.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_the_study_configs_threshold_reads_the_outcome_and_accuracy_keeps_one_point(tmp_path):
    payload, table = planted_study(intrinsic_coef=0.0, slope=0.2)
    # the same results read against τ = 10 in the outcome's units: the planted slope is no longer meaningful
    text = write_study_report(_study_dir(tmp_path / "study", {**payload, "threshold": 10.0}, table)).read_text()
    assert "threshold τ = 10.000 for extrinsic bias (the study config's `threshold`) and 0.010 for accuracy" in text
    assert ("from `balanced` to `amplified` in a pre-trained model raises extrinsic bias "
            f"(`{OUTCOME}`) detectably but negligibly") in text and "lies within ±10.000" in text
    assert "±0.010" in text  # the accuracy sentences of the mitigations keep one percentage point


def test_the_report_regenerates_identically_from_the_same_results(tmp_path):
    payload, table = planted_study(seeds=3)
    first = _study_dir(tmp_path / "a", payload, table)
    write_study_report(first)
    text, pngs = (first / "report.md").read_bytes(), _pngs(first)
    (first / "figures" / "stale.png").write_bytes(b"old")
    write_study_report(first)
    assert (first / "report.md").read_bytes() == text and _pngs(first) == pngs  # stale figure gone too
    second = _study_dir(tmp_path / "b", payload, table)
    write_study_report(second)
    assert (second / "report.md").read_bytes() == text and _pngs(second) == pngs


def test_a_one_axis_one_seed_study_reports_what_it_cannot_answer(tmp_path):
    payload, table = planted_study(seeds=1, axes=("cooccurrence",))
    text = write_study_report(_study_dir(tmp_path, payload, table)).read_text()
    assert "Not answerable from this study: the study has no axis with role `upstream`" in text
    assert "Not answerable from this study: the study has no axis with role `mitigation`." in text
    assert "The same architecture trained from scratch: not answerable from this study: the study has no upstream axis" in text
    assert "(n = 2; a group with one seed: no interval); without an interval this is not an answer" in text
    assert "| balanced | 1 | 0.0496 (one seed, no interval) |" in text
    assert _pngs(tmp_path).keys() == {"gap_vs_cooccurrence.png"}


def test_failed_cells_are_excluded_and_listed(tmp_path):
    payload, table = planted_study(seeds=2)
    failed = table.index[(table["axis.upstream"] == "anti") & (table["axis.mitigation"] == "none")]
    table.loc[failed, ["status", "error"]] = ["failed", "Traceback (most recent call last):\nRuntimeError: CUDA OOM"]
    table.loc[failed, OUTCOME] = np.nan
    text = write_study_report(_study_dir(tmp_path, payload, table)).read_text()
    assert f"Rows not analysed (failed, unfinished, collapsed, or without an outcome): {len(failed)}." in text
    assert "| anti-balanced-none | 0 | upstream=anti, cooccurrence=balanced, mitigation=none | failed | RuntimeError: CUDA OOM |" in text
    assert "| anti | no setting with rows of both |" in text


def test_a_study_with_no_finished_rows_still_gets_a_report(tmp_path):
    payload, table = planted_study(seeds=1)
    table["status"] = "failed"
    text = write_study_report(_study_dir(tmp_path, payload, table)).read_text()
    assert "No finished rows yet: nothing to analyse." in text and f"{len(table)}." in text


def test_missing_or_broken_inputs_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"study.json not found: is this a study directory\?"):
        write_study_report(tmp_path)
    payload, table = planted_study(seeds=1)
    _study_dir(tmp_path, payload, table)
    (tmp_path / "results.csv").unlink()
    with pytest.raises(ValueError, match=r"results.csv not found: run `lightning_bias study run`"):
        write_study_report(tmp_path)
    (tmp_path / "study.json").write_text("{not json")
    with pytest.raises(ValueError, match="study.json is not valid JSON"):
        write_study_report(tmp_path)


def test_unknown_extra_columns_and_text_axis_values_are_read_as_they_are(tmp_path):
    payload, table = planted_study(seeds=2, axes=("cooccurrence",))
    table["evaluations.madlibs.fpr_gap_rms"] = 0.1
    table["split"] = "test"
    table["notes.free_text"] = "anything"
    text = write_study_report(_study_dir(tmp_path, payload, table)).read_text()
    assert "| `evaluations.madlibs.fpr_gap_rms` | 0.1000 [0.1000, 0.1000], n = 2 |" in text


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.02, 0.04, "raises extrinsic bias: +0.0300 [0.0200, 0.0400], n = 10; the whole interval lies beyond"),
     (-0.004, 0.006, "does not change extrinsic bias by a practically meaningful amount: +0.0010"),
     (-0.004, 0.03, "has no detectable effect on extrinsic bias, but effects beyond ±0.010 are not ruled out"),
     (-0.02, -0.001, "lowers extrinsic bias: -0.0105 [-0.0200, -0.0010], n = 10; the interval excludes 0 but")],
)
def test_sentences_are_computed_from_the_numbers(low, high, expected):
    sentence = effect_sentence("X", "extrinsic bias", Estimate((low + high) / 2, low, high, 10), 0.01)
    assert sentence.startswith("X ") and expected in sentence
