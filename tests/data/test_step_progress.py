"""Progress of long data steps: nothing unless the command line asks, plain lines in a log, a live bar in a terminal,
rank zero only; and a tokenizing data module reports through it."""

from __future__ import annotations

import io
import re

import pytest
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from lightning_bias.data import step_progress
from lightning_bias.data.step_progress import advance_data_step, data_step, show_data_step_progress

PROGRESS_LINE = re.compile(r"^tokenizing train: (\d+)/10 rows \(\d+%\), [\d,]+ rows/s, ETA \d+:\d\d:\d\d$")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _display_off_afterwards():
    yield
    show_data_step_progress(None)


def _run_step(rows: int = 10, batch: int = 4) -> None:
    with data_step("tokenizing train", rows):
        for start in range(0, rows, batch):
            advance_data_step(min(batch, rows - start))


def test_a_library_process_shows_nothing(capsys):
    _run_step()
    assert capsys.readouterr().err == ""


def test_plain_lines_at_the_cadence_and_a_closing_line():
    stream = io.StringIO()
    show_data_step_progress("lines", every_n_seconds=0, stream=stream)
    _run_step()
    lines = stream.getvalue().splitlines()
    assert [int(PROGRESS_LINE.match(line)[1]) for line in lines[:-1]] == [4, 8, 10]
    assert re.fullmatch(r"tokenizing train: 10 rows in [0-9.]+ s", lines[-1])


def test_a_short_step_adds_nothing_to_a_log():
    stream = io.StringIO()
    show_data_step_progress("lines", every_n_seconds=60, stream=stream)
    _run_step()
    assert stream.getvalue() == ""


def test_other_ranks_show_nothing(monkeypatch):
    stream = io.StringIO()
    show_data_step_progress("lines", every_n_seconds=0, stream=stream)
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    _run_step()
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_live_bar_that_counts_the_rows():
    terminal = _Terminal()
    show_data_step_progress("live", stream=terminal)
    with data_step("counterfactual augmentation (two_sided)", 10):
        advance_data_step(6)
        bar = step_progress._active[-1].bar
        assert bar.tasks[0].completed == 6 and bar.tasks[0].total == 10
    assert not bar.live.is_started  # removed when the step ends
    assert "counterfactual augmentation (two_sided)" in terminal.getvalue()


def test_nested_steps_count_for_the_innermost():
    with data_step("outer", 5):
        with data_step("inner", 3):
            advance_data_step(3)
            assert [step.done for step in step_progress._active] == [0, 3]
        advance_data_step(2)
        assert step_progress._active[-1].done == 2
    assert step_progress._active == []


def test_a_bad_display_names_the_choices():
    with pytest.raises(ValueError, match="'live', 'lines' or None"):
        show_data_step_progress("bars")


def test_the_data_module_reports_its_tokenization(tmp_path):
    from lightning_bias.data.datamodule import BiasDataModule
    from lightning_bias.models.pretrained import load_tokenizer

    stream = io.StringIO()
    show_data_step_progress("lines", every_n_seconds=0, stream=stream)
    datamodule = BiasDataModule(synthetic_bios={"num_examples": 200, "seed": 3}, cache_dir=str(tmp_path))
    datamodule.connect(load_tokenizer("minilm"))
    datamodule.setup("fit")
    closing = [line for line in stream.getvalue().splitlines() if " rows in " in line]
    assert [line.split(":")[0] for line in closing] == [
        "tokenizing train", "tokenizing val", "tokenizing test"]  # predict: test's cached ids
    assert closing[0].startswith(f"tokenizing train: {len(datamodule.tables['train'])} rows in ")
