"""Plain-line progress for log files: format and cadence on a tiny Trainer run, and when the CLI picks it."""

from __future__ import annotations

import re

import pytest
import pytorch_lightning as pl
from linear_regression import LinearRegression, random_loader
from pytorch_lightning.callbacks import RichProgressBar, TQDMProgressBar

from lightning_bias.training.progress import PlainProgress, with_progress

TRAIN_LINE = re.compile(
    r"^train: step (?P<step>\d+)/24 \(epoch (?P<epoch>\d)/2\), loss (?P<loss>[0-9.e+-]+), "
    r"(?P<rate>[0-9.]+) samples/s, ETA (?P<eta>\d+:\d\d:\d\d)$"
)
VALIDATION_LINE = re.compile(r"^validation: 2 batches in [0-9.]+ s, [0-9.]+ samples/s$")


def _fit(progress: PlainProgress, capsys) -> list[str]:
    """Two epochs of 12 batches of 4 (24 optimizer steps), each followed by 2 validation batches."""
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, callbacks=[progress], logger=False,
                         enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0)
    capsys.readouterr()  # what came before the run
    trainer.fit(LinearRegression(), random_loader(48), random_loader(8))
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith(("train:", "validation:"))]


def test_a_line_every_n_steps_and_at_each_epoch_end(capsys):
    lines = _fit(PlainProgress(every_n_steps=5, every_n_seconds=1e9), capsys)
    train = [TRAIN_LINE.match(line) for line in lines if line.startswith("train:")]
    assert all(train), lines
    assert [int(m["step"]) for m in train] == [5, 10, 12, 17, 22, 24]
    assert [int(m["epoch"]) for m in train] == [1, 1, 1, 2, 2, 2]
    assert all(float(m["rate"]) > 0 and float(m["loss"]) >= 0 for m in train)
    assert train[-1]["eta"] == "0:00:00"
    validation = [line for line in lines if line.startswith("validation:")]
    assert len(validation) == 2 and all(VALIDATION_LINE.match(line) for line in validation), lines
    # each epoch's last step is reported before the validation that follows it
    assert [line.split(":")[0] for line in lines] == ["train"] * 3 + ["validation"] + ["train"] * 3 + ["validation"]


def test_seconds_bound_the_wait_between_lines(capsys):
    # with no time allowed between lines every step gets one, however large every_n_steps is
    lines = _fit(PlainProgress(every_n_steps=1000, every_n_seconds=0), capsys)
    steps = [int(m["step"]) for m in map(TRAIN_LINE.match, lines) if m]
    assert steps == list(range(1, 25))


def test_a_disabled_progress_writes_nothing(capsys):
    progress = PlainProgress(every_n_steps=1)
    progress.disable()  # what Lightning does on every rank but global rank zero
    assert _fit(progress, capsys) == []


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"every_n_steps": 2.5}, {"every_n_seconds": -1}])
def test_bad_intervals_name_the_option(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PlainProgress(**kwargs)


def test_the_command_line_adds_plain_lines_or_a_rich_bar_only_where_nobody_chose():
    assert [type(c) for c in with_progress([], None, is_terminal=False)] == [PlainProgress]
    assert [type(c) for c in with_progress([], None, is_terminal=True)] == [RichProgressBar]  # a live rich bar
    assert with_progress([], False, is_terminal=False) == []  # the user turned progress off
    assert with_progress([], True, is_terminal=False) == []  # the user asked for Lightning's bar
    own = [TQDMProgressBar(refresh_rate=100)]
    assert with_progress(own, None, is_terminal=False) == own
