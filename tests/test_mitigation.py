"""MitigationPipeline: order, stage validation, transform chain, weight product, the single-sampler rule, loss chain."""

from __future__ import annotations

import copy
import pickle

import datasets
import numpy as np
import pytest
import torch

from lightning_bias.mitigation import Evaluation, Mitigation, MitigationPipeline


class AppendWord(Mitigation):
    """Appends a word to every text."""

    def __init__(self, word: str) -> None:
        self.word = word

    def transform(self, table, split):
        return table.map(lambda row: {"text": f"{row['text']} {self.word}"})


class Weights(Mitigation):
    """Fixed per-row weights."""

    def __init__(self, weights) -> None:
        self.weights = weights

    def sample_weights(self, table):
        return self.weights


class Sampler(Mitigation):
    """Supplies a sampler."""

    def sampler(self, table, num_replicas, rank, seed):
        return list(range(rank, len(table), num_replicas))


class AddToLoss(Mitigation):
    """Adds a constant to the loss."""

    def __init__(self, amount: float) -> None:
        self.amount = amount

    def loss(self, outputs, batch, loss):
        return loss * 2 + self.amount


class Upstream(Mitigation):
    """An upstream mitigation."""

    stage = "upstream"


class UpstreamWeights(Weights):
    """Upstream, with weights."""

    stage = "upstream"


def _table() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0], "group": [0, 0, 1]})


def test_transforms_run_in_listed_order_and_report_each_step():
    seen = []
    pipeline = MitigationPipeline([AppendWord("x"), Weights([1, 1, 1]), AppendWord("y")], "downstream")
    out = pipeline.transform(_table(), "train", after_each=lambda m, before, after: seen.append(
        (type(m).__name__, before["text"][0], after["text"][0])))
    assert out["text"] == ["a x y", "b x y", "c x y"]
    assert seen == [("AppendWord", "a", "a x"), ("AppendWord", "a x", "a x y")]


def test_a_transform_must_return_a_table():
    class Bad(Mitigation):
        def transform(self, table, split):
            return list(table)

    with pytest.raises(ValueError, match="Bad.transform must return a datasets.Dataset, got list"):
        MitigationPipeline([Bad()], "downstream").transform(_table(), "train")


def test_weights_multiply_and_are_checked():
    pipeline = MitigationPipeline([Weights([1.0, 2.0, 0.5]), Weights(torch.tensor([2.0, 1.0, 4.0]))], "downstream")
    np.testing.assert_allclose(pipeline.sample_weights(_table()), [2.0, 2.0, 2.0])
    assert MitigationPipeline([AppendWord("x")], "downstream").sample_weights(_table()) is None
    with pytest.raises(ValueError, match=r"Weights: sample_weights gave shape \(2,\); expected \(3,\)"):
        MitigationPipeline([Weights([1, 1])], "downstream").sample_weights(_table())
    with pytest.raises(ValueError, match="sample weight at row 1 is -1.0"):
        MitigationPipeline([Weights([1, -1, 1])], "downstream").sample_weights(_table())
    with pytest.raises(ValueError, match="combined sample weights are all zero"):
        MitigationPipeline([Weights([1, 0, 0]), Weights([0, 1, 1])], "downstream").sample_weights(_table())


def test_at_most_one_sampler():
    pipeline = MitigationPipeline([AppendWord("x"), Sampler()], "downstream")
    assert list(pipeline.sampler(_table(), num_replicas=2, rank=1, seed=0)) == [1]
    assert MitigationPipeline([AppendWord("x")], "downstream").sampler(_table(), 1, 0, 0) is None
    with pytest.raises(ValueError, match=r"several mitigations supply a training sampler \(Sampler, Sampler\)"):
        MitigationPipeline([Sampler(), Sampler()], "downstream")


def test_loss_hooks_chain_in_order():
    pipeline = MitigationPipeline([AddToLoss(1.0), AppendWord("x"), AddToLoss(10.0)], "downstream")
    assert float(pipeline.loss({}, {}, torch.tensor(1.0))) == (1.0 * 2 + 1.0) * 2 + 10.0


def test_stages_are_checked_both_ways():
    with pytest.raises(ValueError, match=r"downstream run given .*Upstream \(stage 'upstream'\).*lightning_bias pretrain"):
        MitigationPipeline([AppendWord("x"), Upstream()], "downstream")
    with pytest.raises(ValueError, match=r"upstream run given .*AppendWord \(stage 'downstream'\).*lightning_bias fit"):
        MitigationPipeline([Upstream(), AppendWord("x")], "upstream")
    with pytest.raises(ValueError, match="UpstreamWeights supply sample weights or a sampler"):
        MitigationPipeline([UpstreamWeights([1.0])], "upstream")


def test_from_callbacks_keeps_only_mitigations():
    class Probe(Evaluation):
        """Measures nothing."""

    pipeline = MitigationPipeline.from_callbacks([Probe(), AppendWord("x"), object()], "downstream")
    assert [type(m).__name__ for m in pipeline.mitigations] == ["AppendWord"]
    assert Probe.description() == "Measures nothing."


class Tuned(Mitigation):
    """Required, default and keyword-only arguments."""

    def __init__(self, rate: float, seed: int = 0, **extra: str) -> None:
        self.rate = rate


def test_a_plugin_records_its_constructor_arguments_with_the_defaults():
    plugin = Tuned(0.5, colour="red")
    assert plugin.init_arguments == {"rate": 0.5, "seed": 0, "colour": "red"}
    assert copy.deepcopy(plugin).init_arguments == plugin.init_arguments
    assert pickle.loads(pickle.dumps(plugin)).init_arguments == plugin.init_arguments
    assert AppendWord(word="x").init_arguments == {"word": "x"}  # a constructor that never calls super().__init__
    assert Upstream().init_arguments == {}  # no constructor of its own
