"""LengthGroupedSampler: batches of similar length, every row once per epoch, and exact mid-epoch resume."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import TensorDataset

from lightning_bias.data.resumable_loader import ResumableDataLoader, ResumableSampler
from lightning_bias.data.samplers import LengthGroupedSampler

LENGTHS = torch.randint(1, 200, (1000,), generator=torch.Generator().manual_seed(0)).tolist()


def _padded_tokens(order: list[int], batch_size: int) -> int:
    """Tokens after padding every batch of ``order`` to its longest row."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(max(LENGTHS[i] for i in batch) * len(batch) for batch in batches)


def test_one_rank_yields_every_row_once_in_batches_of_similar_length():
    sampler = LengthGroupedSampler(LENGTHS, batch_size=16, seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(len(LENGTHS))) and len(sampler) == len(LENGTHS)
    shuffled = torch.randperm(len(LENGTHS), generator=torch.Generator().manual_seed(3)).tolist()
    # padding waste: what dynamic padding adds to the real tokens
    real = sum(LENGTHS)
    assert _padded_tokens(order, 16) - real < 0.1 * (_padded_tokens(shuffled, 16) - real)
    sampler.set_epoch(1)
    assert list(sampler) != order


@pytest.mark.parametrize("num_replicas", [2, 3])
def test_ranks_yield_equal_counts_of_whole_batches_covering_every_row(num_replicas):
    shards = [list(LengthGroupedSampler(LENGTHS, 16, num_replicas=num_replicas, rank=r)) for r in range(num_replicas)]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) % 16 == 0
    assert set().union(*shards) == set(range(len(LENGTHS)))


def test_state_dict_resume_yields_exactly_the_rest_of_the_epoch_and_then_full_epochs():
    sampler = LengthGroupedSampler(LENGTHS, 16, seed=5)
    assert isinstance(sampler, ResumableSampler)
    loader = ResumableDataLoader(TensorDataset(torch.arange(len(LENGTHS))), batch_size=16, sampler=sampler)
    iterator = iter(loader)
    taken = [next(iterator)[0].tolist() for _ in range(7)]
    state = loader.state_dict()
    assert state == {"epoch": 0, "num_yielded": 7 * 16, "seed": 5}
    resumed = ResumableDataLoader(TensorDataset(torch.arange(len(LENGTHS))), batch_size=16,
                                  sampler=LengthGroupedSampler(LENGTHS, 16, seed=5))
    resumed.load_state_dict(state)
    rest = [i for batch in resumed for i in batch[0].tolist()]
    assert [i for batch in taken for i in batch] + rest == sampler.epoch_order(0).tolist()
    resumed.sampler.set_epoch(1)
    assert [i for batch in resumed for i in batch[0].tolist()] == sampler.epoch_order(1).tolist()


def test_bad_input_and_mismatched_state_are_one_clear_error():
    with pytest.raises(ValueError, match="lengths is empty"):
        LengthGroupedSampler([], 4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        LengthGroupedSampler(LENGTHS, 0)
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 1\]"):
        LengthGroupedSampler(LENGTHS, 4, num_replicas=2, rank=2)
    sampler = LengthGroupedSampler(LENGTHS, 4, seed=1)
    with pytest.raises(ValueError, match="saved with seed=2 but this sampler has seed=1"):
        sampler.load_state_dict({"epoch": 0, "num_yielded": 4, "seed": 2})
    with pytest.raises(ValueError, match="num_yielded=5000, outside"):
        sampler.load_state_dict({"epoch": 0, "num_yielded": 5000, "seed": 1})


class _Stop(Exception):
    pass


class _IndexRecorder(pl.LightningModule):
    """A linear model over row indices that records the index of every trained row."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.seen: list[int] = []

    def training_step(self, batch, batch_idx):
        (indices,) = batch
        self.seen.extend(indices.tolist())
        return self.layer(indices[:, None].float()).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-6)

    def train_dataloader(self):
        lengths = LENGTHS[:40]
        return ResumableDataLoader(TensorDataset(torch.arange(40)), batch_size=4,
                                   sampler=LengthGroupedSampler(lengths, 4, seed=9))


class _StopAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise _Stop


def _fit(checkpoints: Path | None = None, stop_at: int | None = None, ckpt_path: Path | None = None) -> list[int]:
    module = _IndexRecorder()
    callbacks = [] if checkpoints is None else [
        pl.callbacks.ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=stop_at, save_last=True), _StopAt(stop_at)]
    trainer = pl.Trainer(max_epochs=2, callbacks=callbacks, logger=False, enable_checkpointing=checkpoints is not None,
                         enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                         accelerator="cpu", devices=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            trainer.fit(module, ckpt_path=ckpt_path)
        except _Stop:
            pass
    return module.seen


def test_lightning_resume_mid_epoch_continues_the_identical_length_grouped_order(tmp_path):
    uninterrupted = _fit()
    interrupted = _fit(tmp_path, stop_at=13)
    assert len(interrupted) == 13 * 4
    assert interrupted + _fit(ckpt_path=tmp_path / "last.ckpt") == uninterrupted
