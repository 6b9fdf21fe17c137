"""Checksums written with every checkpoint and verified before restoring: corrupt bytes are one clear error."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from lightning_bias.training.checkpoint_checksums import (
    MANIFEST_NAME,
    CorruptCheckpointError,
    sidecar_of,
    verify_checkpoint,
    write_manifest,
)
from lightning_bias.training.checkpointing import AtomicCheckpointIO


def saved(path: Path, step: int = 1, age: int = 0) -> Path:
    """A checkpoint written through ``AtomicCheckpointIO`` (with its sidecar), ``age`` seconds in the past."""
    AtomicCheckpointIO().save_checkpoint({"step": step, "weights": torch.arange(1000.0)}, path)
    stamp = 1_000_000 - age
    os.utime(path, (stamp, stamp))
    return path


def flip_a_byte(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_sidecar_is_the_sha256_of_the_file_in_sha256sum_format(tmp_path):
    path = saved(tmp_path / "last.ckpt")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar_of(path).read_text() == f"{digest}  last.ckpt\n"
    verify_checkpoint(path)  # no error
    assert AtomicCheckpointIO().load_checkpoint(path)["step"] == 1


@pytest.mark.parametrize(
    "damage, reason",
    [
        (flip_a_byte, "its bytes do not match the SHA-256"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "its bytes do not match the SHA-256"),
        (lambda p: p.write_bytes(b""), "is empty"),
    ],
    ids=["bit-flip", "truncated", "empty"],
)
def test_a_damaged_checkpoint_is_refused_naming_the_last_good_one(tmp_path, damage, reason):
    good = saved(tmp_path / "epoch=0-step=5.ckpt", age=10)
    saved(tmp_path / "epoch=0-step=3.ckpt", age=20)
    last = saved(tmp_path / "last.ckpt", step=2)
    damage(last)
    with pytest.raises(CorruptCheckpointError, match=reason) as refused:
        AtomicCheckpointIO().load_checkpoint(last)
    message = str(refused.value)
    assert str(last) in message and f"last good checkpoint beside it is {good}: resume with --ckpt_path {good}" in message
    assert "\n" not in message


def test_a_damaged_checkpoint_without_a_good_sibling_says_to_start_anew(tmp_path):
    last = saved(tmp_path / "last.ckpt")
    flip_a_byte(last)
    with pytest.raises(CorruptCheckpointError, match="no other checkpoint .* verifies: start a new run"):
        verify_checkpoint(last)


def test_a_checkpoint_without_a_sidecar_loads_with_a_warning(tmp_path):
    path = tmp_path / "own.ckpt"
    torch.save({"step": 7}, path)
    with pytest.warns(UserWarning, match="has no checksum .*loading it unverified"):
        assert AtomicCheckpointIO().load_checkpoint(path)["step"] == 7


def test_an_empty_checkpoint_without_a_sidecar_is_refused(tmp_path):
    path = tmp_path / "own.ckpt"
    path.write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="is empty"):
        verify_checkpoint(path)


def test_overwriting_and_removing_a_checkpoint_keep_its_sidecar_in_step(tmp_path):
    io = AtomicCheckpointIO()
    path = saved(tmp_path / "last.ckpt", step=1)
    io.save_checkpoint({"step": 2}, path)
    verify_checkpoint(path)
    assert io.load_checkpoint(path)["step"] == 2
    io.remove_checkpoint(path)
    assert list(tmp_path.iterdir()) == []


def deepspeed_like_directory(path: Path) -> Path:
    """The files DeepSpeed writes for 2 ranks under ZeRO-2, with a manifest."""
    (path / "checkpoint").mkdir(parents=True)
    (path / "checkpoint" / "mp_rank_00_model_states.pt").write_bytes(os.urandom(4096))
    for rank in range(2):
        (path / "checkpoint" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_bytes(os.urandom(4096))
    (path / "latest").write_text("checkpoint")
    write_manifest(path)
    return path


def test_a_deepspeed_manifest_lists_every_shard_and_verifies(tmp_path):
    directory = deepspeed_like_directory(tmp_path / "last.ckpt")
    names = [line.split("  ")[1] for line in (directory / MANIFEST_NAME).read_text().splitlines()]
    assert names == [
        "checkpoint/mp_rank_00_model_states.pt",
        "checkpoint/zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "checkpoint/zero_pp_rank_1_mp_rank_00_optim_states.pt",
        "latest",
    ]
    verify_checkpoint(directory)


@pytest.mark.parametrize("damage, reason", [
    (flip_a_byte, "does not match the SHA-256"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (Path.unlink, "is missing"),
], ids=["bit-flip", "empty", "missing"])
def test_a_damaged_deepspeed_shard_is_refused_naming_it(tmp_path, damage, reason):
    good = deepspeed_like_directory(tmp_path / "epoch=0-step=4.ckpt")
    os.utime(good, (1, 1))
    directory = deepspeed_like_directory(tmp_path / "last.ckpt")
    shard = directory / "checkpoint" / "zero_pp_rank_1_mp_rank_00_optim_states.pt"
    damage(shard)
    with pytest.raises(CorruptCheckpointError, match=reason) as refused:
        verify_checkpoint(directory)
    assert str(shard) in str(refused.value) and f"is {good}" in str(refused.value)


def test_a_deepspeed_directory_without_a_manifest_loads_with_a_warning(tmp_path):
    directory = deepspeed_like_directory(tmp_path / "last.ckpt")
    (directory / MANIFEST_NAME).unlink()
    with pytest.warns(UserWarning, match="has no checksum"):
        verify_checkpoint(directory)


def test_a_linked_last_checkpoint_is_verified_against_its_targets_sidecar(tmp_path, recwarn):
    target = saved(tmp_path / "epoch=0-step=5.ckpt")
    (tmp_path / "last.ckpt").symlink_to(target.name)
    verify_checkpoint(tmp_path / "last.ckpt")
    assert not [w for w in recwarn if "no checksum" in str(w.message)]
    flip_a_byte(target)
    with pytest.raises(CorruptCheckpointError, match="its bytes do not match"):
        verify_checkpoint(tmp_path / "last.ckpt")
