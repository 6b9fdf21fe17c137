"""The bad inputs of issue 12 that reached a traceback: each is one message naming the option, exit code 2.

A table as in ``test_bad_input.py``: a command line (built in a temporary directory), the words its message
must contain. ``-5`` and ``-1`` after a space are values (``commands.config_errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO_ROOT, one_error_line, run_cli

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
WATCHDOG = "lightning_bias.training.rank_watchdog.RankWatchdog"


def fit(tmp_path: Path, *overrides: str) -> list[str]:
    return ["fit", "--config", TINY, f"--trainer.default_root_dir={tmp_path / 'run'}", "--trainer.max_epochs=1",
            *overrides]


def fit_on_one_group(tmp_path: Path) -> list[str]:
    """Bios of two occupations, all of one gender."""
    path = tmp_path / "one_group.csv"
    rows = "".join(f"She is a nurse number {i}.,nurse,female\nShe is a surgeon number {i}.,surgeon,female\n"
                   for i in range(30))
    path.write_text("bio,occupation,gender\n" + rows)
    return fit(tmp_path, "--data.source=files", f"--data.files={{train: {path}}}", "--data.columns.text=bio",
               "--data.columns.label=occupation", "--data.columns.group=gender")


# (id, command line for tmp_path, words the one message must contain)
CASES: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...]]] = [
    ("negative_max_epochs", lambda t: fit(t, "--trainer.max_epochs", "-5"), ("trainer", "max_epochs", "-5")),
    ("no_synthetic_examples", lambda t: fit(t, "--data.synthetic_bios.num_examples", "0"),
     ("data.synthetic_bios.num_examples", ">= 1")),
    ("one_group", fit_on_one_group, ("data", "group", "1 group", "data.columns.group")),
    ("negative_watchdog_interval",
     lambda t: fit(t, f"--trainer.callbacks+={WATCHDOG}", "--trainer.callbacks.interval", "-1"),
     ("RankWatchdog", "interval", "-1")),
    ("watchdog_dead_after_too_short",
     lambda t: fit(t, f"--trainer.callbacks+={WATCHDOG}", "--trainer.callbacks.interval=5",
                   "--trainer.callbacks.dead_after=6"),
     ("RankWatchdog", "dead_after", "6")),
]


@pytest.mark.parametrize(("command", "needles"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_option(tmp_path, capsys, command, needles):
    lines, first = one_error_line(*run_cli(command(tmp_path), capsys))
    for needle in needles:
        assert needle in lines[first], lines[first]


def test_an_error_not_wrapped_by_jsonargparse_is_kept_whole():
    from lightning_bias.commands.config_errors import constructor_error

    try:
        try:
            raise ValueError("the reason")
        except ValueError as reason:
            raise ValueError("our own message, which already says it all") from reason
    except ValueError as error:
        assert constructor_error(error) is error
    plain = ValueError("no cause")
    assert constructor_error(plain) is plain
