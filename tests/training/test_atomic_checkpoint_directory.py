"""DeepSpeed checkpoint directories are switched atomically: unit checks of the switch, and a kill loop
under 2-process ZeRO-2 (``deepspeed_kill_loop.py``, a few kills here; the 20-kill figure is in
docs/RELIABILITY.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lightning_bias.training.atomic_checkpoint_directory import (
    publish,
    remove_checkpoint_directory,
    remove_leftovers,
    staging_directory,
)


def write_checkpoint(directory: Path, step: int) -> None:
    (directory / "checkpoint").mkdir(parents=True)
    (directory / "checkpoint" / "shard.pt").write_text(f"step {step}")
    (directory / "latest").write_text("checkpoint")


def step_of(target: Path) -> str:
    return (target / "checkpoint" / "shard.pt").read_text()


def test_publish_switches_the_target_to_the_new_directory_and_removes_the_old(tmp_path):
    target = tmp_path / "last.ckpt"
    first = staging_directory(target, "a1")
    write_checkpoint(first, 1)
    publish(first, target)
    assert target.is_symlink() and os.readlink(target) == first.name  # relative: the run dir can move
    assert step_of(target) == "step 1"
    second = staging_directory(target, "b2")
    write_checkpoint(second, 2)
    publish(second, target)
    assert step_of(target) == "step 2"
    assert not first.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, second.name])


def test_a_directory_saved_in_place_by_an_earlier_version_is_replaced(tmp_path):
    target = tmp_path / "last.ckpt"
    write_checkpoint(target, 1)
    new = staging_directory(target, "c3")
    write_checkpoint(new, 2)
    publish(new, target)
    assert target.is_symlink() and step_of(target) == "step 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, new.name])


def test_a_kill_before_the_switch_leaves_the_previous_checkpoint_and_the_next_save_clears_the_leftovers(tmp_path):
    target = tmp_path / "last.ckpt"
    good = staging_directory(target, "a1")
    write_checkpoint(good, 1)
    publish(good, target)
    half_written = staging_directory(target, "b2")  # a save killed before its switch
    (half_written / "checkpoint").mkdir(parents=True)
    spare_link = tmp_path / f".{target.name}.link-b2"
    spare_link.symlink_to(half_written.name)
    other = tmp_path / "epoch=0-step=3.ckpt.sha256"  # not this target's: kept
    other.write_text("x")
    assert step_of(target) == "step 1"
    under_way = staging_directory(target, "d4")  # another rank already writes the next save here
    under_way.mkdir()
    remove_leftovers(target, keep=under_way)
    assert not half_written.exists() and not spare_link.is_symlink()
    assert good.exists() and under_way.exists() and other.exists()
    assert step_of(target) == "step 1"


def test_removing_a_checkpoint_removes_the_link_and_its_directory(tmp_path):
    target = tmp_path / "epoch=0-step=3.ckpt"
    staged = staging_directory(target, "a1")
    write_checkpoint(staged, 3)
    publish(staged, target)
    remove_checkpoint_directory(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.multiprocess
def test_every_kill_under_zero2_leaves_a_loadable_last_checkpoint_whose_shards_agree(tmp_path):
    from deepspeed_kill_loop import kill_loop

    result = kill_loop(kills=2, workdir=tmp_path / "run", seed=1)
    log = (tmp_path / "run" / "runs.log").read_text()
    assert not result.problems, result.problems
    assert len(result.steps) == 2 and result.steps[1] > result.steps[0] > 0, (result.steps, log[-3000:])
    assert result.final_run_ok, log[-3000:]
