"""Per-rank training-state memory of DDP, DeepSpeed ZeRO-2 and ZeRO-3, measured on 2 CPU ranks (gloo).

For the pre-trained MiniLM classifier (``model: minilm``, 22.7M parameters) each strategy trains
two steps on 2 processes; right before the second optimizer step (gradients computed, optimizer
state already created by the first) every rank walks the tensors it holds and sums their bytes:

- parameters: the module's parameters (under ZeRO-3 the rank's partition ``ds_tensor``, plus the
  small parameters ZeRO-3 keeps whole);
- gradients: ``param.grad`` (DDP: views into its all-reduce buckets) or ZeRO's gradient partitions;
- optimizer state: Adam's moments and ZeRO's fp32 master partitions;
- other: everything else the optimizer holds (ZeRO's reduce/gather buckets).

Tensors sharing memory are counted once (by storage). Target: ZeRO-3 at most 0.6 of DDP per rank
(parameters + gradients + optimizer state) with the precision the GPU configs ship
(``bf16-mixed``); ``32-true`` figures are reported too. Ends with one JSON line::

    {"bench": "distributed", "zero3_vs_ddp_per_rank_bytes": 0.5, "zero2_vs_ddp_per_rank_bytes": 0.62, ...}

Usage (about 5 minutes on 2 cores)::

    python benchmarks/bench_distributed.py [--precisions bf16-mixed 32-true] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STRATEGIES = ("ddp", "zero2", "zero3")
CATEGORIES = ("parameters", "gradients", "optimizer_state", "other")


# --- measuring, inside each rank -------------------------------------------------------------------------------


def _tensors(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(path, tensor) pairs reachable from ``value`` through lists, tuples, dicts and optimizer attributes."""
    import torch

    if isinstance(value, torch.Tensor):
        yield path, value
        return
    if depth > 6:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{path}[{key!r}]" if not isinstance(key, torch.Tensor) else f"{path}[state]",
                                depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, torch.optim.Optimizer) or type(value).__name__.startswith("DeepSpeedZeroOptimizer"):
        for name, item in vars(value).items():
            if isinstance(item, torch.nn.Module):
                continue
            yield from _tensors(item, f"{path}.{name}", depth + 1)


def _storage_key(tensor: Any) -> tuple[int, int] | None:
    storage = tensor.untyped_storage()
    return (storage.data_ptr(), storage.nbytes()) if storage.nbytes() else None


def _category(path: str) -> str:
    lowered = path.lower()
    if "grad" in lowered:
        return "gradients"
    # under ZeRO the wrapped torch optimizer's param_groups hold the fp32 master partitions
    if "fp32" in lowered or "[state]" in lowered or "param_groups" in lowered or "master" in lowered:
        return "optimizer_state"
    return "other"


def measure_rank(module: Any, optimizers: list[Any]) -> dict[str, int]:
    """Bytes this rank holds per category, each storage counted once (the first category that claims it)."""
    seen: set[tuple[int, int]] = set()
    totals = dict.fromkeys(CATEGORIES, 0)

    def claim(tensor: Any, category: str) -> None:
        key = _storage_key(tensor)
        if key is not None and key not in seen:
            seen.add(key)
            totals[category] += key[1]

    for param in module.parameters():
        claim(param.data, "parameters")
        if hasattr(param, "ds_tensor"):
            claim(param.ds_tensor, "parameters")
    for param in module.parameters():
        if param.grad is not None:
            claim(param.grad, "gradients")
    for index, optimizer in enumerate(optimizers):
        for path, tensor in _tensors(optimizer, f"optimizer{index}"):
            claim(tensor, _category(path))
    return totals


def worker(strategy_name: str, precision: str, batch_size: int, out: Path) -> None:
    """One 2-rank run (this process is rank 0; Lightning starts rank 1 with the same arguments)."""
    import pytorch_lightning as pl
    from pytorch_lightning.strategies import DDPStrategy

    from lightning_bias.data.datamodule import BiasDataModule
    from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions
    from lightning_bias.models.classifier import SequenceClassifier
    from lightning_bias.training.strategies import CPUDeepSpeedStrategy

    class Measure(pl.Callback):
        def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: Any, optimizer: Any) -> None:
            if trainer.global_step != 1:
                return
            totals = measure_rank(pl_module, trainer.optimizers)  # DeepSpeed: its ZeRO optimizer
            Path(f"{out}.rank{trainer.global_rank}").write_text(json.dumps(totals))

    strategy = {
        "ddp": lambda: DDPStrategy(gradient_as_bucket_view=True),
        "zero2": lambda: CPUDeepSpeedStrategy(stage=2),
        "zero3": lambda: CPUDeepSpeedStrategy(stage=3),
    }[strategy_name]()
    model = SequenceClassifier(model="minilm", learning_rate=1e-4, export_hf=False)
    data = BiasDataModule(synthetic_bios=SyntheticBiosOptions(num_examples=200), batch_size=batch_size, max_length=64,
                          val_fraction=0.1, test_fraction=0.1)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy=strategy, precision=precision, max_steps=2, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, num_sanity_val_steps=0, callbacks=[Measure()],
    )
    trainer.fit(model, data)


# --- orchestration --------------------------------------------------------------------------------------------------


def run_case(strategy: str, precision: str, batch_size: int, workdir: Path) -> dict[str, dict[str, int]]:
    out = workdir / f"{strategy}-{precision}"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, os.path.abspath(__file__), "--worker", strategy, "--precision", precision, "--batch-size", str(batch_size),
               "--out", str(out)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=workdir)
    ranks = sorted(workdir.glob(f"{out.name}.rank*"))
    if proc.returncode != 0 or len(ranks) != 2:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"bench_distributed: the {strategy} run ({precision}) failed (exit {proc.returncode})")
    return {path.name.rsplit(".", 1)[1]: json.loads(path.read_text()) for path in ranks}


def state_bytes(totals: dict[str, int]) -> int:
    return totals["parameters"] + totals["gradients"] + totals["optimizer_state"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precisions", nargs="+", default=["bf16-mixed", "32-true"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--worker", choices=STRATEGIES, help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.precision, args.batch_size, Path(args.out))
        return

    result: dict[str, Any] = {"bench": "distributed", "model": "minilm", "ranks": 2, "device": "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precisions:
            per_strategy = {}
            for strategy in STRATEGIES:
                ranks = run_case(strategy, precision, args.batch_size, Path(tmp))
                worst = max(ranks.values(), key=state_bytes)
                per_strategy[strategy] = worst
                mib = {k: round(v / 2**20, 1) for k, v in worst.items()}
                print(f"{precision:>10} {strategy:>5}: per-rank MiB {mib}  state={state_bytes(worst) / 2**20:.1f}",
                      file=sys.stderr)
            ddp = state_bytes(per_strategy["ddp"])
            suffix = "" if precision == args.precisions[0] else f"_{precision.replace('-', '_')}"
            result[f"precision{suffix}"] = precision
            for strategy in ("zero2", "zero3"):
                result[f"{strategy}_vs_ddp_per_rank_bytes{suffix}"] = round(state_bytes(per_strategy[strategy]) / ddp, 3)
                result[f"{strategy}_vs_ddp_per_rank_bytes_with_buffers{suffix}"] = round(
                    sum(per_strategy[strategy].values()) / sum(per_strategy["ddp"].values()), 3)
            result[f"per_rank_mib{suffix}"] = {
                s: {k: round(v / 2**20, 1) for k, v in t.items()} for s, t in per_strategy.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
