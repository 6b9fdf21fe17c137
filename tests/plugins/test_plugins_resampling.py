"""The resampling plugin's epoch draws on hand-built tables: exact cell counts, redraws, disjoint shards."""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np
import pytest
from lightning_bias_plugins.downstream.resampling import Resampling, StratifiedEpochSampler, cell_targets

from lightning_bias.data.samplers import DistributedWeightedSampler

# label 0: 30 rows of group 0, 10 of group 1; label 1: 6 of group 0, 18 of group 1; label 2: 5 of group 0 only
LABELS = [0] * 40 + [1] * 24 + [2] * 5
GROUPS = [0] * 30 + [1] * 10 + [0] * 6 + [1] * 18 + [0] * 5


def table() -> datasets.Dataset:
    rng = np.random.default_rng(3)
    order = rng.permutation(len(LABELS))  # cells interleaved, as in real data
    return datasets.Dataset.from_dict({"text": [f"row {i}" for i in order], "label": [LABELS[i] for i in order],
                                       "group": [GROUPS[i] for i in order]})


def cell_counts(data: datasets.Dataset, indices: list[int]) -> Counter:
    labels, groups = np.asarray(data["label"]), np.asarray(data["group"])
    return Counter((int(labels[i]), int(groups[i])) for i in indices)


def test_cell_targets():
    counts = np.array([[30, 10], [6, 18], [5, 0]])
    np.testing.assert_array_equal(cell_targets(counts, "undersample"), [[10, 10], [6, 6], [5, 0]])
    np.testing.assert_array_equal(cell_targets(counts, "oversample"), [[30, 30], [18, 18], [5, 0]])


def test_undersample_draws_exact_counts_without_repeats_and_redraws_each_epoch():
    data = table()
    sampler = Resampling("undersample").sampler(data, num_replicas=1, rank=0, seed=7)
    assert isinstance(sampler, DistributedWeightedSampler)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler) == 10 + 10 + 6 + 6 + 5
        assert len(set(indices)) == len(indices)  # no row twice in an epoch
        assert cell_counts(data, indices) == {(0, 0): 10, (0, 1): 10, (1, 0): 6, (1, 1): 6, (2, 0): 5}
        epochs.append(indices)
    assert epochs[0] != epochs[1] != epochs[2]
    # the minority cells are kept whole, the majority cells are subsampled differently each epoch
    assert set(epochs[0]) != set(epochs[1])
    sampler.set_epoch(1)
    assert list(sampler) == epochs[1]  # deterministic per (seed, epoch)


