"""benchmarks/bench_train.py: its options, and its stdout contract (one JSON object, on the last line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_train  # noqa: E402


def test_runner_prints_go_to_stderr_so_no_stdout_line_but_the_result_starts_with_a_brace(capsys):
    def chatty_runner():
        print({"train_runtime": 1.0})  # what HF Trainer prints at the end of train()
        return bench_train.StepTimes(start=0.0, ends=[1.0, 2.0, 4.0])

    best = bench_train.best_of({"hf_trainer": chatty_runner}, repeats=2, warmup=1)
    captured = capsys.readouterr()
    assert best == {"hf_trainer": {"steady_s": 3.0, "warmup_s": 1.0, "steady_runs": [3.0, 3.0]}}
    assert captured.out == "" and "{'train_runtime': 1.0}" in captured.err


def test_defaults_run_tiny_and_minilm_and_quick_is_tiny_only():
    assert bench_train.parse_args([]).models == ["tiny", "minilm"]
    quick = bench_train.parse_args(["--quick"])
    assert (quick.models, quick.steps, quick.repeats) == (["tiny"], 24, 1)
    with pytest.raises(SystemExit) as exit_info:
        bench_train.parse_args(["--variants", "plain,fp8"])
    assert exit_info.value.code == 2


@pytest.mark.slow  # three short trainings: 15-60 s on a 2-core CPU
def test_a_quick_run_ends_with_its_json_and_no_other_line_starts_with_a_brace():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_train.py"), "--quick", "--steps", "6", "--warmup", "2", "--threads", "1"],
        capture_output=True, text=True, env=env, check=True, timeout=600,
    ).stdout.splitlines()
    result = json.loads(out[-1])
    assert [line for line in out[:-1] if line.startswith("{")] == []
    ratios = result["results"]["tiny/plain"]
    assert set(ratios["samples_per_s"]) == {"loop", "hf_trainer", "ours"} and ratios["ours_vs_loop"] > 0
    assert len(ratios["paired"]["ours_vs_hf_trainer"]["runs"]) == 1  # one repeat: no interval
    assert "ci95" not in ratios["paired"]["ours_vs_hf_trainer"]


def test_the_paired_ratio_is_repeat_by_repeat_with_a_t_interval():
    best = {"loop": {"steady_runs": [1.0, 1.1, 0.9]}, "ours": {"steady_runs": [1.0, 1.0, 1.0]}}
    paired = bench_train.paired_ratio(best, "loop")
    assert paired["runs"] == [1.0, 1.1, 0.9] and paired["mean"] == 1.0
    half = 4.303 * 0.1 / 3 ** 0.5  # t(0.975, 2) x sd / sqrt(n)
    assert paired["ci95"] == [round(1 - half, 3), round(1 + half, 3)]
