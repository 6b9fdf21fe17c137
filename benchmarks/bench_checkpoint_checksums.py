"""What checkpoint checksums cost: saving with the SHA-256 computed while writing, and verifying before loading.

Baseline save: ``torch.save`` to a temporary sibling, flush, fsync, rename (``AtomicCheckpointIO`` before
checksums). Ours: ``AtomicCheckpointIO.save_checkpoint`` (hashing writer + sidecar). Baseline load:
``torch.load``; ours: ``AtomicCheckpointIO.load_checkpoint`` (one streamed SHA-256 pass, then the load).
Alternating, best of ``--repeats``; the last line is JSON with the ratios.

    python benchmarks/bench_checkpoint_checksums.py --mib 256 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lightning_bias.training.checkpointing import AtomicCheckpointIO


def plain_atomic_save(checkpoint: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(checkpoint, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="checkpoint size in MiB (float32 tensors of 4 MiB)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    checkpoint = {"state_dict": {f"w{i}": torch.randn(1 << 20) for i in range(args.mib // 4)}, "global_step": 1}
    io = AtomicCheckpointIO()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        baseline_path, ours_path = Path(directory) / "baseline.ckpt", Path(directory) / "ours.ckpt"
        save_baseline = best_of(args.repeats, lambda: plain_atomic_save(checkpoint, baseline_path))
        save_ours = best_of(args.repeats, lambda: io.save_checkpoint(checkpoint, ours_path))
        load_baseline = best_of(args.repeats, lambda: torch.load(baseline_path, weights_only=True))
        load_ours = best_of(args.repeats, lambda: io.load_checkpoint(ours_path, weights_only=True))
    figures = {
        "mib": args.mib,
        "save_baseline_s": round(save_baseline, 3), "save_ours_s": round(save_ours, 3),
        "load_baseline_s": round(load_baseline, 3), "load_ours_s": round(load_ours, 3),
        "save_ours_vs_baseline": round(save_ours / save_baseline, 3),
        "load_ours_vs_baseline": round(load_ours / load_baseline, 3),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
