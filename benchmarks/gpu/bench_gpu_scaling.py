"""Samples/s and scaling efficiency of DDP and DeepSpeed ZeRO 1/2/3 (+ offload) on 1..N GPUs of one node.

Prepared for a GPU machine; not run in CI. For every strategy config in configs/strategy/ and
every GPU count in 1, 2, 4, ... up to the GPUs present, it runs ``lightning_bias fit`` on the
quickstart config (pre-trained MiniLM, synthetic bios) for ``--steps`` steps and times the steps
after ``--warmup`` on rank 0 (``throughput.py``). Scaling efficiency at n GPUs is
``samples_per_second(n) / (n * samples_per_second(1))`` for the same strategy — weak scaling: the
per-GPU batch stays fixed. Peak GPU memory per rank is recorded too.

    python benchmarks/gpu/bench_gpu_scaling.py [--strategies ddp deepspeed_zero2 ...] [--max-gpus 8]
        [--steps 60] [--warmup 10] [--batch-size 32] [--max-length 128] [--config configs/quickstart.yaml]

Prints a table and ends with one JSON line:
    {"bench": "gpu_scaling", "gpu": "...", "results": {"ddp": {"1": {"samples_per_second": ..., ...}}}}
Record only figures from real runs in benchmarks/README.md (section "Distributed strategies").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
STRATEGIES = ["ddp", "deepspeed_zero1", "deepspeed_zero2", "deepspeed_zero3", "deepspeed_zero3_offload"]


def gpu_counts(limit: int) -> list[int]:
    counts, n = [], 1
    while n <= limit:
        counts.append(n)
        n *= 2
    if counts[-1] != limit:
        counts.append(limit)
    return counts


def run(strategy: str, gpus: int, args: argparse.Namespace, workdir: Path) -> dict | None:
    out = workdir / f"{strategy}-{gpus}.json"
    command = [
        sys.executable, "-m", "lightning_bias", "fit", "--config", args.config,
        "--config", str(REPO / "configs" / "strategy" / f"{strategy}.yaml"),
        f"--trainer.devices={gpus}", f"--trainer.max_steps={args.steps}", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={workdir / 'runs'}", "--model.export_hf=false",
        f"--data.batch_size={args.batch_size}", f"--data.max_length={args.max_length}",
        f"--data.synthetic_bios.num_examples={max(args.num_examples, args.batch_size * gpus * (args.steps + 5) * 2)}",
        "--trainer.callbacks+=throughput.Throughput", f"--trainer.callbacks.out={out}",
        f"--trainer.callbacks.warmup={args.warmup}",
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=args.timeout)
    (workdir / f"{strategy}-{gpus}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr)[-1500:]
        print(f"{strategy} on {gpus} GPU(s) failed (exit {proc.returncode}):\n{tail}", file=sys.stderr)
        return None
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES, choices=STRATEGIES)
    parser.add_argument("--max-gpus", type=int, default=torch.cuda.device_count())
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="per GPU")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--num-examples", type=int, default=20000)
    parser.add_argument("--config", default=str(REPO / "configs" / "quickstart.yaml"))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--keep", help="directory to keep logs and run outputs in (default: a temporary one)")
    args = parser.parse_args()
    if not torch.cuda.is_available() or args.max_gpus < 1:
        raise SystemExit("bench_gpu_scaling: no CUDA GPU here; this benchmark is for a GPU machine")
    if args.steps <= args.warmup:
        raise SystemExit(f"bench_gpu_scaling: --steps ({args.steps}) must exceed --warmup ({args.warmup})")

    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"{'strategy':<26}{'GPUs':>5}{'samples/s':>12}{'efficiency':>12}{'peak GiB/rank':>15}")
        for strategy in args.strategies:
            results[strategy] = {}
            for gpus in gpu_counts(args.max_gpus):
                figures = run(strategy, gpus, args, workdir)
                if figures is None:
                    continue
                single = results[strategy].get("1", {}).get("samples_per_second")
                speed = figures["samples_per_second"]
                figures["scaling_efficiency"] = round(speed / (gpus * single), 3) if single and speed else None
                results[strategy][str(gpus)] = figures
                peak = max(figures["peak_memory_bytes_per_rank"]) / 2**30
                print(f"{strategy:<26}{gpus:>5}{speed:>12.1f}{figures['scaling_efficiency'] or 1.0:>12.3f}{peak:>15.2f}")
    print(json.dumps({"bench": "gpu_scaling", "gpu": torch.cuda.get_device_name(0), "config": args.config,
                      "batch_size_per_gpu": args.batch_size, "max_length": args.max_length, "results": results}))


if __name__ == "__main__":
    main()
