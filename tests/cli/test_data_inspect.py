"""``lightning_bias data inspect``: a fit config's data as tables, JSON and a heat map, before or after the
mitigations, for the synthetic and a real source; bad input is one error line."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import REPO_ROOT, one_error_line, run_cli, shared_data

from lightning_bias.commands import main
from lightning_bias.data.datamodule import BiasDataModule

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
SMALL = ["--data.synthetic_bios.num_examples=400"]


def test_the_tables_json_and_heat_map_of_a_fit_config(tmp_path, capsys):
    main(["data", "inspect", "--config", TINY, *SMALL, "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Data as loaded, before any mitigation" in out and "train: rows (P(group | label) / P(label | group))" in out
    inspection = json.loads((tmp_path / "data_inspection.json").read_text())
    assert (tmp_path / "cooccurrence_heatmap.png").read_bytes().startswith(b"\x89PNG")
    assert list(inspection["splits"]) == ["train", "val", "test"] and inspection["after_mitigations"] is False
    # an independent count of the same config's rows
    loaded = BiasDataModule(synthetic_bios={"num_examples": 400, "female_rate": "stereotypical", "ambiguity": 0.5,
                                            "seed": 0}).load()
    for split, table in loaded.tables.items():
        pairs = Counter(zip(table["label"], table["group"], strict=True))
        stats = inspection["splits"][split]
        assert stats["rows"] == len(table)
        assert stats["counts"] == {label: {group: pairs[i, j] for j, group in enumerate(loaded.group_names)}
                                   for i, label in enumerate(loaded.label_names)}
    assert inspection["tokenizer"].endswith("model") and inspection["max_length"] == 64


def test_after_the_mitigations_shows_what_they_did(tmp_path, capsys):
    mitigation = str(REPO_ROOT / "configs" / "mitigations" / "cooccurrence.yaml")
    main(["data", "inspect", "--config", TINY, "--config", mitigation, *SMALL, "--output", str(tmp_path / "before")])
    main(["data", "inspect", "--config", TINY, "--config", mitigation, *SMALL, "--after-mitigations",
          "--output", str(tmp_path / "after")])
    before, after = (json.loads((tmp_path / name / "data_inspection.json").read_text()) for name in ("before", "after"))
    assert after["after_mitigations"] and after["mitigations"][0]["arguments"]["rate"] == 0.5
    female = {name: [stats["p_group_given_label"][label]["female"] for label in stats["p_group_given_label"]]
              for name, stats in (("before", before["splits"]["train"]), ("after", after["splits"]["train"]))}
    assert max(abs(rate - 0.5) for rate in female["before"]) > 0.2  # the stereotypical skew
    assert max(abs(rate - 0.5) for rate in female["after"]) < 0.06  # set to one half (rows are whole)
    assert after["splits"]["train"]["rows"] == before["splits"]["train"]["rows"]  # size-matched
    assert after["splits"]["val"] == before["splits"]["val"]  # evaluation splits untouched
    assert "Data after the mitigations" in capsys.readouterr().out


def test_a_real_source_is_inspected_with_its_identity_groups(tmp_path, capsys, monkeypatch):
    root = shared_data("hate_speech_identity_terms", "stormfront").parents[1]
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(root))
    main(["data", "inspect", "--config", TINY, "--config", str(REPO_ROOT / "configs" / "data" / "stormfront.yaml"),
          "--output", str(tmp_path)])
    inspection = json.loads((tmp_path / "data_inspection.json").read_text())
    assert inspection["label_names"] == ["not_hate", "hate"]
    assert sorted(inspection["group_names"]) == ["mention", "no_mention"]
    train = inspection["splits"]["train"]
    # the README's measured mention rates: P(mention | hate) 0.483, P(mention | not_hate) 0.193
    assert train["p_group_given_label"]["hate"]["mention"] == pytest.approx(0.483, abs=0.001)
    assert train["p_group_given_label"]["not_hate"]["mention"] == pytest.approx(0.193, abs=0.001)


def test_a_mistaken_option_is_one_error_line(capsys):
    code, err = run_cli(["data", "inspect", "--config", TINY, "--data.synthetic_bios.num_exampels=10"], capsys)
    lines, at = one_error_line(code, err)
    assert "num_exampels" in lines[at]
