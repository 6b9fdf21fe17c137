"""Tests for DistributedWeightedSampler, UnpaddedDistributedSampler and exact resume under Lightning."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_bias.data.resumable_loader import ResumableDataLoader
from lightning_bias.data.samplers import DistributedWeightedSampler, UnpaddedDistributedSampler


def _shards(weights, num_replicas: int, **kwargs) -> list[list[int]]:
    return [
        list(DistributedWeightedSampler(weights, num_replicas=num_replicas, rank=rank, **kwargs))
        for rank in range(num_replicas)
    ]


def _chi_square(observed: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


# ---------------------------------------------------------------- DistributedWeightedSampler


def test_same_seed_and_epoch_give_same_draw_and_set_epoch_changes_it():
    weights = torch.rand(50) + 0.1
    first = DistributedWeightedSampler(weights, seed=7)
    second = DistributedWeightedSampler(weights, seed=7)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    second.set_epoch(1)
    epoch1 = list(first)
    assert epoch1 == list(second)
    assert epoch1 != epoch0
    first.set_epoch(0)
    assert list(first) == epoch0
    assert list(DistributedWeightedSampler(weights, seed=8)) != epoch0


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize(("num_samples", "num_replicas"), [(30, 1), (30, 3), (31, 4), (7, 8), (1, 2)])
def test_shards_are_disjoint_equal_length_and_cover_the_global_draw(num_samples, num_replicas, replacement):
    weights = torch.arange(1, 41, dtype=torch.float)
    shards = _shards(weights, num_replicas, num_samples=num_samples, replacement=replacement, seed=3)
    expected_length = math.ceil(num_samples / num_replicas)
    assert [len(shard) for shard in shards] == [expected_length] * num_replicas
    sampler = DistributedWeightedSampler(weights, num_samples, num_replicas, 0, replacement, seed=3)
    assert len(sampler) == expected_length
    draw = sampler.global_draw().tolist()
    assert len(draw) == expected_length * num_replicas
    # interleave the shards back: position p of the draw belongs to rank p % num_replicas
    rebuilt = [shards[p % num_replicas][p // num_replicas] for p in range(len(draw))]
    assert rebuilt == draw
    if not replacement:
        assert len(set(draw)) == len(draw), "without replacement no index may repeat across ranks"


def test_zero_weights_are_never_drawn():
    weights = torch.tensor([0.0, 1.0, 0.0, 3.0, 0.0, 0.5, 0.0])
    for replacement, num_samples in ((True, 5000), (False, 3)):
        for epoch in range(20):
            sampler = DistributedWeightedSampler(
                weights, num_samples=num_samples, replacement=replacement, seed=epoch
            )
            drawn = set(sampler.global_draw().tolist())
            assert drawn <= {1, 3, 5}


def test_with_replacement_frequencies_match_weights():
    weights = torch.tensor([1.0, 2.0, 0.0, 4.0, 8.0, 5.0])
    num_samples = 40_000
    draw = DistributedWeightedSampler(weights, num_samples=num_samples, seed=11).global_draw()
    observed = torch.bincount(draw, minlength=len(weights)).double()
    assert observed[2] == 0
    positive = weights > 0
    expected = weights[positive].double() / weights.sum() * num_samples
    # 4 degrees of freedom: the 99.9% quantile of chi-square is 18.47
    assert _chi_square(observed[positive], expected) < 18.47


def test_without_replacement_first_pick_follows_weights():
    # P(first pick = i) = w_i / sum(w) for a weighted draw without replacement.
    weights = torch.tensor([1.0, 3.0, 6.0, 0.0])
    trials = 6000
    first_picks = [
        int(
            DistributedWeightedSampler(weights, num_samples=2, replacement=False, seed=0).global_draw(epoch)[
                0
            ]
        )
        for epoch in range(trials)
    ]
    observed = torch.bincount(torch.tensor(first_picks), minlength=4).double()
    assert observed[3] == 0
    expected = weights[:3].double() / weights.sum() * trials
    assert _chi_square(observed[:3], expected) < 13.82  # 2 dof, 99.9%


def test_without_replacement_needs_enough_nonzero_weights():
    weights = [1.0, 0.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="only 3 weights are non-zero"):
        DistributedWeightedSampler(weights, num_samples=4, replacement=False)
    # 3 samples on 2 ranks round up to 4 > 3 non-zero weights
    with pytest.raises(ValueError, match="rounded up to a multiple of num_replicas=2"):
        DistributedWeightedSampler(weights, num_samples=3, num_replicas=2, replacement=False)
    assert len(DistributedWeightedSampler(weights, num_samples=3, replacement=False)) == 3


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, float("nan"), 2.0], r"weights\[1\] = nan is not finite"),
        ([1.0, 2.0, float("inf")], r"weights\[2\] = inf is not finite"),
        ([1.0, 2.0, -0.5, 1.0], r"weights\[2\] = -0.5 is negative"),
        ([0.0, 0.0], "all 2 weights are zero"),
        ([[1.0, 2.0]], r"must be 1-D .* shape \(1, 2\)"),
        ([], "weights is empty"),
    ],
)
def test_bad_weights_raise_value_error_naming_the_index(weights, message):
    with pytest.raises(ValueError, match=message):
        DistributedWeightedSampler(weights)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_replicas": 0}, "num_replicas must be a positive integer"),
        ({"num_replicas": 2, "rank": 2}, r"rank must be an integer in \[0, 1\]"),
        ({"num_samples": 0}, "num_samples must be a positive integer"),
    ],
)
def test_bad_configuration_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistributedWeightedSampler([1.0, 2.0], **kwargs)


@pytest.mark.parametrize("stop_after", [0, 1, 5, 9, 10])
def test_state_dict_resume_yields_exactly_the_rest_of_the_epoch(stop_after):
    weights = torch.rand(37) + 0.01
    reference = DistributedWeightedSampler(weights, num_replicas=3, rank=1, seed=5)
    reference.set_epoch(4)
    full_epoch = list(reference)
    assert len(full_epoch) == 13

    interrupted = DistributedWeightedSampler(weights, num_replicas=3, rank=1, seed=5)
    interrupted.set_epoch(4)
    iterator = iter(interrupted)
    seen = [next(iterator) for _ in range(stop_after)]
    state = interrupted.state_dict()
    assert state == {"epoch": 4, "num_yielded": stop_after, "seed": 5}

    resumed = DistributedWeightedSampler(weights, num_replicas=3, rank=1, seed=5)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)  # Lightning calls set_epoch with the same epoch again: must keep the position
    assert seen + list(resumed) == full_epoch
    # afterwards the sampler is back to full epochs
    resumed.set_epoch(5)
    reference.set_epoch(5)
    assert list(resumed) == list(reference)
    resumed.set_epoch(5)
    assert len(list(resumed)) == 13


def test_load_state_dict_then_new_epoch_drops_the_resume_position():
    weights = torch.ones(10)
    sampler = DistributedWeightedSampler(weights, seed=1)
    sampler.load_state_dict({"epoch": 2, "num_yielded": 6, "seed": 1})
    sampler.set_epoch(3)
    assert list(sampler) == sampler.global_draw(3).tolist()


def test_load_state_dict_rejects_mismatched_state():
    sampler = DistributedWeightedSampler(torch.ones(10), seed=1)
    with pytest.raises(ValueError, match="saved with seed=2 but this sampler has seed=1"):
        sampler.load_state_dict({"epoch": 0, "num_yielded": 0, "seed": 2})
    with pytest.raises(ValueError, match=r"num_yielded=11, outside \[0, 10\]"):
        sampler.load_state_dict({"epoch": 0, "num_yielded": 11, "seed": 1})
    with pytest.raises(ValueError, match=r"missing keys \['num_yielded'\]"):
        sampler.load_state_dict({"epoch": 0, "seed": 1})


def test_large_weight_vectors_beyond_multinomial_limit():
    # torch.multinomial refuses more than 2**24 categories; the sampler must not.
    weights = torch.zeros(2**24 + 10)
    weights[-3:] = torch.tensor([1.0, 0.0, 2.0])
    draw = DistributedWeightedSampler(weights, num_samples=1000, seed=0).global_draw()
    assert set(draw.tolist()) <= {2**24 + 7, 2**24 + 9}


# ---------------------------------------------------------------- UnpaddedDistributedSampler


@pytest.mark.parametrize("dataset_len", [0, 1, 2, 5, 16, 17, 101])
@pytest.mark.parametrize("num_replicas", [1, 2, 3, 4, 7, 8])
def test_unpadded_shards_partition_the_dataset(dataset_len, num_replicas):
    shards = [
        list(UnpaddedDistributedSampler(dataset_len, num_replicas, rank)) for rank in range(num_replicas)
    ]
    flat = [index for shard in shards for index in shard]
    assert sorted(flat) == list(range(dataset_len))
    assert len(flat) == len(set(flat))
    lengths = [
        len(UnpaddedDistributedSampler(dataset_len, num_replicas, rank)) for rank in range(num_replicas)
    ]
    assert lengths == [len(shard) for shard in shards]
    assert max(lengths) - min(lengths) <= 1


def test_unpadded_sampler_validates_arguments():
    with pytest.raises(ValueError, match="dataset_len must be a non-negative integer"):
        UnpaddedDistributedSampler(-1, 2, 0)
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 1\]"):
        UnpaddedDistributedSampler(10, 2, 5)


# ---------------------------------------------------------------- ResumableDataLoader + Lightning


def test_resumable_loader_requires_a_resumable_sampler_and_batch_size():
    dataset = TensorDataset(torch.arange(8))
    with pytest.raises(ValueError, match="needs a resumable sampler"):
        ResumableDataLoader(dataset, batch_size=2)
    sampler = DistributedWeightedSampler(torch.ones(8))
    with pytest.raises(ValueError, match="pass batch_size"):
        ResumableDataLoader(dataset, batch_size=None, sampler=sampler)


def test_resumable_loader_explains_lightnings_ddp_sampler_wrapping():
    # With use_distributed_sampler=True, Lightning re-creates the loader around a DistributedSamplerWrapper.
    from lightning_fabric.utilities.distributed import DistributedSamplerWrapper
    from pytorch_lightning.utilities.data import _update_dataloader

    sampler = DistributedWeightedSampler(torch.ones(8))
    loader = ResumableDataLoader(TensorDataset(torch.arange(8)), batch_size=2, sampler=sampler)
    with pytest.raises(ValueError, match="use_distributed_sampler=False"):
        _update_dataloader(loader, DistributedSamplerWrapper(sampler, num_replicas=2, rank=0))


def test_resumable_loader_state_counts_consumed_batches_not_prefetched_indices():
    dataset = TensorDataset(torch.arange(20))
    sampler = DistributedWeightedSampler(torch.ones(20), seed=2)
    loader = ResumableDataLoader(dataset, batch_size=3, sampler=sampler, num_workers=2, prefetch_factor=2)
    iterator = iter(loader)
    taken = [next(iterator)[0].tolist() for _ in range(2)]
    assert loader.state_dict() == {"epoch": 0, "num_yielded": 6, "seed": 2}
    assert sampler.state_dict()["num_yielded"] > 6  # the workers pulled indices ahead
    del iterator

    resumed_sampler = DistributedWeightedSampler(torch.ones(20), seed=2)
    resumed = ResumableDataLoader(dataset, batch_size=3, sampler=resumed_sampler)
    resumed.load_state_dict(loader.state_dict())
    rest = [batch[0].tolist() for batch in resumed]
    flat = [i for batch in taken + rest for i in batch]
    assert flat == sampler.global_draw(0).tolist()
    assert resumed.state_dict() == {"epoch": 0, "num_yielded": 20, "seed": 2}
    # a state taken at the end of an epoch resumes at the start of the next one
    fresh = ResumableDataLoader(
        dataset, batch_size=3, sampler=DistributedWeightedSampler(torch.ones(20), seed=2)
    )
    fresh.load_state_dict(resumed.state_dict())
    assert [i for batch in fresh for i in batch[0].tolist()] == sampler.global_draw(1).tolist()


_NUM_EXAMPLES = 40
_BATCH_SIZE = 4  # 10 batches per epoch


class _StopTraining(Exception):
    pass


class _IndexRecordingModule(pl.LightningModule):
    """A linear model on a TensorDataset that records (epoch, index) of every trained example."""

    def __init__(self, num_workers: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.num_workers = num_workers
        self.seen: list[tuple[int, int]] = []

    def training_step(self, batch, batch_idx):
        features, indices = batch
        self.seen.extend((self.current_epoch, int(i)) for i in indices)
        return self.layer(features).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        generator = torch.Generator().manual_seed(0)
        dataset = TensorDataset(
            torch.randn(_NUM_EXAMPLES, 2, generator=generator), torch.arange(_NUM_EXAMPLES)
        )
        sampler = DistributedWeightedSampler(torch.arange(1, _NUM_EXAMPLES + 1).float(), seed=13)
        return ResumableDataLoader(
            dataset,
            batch_size=_BATCH_SIZE,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


class _StopBeforeStep(pl.Callback):
    """Simulates a crash: raises when the batch after optimizer step ``step`` is about to be trained."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise _StopTraining


