"""The example third-party plugin package (plugins/example_plugin): Group DRO on the ``loss`` hook."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from lightning_bias.data import DatasetInfo
from lightning_bias.data.batching import BatchKeys
from lightning_bias.mitigation import Mitigation, report_sections

group_dro = pytest.importorskip("lightning_bias_example_plugin.group_dro",
                                reason="the example plugin is not installed: pip install -e plugins/example_plugin")
GroupDRO = group_dro.GroupDRO


def set_up(plugin, labels=("nurse", "surgeon"), groups=("male", "female")):
    trainer = SimpleNamespace(datamodule=SimpleNamespace(info=DatasetInfo(label_names=labels, group_names=groups)))
    plugin.setup(trainer, None, "fit")
    return plugin


def step(plugin, losses, labels, groups, weights=None):
    batch = {BatchKeys.LABELS: torch.tensor(labels), BatchKeys.GROUPS: torch.tensor(groups)}
    if weights is not None:
        batch[BatchKeys.WEIGHTS] = torch.tensor(weights)
    per_example = torch.tensor(losses, requires_grad=True)
    loss = plugin.loss({"per_example_loss": per_example, "logits": None}, batch, per_example.mean())
    return loss, per_example


def test_registered_by_entry_point():
    from lightning_bias.plugin_registry import MITIGATIONS, available, load_entry

    assert "group_dro" in available(MITIGATIONS)
    assert load_entry(MITIGATIONS, "group_dro", Mitigation) is GroupDRO


def test_one_step_of_exponentiated_gradient_and_the_robust_loss():
    plugin = set_up(GroupDRO(step_size=0.5))
    loss, per_example = step(plugin, [1.0, 3.0, 2.0], labels=[0, 0, 1], groups=[0, 1, 1])
    # group losses: male 1.0, female (3 + 2) / 2 = 2.5; q starts uniform
    q = torch.tensor([0.5 * math.exp(0.5 * 1.0), 0.5 * math.exp(0.5 * 2.5)], dtype=torch.float64)
    q = q / q.sum()
    torch.testing.assert_close(plugin.q, q)
    assert loss.item() == pytest.approx(float(q[0] * 1.0 + q[1] * 2.5))
    loss.backward()  # the gradient flows to the per-example losses, weighted by q / group size
    torch.testing.assert_close(per_example.grad, torch.tensor([q[0], q[1] / 2, q[1] / 2], dtype=torch.float32))


def test_q_moves_to_the_worst_group_and_absent_groups_count_as_zero_loss():
    plugin = set_up(GroupDRO(step_size=1.0), groups=("a", "b", "c"))
    for _ in range(20):
        step(plugin, [0.1, 2.0], labels=[0, 0], groups=[0, 1])
    assert plugin.q[1] > 0.99
    # c never appears: its factor is exp(0) each step, a's is exp(0.1)
    assert (plugin.q[0] / plugin.q[2]).item() == pytest.approx(math.exp(20 * 0.1))


def test_label_group_cells_and_sample_weights():
    plugin = set_up(GroupDRO(groups_by="label_group"))
    assert plugin.names == ["nurse|male", "nurse|female", "surgeon|male", "surgeon|female"]
    ids = plugin.group_ids({BatchKeys.LABELS: torch.tensor([0, 1, 1]), BatchKeys.GROUPS: torch.tensor([1, 0, 1])})
    assert ids.tolist() == [1, 2, 3]
    plugin.q = torch.full((4,), 0.25, dtype=torch.float64)
    # weighted mean within a cell: (1 * 1 + 3 * 3) / (1 + 3) = 2.5
    loss, _ = step(plugin, [1.0, 3.0], labels=[0, 0], groups=[1, 1],
                   weights=[1.0, 3.0])
    assert loss.item() == pytest.approx(plugin.q[1].item() * 2.5, rel=1e-6)


def test_group_weights_go_into_the_validation_report_under_group_dro():
    plugin = GroupDRO(step_size=0.5)
    assert report_sections([plugin], "val") == {}  # before setup: no weights yet
    set_up(plugin)
    step(plugin, [1.0, 3.0], labels=[0, 0], groups=[0, 1])
    assert report_sections([plugin], "val") == {"group_dro": plugin.summary()}
    assert report_sections([plugin], "test") == {}


def test_state_dict_round_trip():
    plugin = set_up(GroupDRO(step_size=0.3))
    step(plugin, [1.0, 2.0], labels=[0, 1], groups=[0, 1])
    restored = GroupDRO(step_size=0.3)
    restored.load_state_dict(plugin.state_dict())
    set_up(restored)
    torch.testing.assert_close(restored.q, plugin.q)
    assert restored.summary()["group_weights"] == plugin.summary()["group_weights"]


def test_bad_arguments_and_missing_setup():
    with pytest.raises(ValueError, match="step_size must be positive"):
        GroupDRO(step_size=0)
    with pytest.raises(ValueError, match="groups_by must be"):
        GroupDRO(groups_by="label")
    with pytest.raises(ValueError, match="group_dro needs the label and group names: the data module NoneType exposes no"):
        GroupDRO().setup(SimpleNamespace(datamodule=None), None, "fit")
    with pytest.raises(ValueError, match="needs protected groups"):
        set_up(GroupDRO(), groups=())
    with pytest.raises(RuntimeError, match="setup"):
        step(GroupDRO(), [1.0], labels=[0], groups=[0])
