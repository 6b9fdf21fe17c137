"""local_multinode.sh stops a frozen node: SIGTERM after the grace period, SIGKILL after --kill-after.

The nodes are stand-in shell scripts (PYTHON points at them), so no training runs: node 1 fails at once,
node 0 ignores SIGTERM the way a frozen process does.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT

LAUNCHER = REPO_ROOT / "launch" / "local_multinode.sh"
HANG_GUARD_S = 30  # far above grace + kill-after below: reaching it means the launcher hangs

# NODE_RANK 0 ignores SIGTERM (so does its `sleep`, which inherits the ignored signal) and says when it is;
# NODE_RANK 1 waits for that, then fails with code 3.
STAND_IN = """#!/usr/bin/env bash
if [[ "$NODE_RANK" == 1 ]]; then
  until [[ -e "$READY_FILE" ]]; do sleep 0.05; done
  echo "node one fails"
  exit 3
fi
trap '' TERM
echo $$ > "$READY_FILE.tmp" && mv "$READY_FILE.tmp" "$READY_FILE"
sleep 1000
"""


def stand_in_environment(tmp_path: Path) -> tuple[dict[str, str], Path]:
    python = tmp_path / "python"
    python.write_text(STAND_IN)
    python.chmod(0o755)
    ready = tmp_path / "node0.pid"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_"))}
    env.update(PYTHON=str(python), READY_FILE=str(ready))
    return env, ready


def launcher_command(*options: str) -> list[str]:
    return ["bash", str(LAUNCHER), "--nodes", "2", "--port", "29511", *options, "--", "fit"]


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.multiprocess
def test_a_node_that_ignores_sigterm_is_killed_and_the_failed_node_named(tmp_path):
    env, ready = stand_in_environment(tmp_path)
    proc = subprocess.run(launcher_command("--grace", "1", "--kill-after", "1"), cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == 3, proc.stderr
    assert "[node 1] node one fails" in proc.stdout
    assert "sending SIGTERM to node(s) 0" in proc.stderr
    assert "sending SIGKILL to node(s) 0" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "local_multinode: exit code 3: node 1 (rank 1) failed first"
    assert_gone(int(ready.read_text()))


@pytest.mark.multiprocess
def test_sigterm_to_the_launcher_stops_a_frozen_node_too(tmp_path):
    env, ready = stand_in_environment(tmp_path)
    launcher = subprocess.Popen(launcher_command("--grace", "600", "--kill-after", "1"), cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # node 1 fails once node 0 is ready; the long grace period leaves the launcher waiting on node 0
    while "exited with code 3" not in (line := launcher.stderr.readline()):
        assert line, "the launcher ended before node 1 failed"
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=HANG_GUARD_S)
    assert launcher.returncode == 3, stderr
    assert "interrupted by SIGTERM" in stderr and "sending SIGKILL to node(s) 0" in stderr
    assert "node 1 (rank 1) failed first" in stderr
    assert_gone(int(ready.read_text()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kill-after", "soon"], "--kill-after must be a whole number of seconds, got 'soon'"),
        (["--kill-after"], "--kill-after needs a value"),
    ],
)
def test_kill_after_must_be_whole_seconds(args, message):
    proc = subprocess.run(["bash", str(LAUNCHER), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_help_documents_the_bounded_shutdown():
    proc = subprocess.run(["bash", str(LAUNCHER), "--help"], capture_output=True, text=True, timeout=60)
    assert "--kill-after S" in proc.stdout and "SIGKILL" in proc.stdout