def test_oversample_repeats_rows_evenly():
    data = table()
    sampler = Resampling("oversample").sampler(data, num_replicas=1, rank=0, seed=0)
    indices = list(sampler)
    assert cell_counts(data, indices) == {(0, 0): 30, (0, 1): 30, (1, 0): 18, (1, 1): 18, (2, 0): 5}
    times = Counter(indices)
    labels, groups = np.asarray(data["label"]), np.asarray(data["group"])
    for (y, g), size, target in [((0, 1), 10, 30), ((1, 0), 6, 18), ((0, 0), 30, 30)]:
        rows = np.flatnonzero((labels == y) & (groups == g))
        assert {times[int(r)] for r in rows} == {target // size}  # whole copies: every row equally often
    # the expected appearances per row are the sampler's weights
    np.testing.assert_allclose(sampler.weights.sum().item(), len(indices))


def test_oversample_remainder_rows_are_distinct():
    data = datasets.Dataset.from_dict({"text": ["t"] * 11, "label": [0] * 11, "group": [0] * 7 + [1] * 4})
    indices = list(Resampling("oversample").sampler(data, 1, 0, seed=1))
    times = Counter(indices)
    minority = [times[i] for i in range(7, 11)]
    assert sum(minority) == 7 and sorted(minority) == [1, 2, 2, 2]


@pytest.mark.parametrize("method", ["undersample", "oversample", "balanced"])
def test_ranks_get_disjoint_shards_of_one_global_draw(method):
    data = table()
    world = 3
    samplers = [Resampling(method).sampler(data, num_replicas=world, rank=r, seed=5) for r in range(world)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        assert len({len(shard) for shard in shards}) == 1  # equal step counts on every rank
        draw = samplers[0].global_draw().tolist()
        assert all(s.global_draw().tolist() == draw for s in samplers[1:])  # no communication needed
        positions = [list(range(r, len(draw), world)) for r in range(world)]
        assert shards == [[draw[p] for p in pos] for pos in positions]  # disjoint positions, union = draw
        assert sorted(p for pos in positions for p in pos) == list(range(len(draw)))


def test_undersample_padding_keeps_the_cell_counts_up_to_a_few_repeats():
    data = table()  # 37 rows per epoch; world 2 pads to 38
    shards = [list(Resampling("undersample").sampler(data, 2, r, seed=0)) for r in range(2)]
    seen = shards[0] + shards[1]
    assert len(seen) == 38 and len(set(seen)) == 37
    assert set(shards[0]).isdisjoint(shards[1]) or len(set(shards[0]) & set(shards[1])) == 1


def test_balanced_draw_is_independent_in_expectation():
    data = table()
    sampler = Resampling("balanced", num_samples=60_000).sampler(data, 1, 0, seed=0)
    counts = cell_counts(data, list(sampler))
    joint = np.zeros((3, 2))
    for (y, g), n in counts.items():
        joint[y, g] = n
    joint /= joint.sum()
    # Kamiran-Calders: P(y, g) = P(y) P(g) for the cells that exist
    n = len(LABELS)
    p_label = np.array([40, 24, 5]) / n
    p_group = np.array([41, 28]) / n
    expected = np.outer(p_label, p_group)
    expected[2, 1] = 0.0  # empty cell: never drawn
    assert joint[2, 1] == 0.0
    np.testing.assert_allclose(joint[:2], expected[:2], atol=0.01)


def test_balanced_num_samples_and_scheme():
    data = table()
    sampler = Resampling("balanced", scheme="inverse_label_group", num_samples=500).sampler(data, 2, 1, seed=0)
    assert len(sampler) == 250
    plugin = Resampling("balanced", scheme="inverse_label_group")
    plugin.sampler(data, 1, 0, seed=0)
    expected_per_cell = len(LABELS) / 5
    per_cell = [v for row in plugin.summary.values() for v in row.values()]
    assert per_cell == pytest.approx([expected_per_cell] * 5)


def test_stratified_sampler_resumes_mid_epoch():
    data = table()
    sampler = Resampling("undersample").sampler(data, 2, 1, seed=4)
    sampler.set_epoch(2)
    full = list(sampler)
    iterator = iter(sampler)
    consumed = [next(iterator) for _ in range(7)]
    state = sampler.state_dict()
    fresh = Resampling("undersample").sampler(data, 2, 1, seed=4)
    fresh.load_state_dict(state)
    assert consumed + list(fresh) == full


def test_summary_lists_rows_per_epoch():
    plugin = Resampling("undersample")
    plugin.sampler(table(), 1, 0, seed=0)
    assert plugin.summary == {"0": {"0": 10, "1": 10}, "1": {"0": 6, "1": 6}, "2": {"0": 5}}


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown method 'smote'"):
        Resampling("smote")
    with pytest.raises(ValueError, match="num_samples applies to method 'balanced' only"):
        Resampling("undersample", num_samples=10)
    with pytest.raises(ValueError, match="positive integer"):
        Resampling("balanced", num_samples=0)
    with pytest.raises(ValueError, match="unknown scheme"):
        Resampling("balanced", scheme="nope")
    with pytest.raises(ValueError, match="targets"):
        StratifiedEpochSampler([], [1], num_rows=3)
