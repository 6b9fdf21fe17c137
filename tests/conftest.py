"""Shared test settings: offline hubs, a per-session token cache, the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset {path} is absent (tests read ../shared/data beside the repo)")
    return path


TINY_MODEL_CONFIG = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """Run the ``lightning_bias`` entry point in-process; return (exit code, captured stderr)."""
    from lightning_bias.commands import main

    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, capsys.readouterr().err


ERROR = "lightning_bias: error: "
HINT = "(set LIGHTNING_BIAS_DEBUG=1"


def one_error_line(code: int, err: str) -> tuple[list[str], int]:
    """Assert a bad-input exit: code 2, no traceback or usage, one error line followed only by the debug hint.

    Returns stderr's lines and the index of the error line.
    """
    assert code == 2, err
    assert "Traceback" not in err and "usage:" not in err, err
    lines = err.rstrip("\n").splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith(ERROR)]
    assert len(errors) == 1, err
    assert all(line.startswith(HINT) for line in lines[errors[0] + 1 :]), err  # nothing after it but the hint
    return lines, errors[0]