def _fit(
    num_workers: int, checkpoint_dir: Path | None = None, stop_at_step: int | None = None, ckpt_path=None
):
    module = _IndexRecordingModule(num_workers)
    callbacks = []
    if checkpoint_dir is not None:
        callbacks.append(
            pl.callbacks.ModelCheckpoint(
                dirpath=checkpoint_dir, every_n_train_steps=stop_at_step, save_last=True
            )
        )
        callbacks.append(_StopBeforeStep(stop_at_step))
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=checkpoint_dir is not None,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        accelerator="cpu",
        devices=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            trainer.fit(module, ckpt_path=ckpt_path)
        except _StopTraining:
            pass
    return module.seen


@pytest.mark.parametrize(
    ("num_workers", "stop_at_step"),
    [(0, 13), (0, 10), (2, 13)],
    ids=["mid-epoch", "epoch-boundary", "mid-epoch-with-workers"],
)
def test_lightning_resume_continues_the_identical_index_sequence(tmp_path, num_workers, stop_at_step):
    uninterrupted = _fit(num_workers)
    assert len(uninterrupted) == 2 * _NUM_EXAMPLES

    interrupted = _fit(num_workers, checkpoint_dir=tmp_path, stop_at_step=stop_at_step)
    assert len(interrupted) == stop_at_step * _BATCH_SIZE

    resumed = _fit(num_workers, ckpt_path=tmp_path / "last.ckpt")
    assert interrupted + resumed == uninterrupted


def test_plain_dataloader_would_not_resume_exactly(tmp_path, monkeypatch):
    """Guards the test above: with a plain DataLoader Lightning restarts the epoch's draw from scratch."""

    def plain_loader(self):
        dataset = TensorDataset(torch.randn(_NUM_EXAMPLES, 2), torch.arange(_NUM_EXAMPLES))
        sampler = DistributedWeightedSampler(torch.arange(1, _NUM_EXAMPLES + 1).float(), seed=13)
        return DataLoader(dataset, batch_size=_BATCH_SIZE, sampler=sampler)

    monkeypatch.setattr(_IndexRecordingModule, "train_dataloader", plain_loader)
    uninterrupted = _fit(0)
    interrupted = _fit(0, checkpoint_dir=tmp_path, stop_at_step=13)
    resumed = _fit(0, ckpt_path=tmp_path / "last.ckpt")
    assert interrupted + resumed != uninterrupted
