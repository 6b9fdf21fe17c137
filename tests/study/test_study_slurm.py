"""`study run --executor slurm` without a cluster: fake `sbatch`, `srun` and `sacct` on PATH run the submitted
job array's tasks on this machine, as SLURM would, and record what was submitted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT

from lightning_bias.study.executors import SlurmExecutor

FAKE_SBATCH = r"""#!/bin/bash
# fake sbatch: keep the script, then run its array tasks one after another in the background
script="$1"
id=$(( $(cat "$FAKE_SLURM/next_id" 2>/dev/null || echo 4241) + 1 )); echo "$id" > "$FAKE_SLURM/next_id"
cp "$script" "$FAKE_SLURM/job_$id.sh"
range=$(sed -n 's/^#SBATCH --array=\([0-9]*-[0-9]*\).*/\1/p' "$script")
(
  if [ -n "$range" ]; then
    for task in $(seq "${range%-*}" "${range#*-}"); do
      SLURM_JOB_ID="$id" SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$task" bash "$script"
      echo COMPLETED > "$FAKE_SLURM/state_${id}_$task"
    done
  else
    SLURM_JOB_ID="$id" bash "$script"; echo COMPLETED > "$FAKE_SLURM/state_$id"
  fi
) > "$FAKE_SLURM/job_$id.out" 2>&1 &
echo "Submitted batch job $id"
"""
FAKE_SRUN = r"""#!/bin/bash
# fake srun: one task on this node; drop srun's own options, run the command
while [ $# -gt 0 ]; do
  case "$1" in --output|--error) shift 2 ;; -*) shift ;; *) break ;; esac
done
export SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0 SLURM_NTASKS=1 SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=localhost
exec "$@"
"""
FAKE_SACCT = r"""#!/bin/bash
# fake sacct -o JobID,State,NodeList --parsable2 -j ID...: COMPLETED once the fake task recorded it
echo "JobID|State|NodeList"
for f in "$FAKE_SLURM"/state_*; do
  [ -e "$f" ] && echo "${f##*/state_}|$(cat "$f")|localhost"
done
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "slurm"
    record.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_SLURM=str(record), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", WANDB_MODE="offline", MPLBACKEND="Agg")
    return env, record


@pytest.mark.multiprocess
def test_slurm_executor_submits_a_capped_job_array_and_collects_its_cells(tmp_path, fake_slurm):
    env, record = fake_slurm
    config = tmp_path / "slurm_study.yaml"
    config.write_text(yaml.safe_dump({
        "name": "slurm_study", "base": ["configs/tiny.yaml"], "seeds": [0],
        "overrides": ["--data.synthetic_bios.num_examples=240", "--trainer.max_epochs=1",
                      "--trainer.limit_train_batches=2", "--trainer.enable_checkpointing=false"],
        "slurm": {"timeout_min": 30, "slurm_partition": "debug"},
        "axes": [{"name": "cooccurrence", "role": "cooccurrence", "values": [
            {"name": "balanced", "overrides": ["--data.synthetic_bios.female_rate=balanced"]},
            {"name": "stereotypical", "overrides": ["--data.synthetic_bios.female_rate=stereotypical"]}]}],
    }))
    study_dir = tmp_path / "study"
    proc = subprocess.run([sys.executable, "-m", "lightning_bias", "study", "run", "--config", str(config), "--dir",
                           str(study_dir), "--executor", "slurm", "--workers", "1"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(p.read_text() for p in record.glob("job_*.out"))
    scripts = sorted(record.glob("job_*.sh"))
    assert len(scripts) == 1  # both cells in one array
    directives = [line for line in scripts[0].read_text().splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --array=0-1%1" in directives  # --workers caps the array's parallelism
    assert "#SBATCH --partition=debug" in directives and "#SBATCH --time=30" in directives
    assert proc.stdout.count("(job 4242_") == 2
    results = pd.read_csv(study_dir / "results.csv")
    assert sorted(results.status) == ["done", "done"]
    assert results["gaps.tpr_gap_rms_corrected"].notna().all()
    states = [yaml.safe_load(p.read_text()) for p in Path(study_dir, "fit").glob("*/state.json")]
    assert sorted(s["job_id"] for s in states) == ["4242_0", "4242_1"]


def test_a_cell_left_running_by_a_live_slurm_job_is_not_submitted_again(tmp_path, fake_slurm, monkeypatch):
    env, record = fake_slurm
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("FAKE_SLURM", env["FAKE_SLURM"])
    (record / "state_77_0").write_text("RUNNING\n")
    (record / "state_78_0").write_text("CANCELLED\n")
    executor = SlurmExecutor(tmp_path / "slurm", {"timeout_min": 5})
    assert executor.still_running({"status": "running", "job_id": "77_0"})
    assert not executor.still_running({"status": "running", "job_id": "78_0"})
    assert not executor.still_running({"status": "running", "job_id": None})
