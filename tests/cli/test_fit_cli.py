"""End-to-end ``lightning_bias fit|test|predict`` on the tiny config, and its bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT, run_cli, shared_data

from lightning_bias.data.synthetic_bios import generate_bios

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
FAST = ["--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400"]




def only_version_dir(root: Path) -> Path:
    versions = sorted((root / "lightning_logs").glob("version_*"))
    assert versions, f"no run dir under {root}"
    return versions[-1]


def test_tiny_fit_writes_report_export_and_metrics(tmp_path, capsys):
    code, err = run_cli(["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert code == 0, err
    run = only_version_dir(tmp_path)
    report = json.loads((run / "bias_report.json").read_text())
    assert report["split"] == "val"
    assert report["num_examples"] == 60  # 15% of 400
    assert set(report["by_group"]) == {"male", "female"}
    for group in report["by_group"].values():
        assert group["n"] > 0 and 0.0 <= group["accuracy"] <= 1.0
        assert set(group["tpr"]) == set(report["train_cooccurrence"]["p_group_given_label"])
    for key in ("tpr_gap_rms", "fpr_gap_rms", "dp_difference_rms"):
        assert key in report["gaps"]
    assert 0.0 <= report["overall"]["accuracy"] <= 1.0
    # the co-occurrence the model trained on is the configured stereotypical table, measured back
    from lightning_bias.data.synthetic_bios import STEREOTYPICAL_FEMALE_RATE

    cooc = report["train_cooccurrence"]["p_group_given_label"]
    counts = report["train_cooccurrence"]["counts"]
    for occupation, rates in cooc.items():
        n = sum(counts[occupation].values())
        assert counts[occupation]["female"] == round(STEREOTYPICAL_FEMALE_RATE[occupation] * n)
        assert rates["female"] == pytest.approx(counts[occupation]["female"] / n)
    assert (run / "bias_report.md").read_text().startswith("# Bias report")
    export = run / "hf_export"
    assert (export / "model.safetensors").is_file() and (export / "tokenizer.json").is_file()
    metrics = pd.read_csv(run / "metrics.csv")
    assert "val/tpr_gap_rms" in metrics.columns and metrics["val/tpr_gap_rms"].notna().any()
    assert metrics["test/accuracy"].notna().any()  # the fit tested too: its data has a test split

    test_report = json.loads((run / "bias_report_test.json").read_text())
    assert test_report["split"] == "test" and test_report["num_examples"] == 60
    assert (run / "bias_report_test.md").read_text().startswith("# Bias report — test split")
    for split, written in (("val", report), ("test", test_report)):
        # evaluated on balanced splits (the default), whatever the stereotypical train rate
        evaluated = written["evaluation_distribution"]
        assert evaluated["split"] == split and evaluated["num_rows"] == 60
        assert evaluated["declared"] == {"female_rate": 0.5, "ambiguity": 0.5}
        assert sum(evaluated["group_shares"].values()) == pytest.approx(1.0)
        provenance = written["provenance"]
        assert provenance["seeds"] == {"global": 0, "data": 0, "split": 0, "source": 0, "plugins": {}}
        assert provenance["source"]["name"] == "synthetic_bios"
        assert provenance["source"]["synthetic_bios"] == {
            "num_examples": 400, "female_rate": "stereotypical", "eval_female_rate": 0.5, "ambiguity": 0.5,
            "occupations": None, "seed": 0}
        assert provenance["train_size"] == {"before_mitigation": 280, "after_mitigation": 280}
        assert written["mitigations"] == [] and provenance["evaluations"] == []
    assert "## Provenance" in (run / "bias_report.md").read_text()


def test_test_and_predict_from_checkpoint(tmp_path, capsys):
    code, err = run_cli(["fit", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert code == 0, err
    ckpt = next(tmp_path.rglob("*.ckpt"))
    code, err = run_cli(["test", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}",
                         f"--ckpt_path={ckpt}"], capsys)
    assert code == 0, err
    # beside the fit's own report, in the checkpoint's run dir (tests/cli/test_outputs.py has the rest)
    report = json.loads((only_version_dir(tmp_path) / "bias_report_test.json").read_text())
    assert report["split"] == "test" and report["num_examples"] == 60
    code, err = run_cli(["predict", "--config", TINY, *FAST, f"--trainer.default_root_dir={tmp_path}",
                         f"--ckpt_path={ckpt}"], capsys)
    assert code == 0, err
    rows = (only_version_dir(tmp_path) / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 60 and {"pred", "label", "group", "probs"} <= set(json.loads(rows[0]))


def test_print_config_and_override():
    out = subprocess.run(
        [sys.executable, "-m", "lightning_bias", "fit", "--config", TINY, "--model.learning_rate=0.5", "--print_config"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    ).stdout
    assert "learning_rate: 0.5" in out and "synthetic_bios:" in out


def write_csv(path: Path, n: int = 120, **overrides) -> Path:
    bios = generate_bios(n, seed=1)
    frame = pd.DataFrame({
        "bio": bios.texts,
        "occupation": [bios.label_names[i] for i in bios.labels],
        "gender": [bios.group_names[g] for g in bios.groups],
    })
    for column, values in overrides.items():
        frame[column] = values
    frame.to_csv(path, index=False)
    return path


def file_args(tmp_path: Path, train: Path, extra: list[str] = ()) -> list[str]:
    return ["fit", "--config", TINY, "--trainer.max_epochs=1", f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--data.source=files", f"--data.files={{train: {train}}}", "--data.columns.text=bio",
            "--data.columns.label=occupation", "--data.columns.group=gender", *extra]


def test_fit_on_local_gzipped_csv(tmp_path, capsys):
    train = write_csv(tmp_path / "bios.csv")
    gz = tmp_path / "bios.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(train.read_bytes()))
    code, err = run_cli(file_args(tmp_path, gz), capsys)
    assert code == 0, err
    report = json.loads((only_version_dir(tmp_path / "run") / "bias_report.json").read_text())
    assert set(report["by_group"]) == {"female", "male"}


def test_fit_on_real_bias_in_bios_subset(tmp_path, capsys):
    path = shared_data("bias_in_bios_subset", "biosbias.csv")
    args = ["fit", "--config", TINY, "--trainer.max_epochs=1", f"--trainer.default_root_dir={tmp_path}",
            "--data.source=files", f"--data.files={{train: {path}}}", "--data.columns.label=title",
            "--data.columns.group=gender_name"]
    code, err = run_cli(args, capsys)
    assert code == 0, err
    report = json.loads((only_version_dir(tmp_path) / "bias_report.json").read_text())
    assert set(report["train_cooccurrence"]["p_group_given_label"]) == {
        "dentist", "nurse", "physician", "psychologist", "surgeon"}


# --- bad input: one clear message, exit code 2, nothing in the run dir destroyed ---------------


def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(Path(TINY).read_text() + "\nmodle:\n  learning_rate: 0.1\n")
    code, err = run_cli(["fit", "--config", str(config)], capsys)
    assert_clear_error(code, err, "modle")


def test_missing_data_file_keeps_run_dir(tmp_path, capsys):
    keep = tmp_path / "run" / "lightning_logs" / "version_0" / "bias_report.json"
    keep.parent.mkdir(parents=True)
    keep.write_text('{"split": "val"}')
    code, err = run_cli(file_args(tmp_path, tmp_path / "nope.csv"), capsys)
    assert_clear_error(code, err, "nope.csv", "does not exist")
    assert keep.read_text() == '{"split": "val"}'


@pytest.mark.parametrize("column", ["label", "group"])
def test_missing_column(tmp_path, capsys, column):
    train = write_csv(tmp_path / "bios.csv")
    code, err = run_cli(file_args(tmp_path, train, [f"--data.columns.{column}=nonexistent"]), capsys)
    assert_clear_error(code, err, "nonexistent", "bio", "data.columns." + column)


def test_labels_not_integers(tmp_path, capsys):
    train = write_csv(tmp_path / "bios.csv", n=60, occupation=[1.5] * 60)
    code, err = run_cli(file_args(tmp_path, train), capsys)
    assert_clear_error(code, err, "row 0", "'occupation'", "not an integer")


def test_labels_out_of_range(tmp_path, capsys):
    train = write_csv(tmp_path / "bios.csv", n=60, occupation=[0, 1, 7] * 20)
    code, err = run_cli(file_args(tmp_path, train, ["--data.label_names=[a, b, c]"]), capsys)
    assert_clear_error(code, err, "row 2", "out of range")


def test_split_with_no_rows(tmp_path, capsys):
    train = write_csv(tmp_path / "bios.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("bio,occupation,gender\n")
    args = file_args(tmp_path, train)
    args[args.index(f"--data.files={{train: {train}}}")] = f"--data.files={{train: {train}, test: {empty}}}"
    code, err = run_cli(args, capsys)
    assert_clear_error(code, err, "'test'", "no rows")


def test_group_missing_from_validation_is_reported(tmp_path, capsys):
    train = write_csv(tmp_path / "bios.csv")
    val = write_csv(tmp_path / "val.csv", n=60, gender=["male"] * 60)
    args = file_args(tmp_path, train)
    args[args.index(f"--data.files={{train: {train}}}")] = f"--data.files={{train: {train}, val: {val}}}"
    with pytest.warns(UserWarning, match="no rows for group"):
        code, err = run_cli(args, capsys)
    assert code == 0, err
    report = json.loads((only_version_dir(tmp_path / "run") / "bias_report.json").read_text())
    assert report["empty_groups"] == ["female"]
    assert report["by_group"]["female"]["n"] == 0


def test_model_path_does_not_exist(tmp_path, capsys):
    args = ["fit", "--config", TINY, "--model.model_config=null", f"--model.model={tmp_path / 'no_model'}",
            f"--trainer.default_root_dir={tmp_path}"]
    code, err = run_cli(args, capsys)
    assert_clear_error(code, err, "no_model", "does not exist")


def test_console_script_error_is_one_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lightning_bias", "fit", "--config", TINY, "--data.source=files",
         f"--data.files={{train: {tmp_path / 'missing.csv'}}}", f"--trainer.default_root_dir={tmp_path}"],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "missing.csv" in proc.stderr
