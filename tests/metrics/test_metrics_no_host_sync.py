"""``update`` does no device-to-host synchronisation (with ``validate_args=False``).

There is no GPU in CI, so ``torch.cuda.set_sync_debug_mode`` cannot be used. Instead every torch call made
during ``update`` is intercepted with a ``TorchFunctionMode`` that fails on the operations that force a
sync on an accelerator: reading values on the host (``item``, ``tolist``, ``numpy``, ``bool()``/``int()``/
``float()`` of a tensor, i.e. data-dependent Python branching), copies to the CPU (``cpu``, ``to("cpu")``),
and ops whose output size depends on the data (``nonzero``, boolean-mask indexing, ``unique``,
``masked_select``, ``bincount`` which sizes its output from the maximum on CUDA). As a control, the same
interceptor must see exactly one host read with ``validate_args=True``, the one documented value check.
"""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

from lightning_bias.metrics import (
    BiasAUC,
    CounterfactualFlipRate,
    EqualizedOddsDifference,
    FairnessMetrics,
    GroupAccuracy,
    TPRGap,
)

HOST_READS = {
    torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu,
    torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__,
}  # fmt: skip
DATA_DEPENDENT_SHAPES = {
    torch.nonzero, torch.Tensor.nonzero, torch.argwhere, torch.unique, torch.Tensor.unique,
    torch.masked_select, torch.Tensor.masked_select, torch.bincount, torch.Tensor.bincount,
    torch.Tensor.nonzero_static,
}  # fmt: skip


class HostSyncRecorder(TorchFunctionMode):
    """Records every call that would synchronise an accelerator with the host."""

    def __init__(self) -> None:
        super().__init__()
        self.syncing_calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", repr(func))
        if func in HOST_READS or func in DATA_DEPENDENT_SHAPES:
            self.syncing_calls.append(name)
        elif func in (torch.Tensor.to,) and any(_is_cpu_device(a) for a in (*args[1:], *kwargs.values())):
            self.syncing_calls.append("to(cpu)")
        elif func is torch.Tensor.__getitem__ and _has_boolean_index(args[1]):
            self.syncing_calls.append("boolean-mask indexing")
        return func(*args, **kwargs)


def _is_cpu_device(value) -> bool:
    return (isinstance(value, str) and value.startswith("cpu")) or (
        isinstance(value, torch.device) and value.type == "cpu"
    )


def _has_boolean_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(item, torch.Tensor) and item.dtype == torch.bool for item in items)


def _classification_batch(num_classes: int, num_groups: int, rows: int = 32):
    return (
        torch.randn(rows, num_classes),
        torch.randint(0, num_classes, (rows,)),
        torch.randint(0, num_groups, (rows,)),
    )


METRICS = [
    pytest.param(lambda v: FairnessMetrics(4, 3, validate_args=v), lambda: _classification_batch(4, 3), id="fairness"),
    pytest.param(
        lambda v: FairnessMetrics(2, 3, thresholds=20, from_logits=True, validate_args=v),
        lambda: _classification_batch(2, 3),
        id="fairness-auc",
    ),
    pytest.param(lambda v: TPRGap(4, 3, validate_args=v), lambda: _classification_batch(4, 3), id="tpr-gap"),
    pytest.param(lambda v: EqualizedOddsDifference(4, 3, validate_args=v), lambda: _classification_batch(4, 3), id="eo"),
    pytest.param(
        lambda v: GroupAccuracy(4, 3, validate_args=v),
        lambda: (torch.randint(0, 4, (32,)), torch.randint(0, 4, (32,)), torch.randint(0, 3, (32,))),
        id="group-accuracy-labels",
    ),
    pytest.param(
        lambda v: BiasAUC(3, thresholds=20, validate_args=v),
        lambda: (torch.rand(32), torch.randint(0, 2, (32,)), torch.randint(0, 3, (32,))),
        id="bias-auc",
    ),
    pytest.param(
        lambda v: CounterfactualFlipRate(validate_args=v),
        lambda: (torch.softmax(torch.randn(32, 3), 1), torch.softmax(torch.randn(32, 3), 1)),
        id="flip-rate",
    ),
]


@pytest.mark.parametrize(("make_metric", "make_batch"), METRICS)
def test_update_does_not_sync_without_validation(make_metric, make_batch) -> None:
    metric = make_metric(False)
    batches = [make_batch() for _ in range(3)]
    with HostSyncRecorder() as recorder:
        for batch in batches:
            metric.update(*batch)
    assert recorder.syncing_calls == []
    assert metric.update_count == 3


@pytest.mark.parametrize(("make_metric", "make_batch"), METRICS)
def test_validation_costs_exactly_one_sync_per_update(make_metric, make_batch) -> None:
    metric = make_metric(True)
    batch = make_batch()
    with HostSyncRecorder() as recorder:
        metric.update(*batch)
    assert recorder.syncing_calls == ["tolist"]


def test_recorder_catches_the_usual_culprits() -> None:
    values = torch.tensor([0, 3, 1])
    with HostSyncRecorder() as recorder:
        values.max().item()
        if values.sum() > 2:
            pass
        torch.bincount(values)
        _ = values[values > 0]
        values.to("cpu")
    assert recorder.syncing_calls == ["item", "__bool__", "bincount", "boolean-mask indexing", "to(cpu)"]
