"""Two-process DDP (gloo, CPU): synced results equal the single-process results exactly, with uneven shards."""

from __future__ import annotations

import socket
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lightning_bias.metrics import BiasAUC, CounterfactualFlipRate, FairnessMetrics, TPRGap

pytestmark = pytest.mark.multiprocess

WORLD_SIZE = 2
ROWS = 203
#: rank 0 gets rows [0, 150) in batches of 64, rank 1 gets [150, 203) in batches of 7 (uneven on purpose)
SHARDS = {0: (0, 150, 64), 1: (150, ROWS, 7)}
GROUP_NAMES = ["f", "m", "nb", "unused"]
CLASS_NAMES = ["a", "b", "c"]


def make_data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1234)
    target = torch.randint(0, 3, (ROWS,), generator=generator)
    groups = torch.randint(0, 3, (ROWS,), generator=generator)  # group 3 stays empty
    scores = torch.randn(ROWS, 3, generator=generator)
    binary_target = torch.randint(0, 2, (ROWS,), generator=generator)
    binary_logits = torch.randn(ROWS, 2, generator=generator) + binary_target[:, None] * torch.tensor([0.0, 1.0])
    probs_original = torch.softmax(torch.randn(ROWS, 3, generator=generator), dim=1)
    probs_counterfactual = torch.softmax(probs_original.log() + 0.5 * torch.randn(ROWS, 3, generator=generator), 1)
    return {
        "target": target,
        "groups": groups,
        "scores": scores,
        "labels": scores.argmax(1),
        "binary_target": binary_target,
        "binary_probs": torch.softmax(binary_logits, dim=1),
        "probs_original": probs_original,
        "probs_counterfactual": probs_counterfactual,
    }


def make_metrics() -> dict[str, object]:
    return {
        "fairness": FairnessMetrics(3, 4, group_names=GROUP_NAMES, class_names=CLASS_NAMES),
        "binary": FairnessMetrics(2, 4, group_names=GROUP_NAMES, thresholds=25),
        "tpr_gap": TPRGap(3, 4, aggregate="none"),
        "bias_auc": BiasAUC(4, thresholds=25),
        "flip": CounterfactualFlipRate(),
    }


def feed(metrics: dict[str, object], data: dict[str, torch.Tensor], start: int, stop: int, batch: int) -> None:
    for index, low in enumerate(range(start, stop, batch)):
        rows = slice(low, min(low + batch, stop))
        # alternate [N, C] scores and [N] labels across updates
        preds = data["scores"][rows] if index % 2 == 0 else data["labels"][rows]
        metrics["fairness"].update(preds, data["target"][rows], data["groups"][rows])
        metrics["tpr_gap"].update(preds, data["target"][rows], data["groups"][rows])
        metrics["binary"].update(data["binary_probs"][rows], data["binary_target"][rows], data["groups"][rows])
        metrics["bias_auc"].update(data["binary_probs"][rows], data["binary_target"][rows], data["groups"][rows])
        metrics["flip"].update(data["probs_original"][rows], data["probs_counterfactual"][rows])


def results(metrics: dict[str, object]) -> tuple[dict[str, object], dict[str, dict[str, int]]]:
    """Every synced output, and the collectives each call issued (nothing in a single process)."""
    steps = {
        "fairness": metrics["fairness"].compute,
        "fairness_report": metrics["fairness"].report,  # reuses the counts compute() just synced
        "binary": metrics["binary"].compute,
        "binary_report": metrics["binary"].report,
        "tpr_gap": metrics["tpr_gap"].compute,
        "bias_auc": metrics["bias_auc"].compute,
        "flip": metrics["flip"].compute,
        # after an update, report() must sync by itself (not reuse compute's counts)
        "fairness_report_fresh_sync": lambda: _report_after_empty_update(metrics["fairness"]),
    }
    values, collectives = {}, {}
    for name, step in steps.items():
        with count_collectives() as counts:
            values[name] = step()
        collectives[name] = dict(counts)
    return values, collectives


def _report_after_empty_update(metric: FairnessMetrics) -> dict:
    metric.update(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    return metric.report()


def _worker(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        torch.set_num_threads(1)
        metrics = make_metrics()
        start, stop, batch = SHARDS[rank]
        feed(metrics, make_data(), start, stop, batch)
        local_rows = int(metrics["fairness"].confusion.sum())
        synced, collectives = results(metrics)
        synced["collectives"] = collectives
        synced["local_rows_after_sync"] = int(metrics["fairness"].confusion.sum())
        synced["local_rows"] = local_rows
        torch.save(synced, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@contextmanager
def count_collectives():
    """Count the torch.distributed collectives issued inside the block, by name."""
    counts: Counter[str] = Counter()
    originals = {name: getattr(dist, name) for name in ("all_reduce", "all_gather", "barrier", "broadcast")}

    def counting(name):
        def call(*args, **kwargs):
            counts[name] += 1
            return originals[name](*args, **kwargs)

        return call

    for name in originals:
        setattr(dist, name, counting(name))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_identical(actual, expected, path: str = "") -> None:
    if isinstance(expected, dict):
        assert set(actual) == set(expected), path
        for key in expected:
            assert_identical(actual[key], expected[key], f"{path}/{key}")
    elif isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True, msg=path)
    else:
        assert actual == expected, path


@pytest.mark.timeout(300)
def test_two_process_sync_equals_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    single = make_metrics()
    feed(single, make_data(), *SHARDS[0])
    feed(single, make_data(), *SHARDS[1])
    expected, collectives = results(single)
    assert all(not counts for counts in collectives.values())  # no process group: no collectives

    for rank in range(WORLD_SIZE):
        synced = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        start, stop, _ = SHARDS[rank]
        assert synced.pop("local_rows") == stop - start
        assert synced.pop("local_rows_after_sync") == stop - start  # local state restored after the sync
        # one all_reduce per count state and nothing else; report() right after compute() reuses its sync
        assert synced.pop("collectives") == {
            "fairness": {"all_reduce": 1},
            "fairness_report": {},
            "binary": {"all_reduce": 2},  # confusion + AUC histograms
            "binary_report": {},
            "tpr_gap": {"all_reduce": 1},
            "bias_auc": {"all_reduce": 1},
            "flip": {"all_reduce": 3},
            "fairness_report_fresh_sync": {"all_reduce": 1},
        }
        flip = synced.pop("flip")
        # float sums of probability changes may differ in the last bit with the order of summation
        torch.testing.assert_close(flip, expected["flip"], rtol=1e-6, atol=1e-9)
        assert_identical(synced, {key: value for key, value in expected.items() if key != "flip"})
    assert expected["fairness_report"]["num_examples"] == ROWS
    assert expected["fairness_report"]["empty_groups"] == ["unused"]
