"""What the GPU-sized Bias in Bios configs cost: measured CPU seconds per training step, and a one-GPU estimate.

For each fit config (default: ``configs/gpu/bias_in_bios_{roberta,bert}_base.yaml``) the network the config names
is built with random weights from its real sizes (the hub's ``config.json`` values, written out below: no
download), with the 28 Bias in Bios labels, and trained for ``--warmup`` untimed then ``--steps`` timed
steps at the config's ``data.batch_size`` x ``data.max_length`` (every sequence at the full length: padding
included, an upper bound, since ``group_by_length`` batches shorter bios together): forward, cross-entropy,
backward and the framework's fused AdamW step (``lightning_bias.models.optimization.adamw``), in fp32 on
``--threads`` torch threads. Each step is timed on two clocks: the process's CPU time (all threads together;
on a shared machine it leaves out the time other jobs hold the cores) and the wall clock.

Derived figures, per config:

- FLOPs per step = 6 x N x B x L  +  12 x layers x L^2 x hidden x B, where N is the number of parameters
  that take part in matrix products (all but the token, position and token-type embedding tables, which are
  lookups), B the batch size and L the sequence length: the usual 6 N FLOPs per token for forward plus backward
  (Kaplan et al. 2020), plus the attention products QK^T and AV (2 x 2 L^2 hidden per layer and sequence
  forward, times 3 with the backward pass). An approximation: softmax, norms and the optimizer are left out.
- steps per epoch = ceil(train bios / B), with 257,478 train bios: the ``train`` split of the hub dataset
  LabHC/bias_in_bios (``dataset_info`` of its card, commit 052f01d; dev 39,642, test 99,069).
- CPU hours per epoch = steps per epoch x CPU seconds per step / 3600 (the same with the wall clock).
- one-GPU estimate: seconds per step = FLOPs per step / (peak x MFU), for each assumed GPU peak (dense bf16
  tensor throughput from the vendors' data sheets: H100 SXM 989 TFLOP/s, A100 312 TFLOP/s) and an assumed
  model-FLOPs utilisation of 30% and 40%. Assumptions, not measurements: no GPU was measured; data loading,
  evaluation and start-up are not counted; real steps are shorter than max_length (padding), which lowers it.

The last stdout line is one JSON object; no other stdout line starts with ``{``. Keep ``--steps`` small: a
RoBERTa-base step at 32 x 128 takes tens of seconds on two CPU threads.

    python benchmarks/gpu/cost_estimate.py                     # both configs, 1 warm-up + 2 timed steps each
    python benchmarks/gpu/cost_estimate.py --configs configs/gpu/bias_in_bios_bert_base.yaml --steps 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig  # noqa: E402

from lightning_bias.models.optimization import adamw  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIGS = ("configs/gpu/bias_in_bios_roberta_base.yaml", "configs/gpu/bias_in_bios_bert_base.yaml")
HUB_TRAIN_BIOS = 257_478  # LabHC/bias_in_bios, split "train" (dataset card's dataset_info, commit 052f01d)
BIAS_IN_BIOS_LABELS = 28

# The sizes in each hub model's config.json (transformers' RobertaConfig defaults are BERT's vocabulary, so
# every size is spelled out). Only what the network's shape depends on.
HUB_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "roberta-base": {"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                     "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
                     "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                     "layer_norm_eps": 1e-5},
    "bert-base-uncased": {"model_type": "bert", "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
                          "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512,
                          "type_vocab_size": 2, "pad_token_id": 0, "layer_norm_eps": 1e-12},
}

# Assumptions of the one-GPU estimate (see the module docstring): dense bf16 peaks, model-FLOPs utilisations.
GPU_PEAK_TFLOPS = {"H100 SXM": 989.0, "A100": 312.0}
ASSUMED_MFU = (0.30, 0.40)


@dataclass(frozen=True)
class FitShape:
    """What a fit config says about one training step: the model, the batch and the number of epochs."""

    config: str
    model: str
    batch_size: int
    max_length: int
    epochs: int


def read_fit_shape(path: str | Path) -> FitShape:
    """The model name, ``data.batch_size``, ``data.max_length`` and ``trainer.max_epochs`` of a fit config."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    try:
        shape = FitShape(str(path), raw["model"]["model"], int(raw["data"]["batch_size"]),
                         int(raw["data"]["max_length"]), int(raw["trainer"]["max_epochs"]))
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: a GPU fit config needs model.model, data.batch_size, data.max_length and "
                         f"trainer.max_epochs; missing {err}") from None
    if shape.model not in HUB_ARCHITECTURES:
        raise ValueError(f"{path}: model.model {shape.model!r} has no sizes here; known: "
                         f"{', '.join(HUB_ARCHITECTURES)} (add its config.json sizes to HUB_ARCHITECTURES)")
    return shape


def build_network(sizes: dict[str, Any], num_labels: int) -> torch.nn.Module:
    """A randomly initialised sequence classifier of the given sizes (``model_type`` and config fields)."""
    sizes = dict(sizes)
    config: PretrainedConfig = AutoConfig.for_model(sizes.pop("model_type"), num_labels=num_labels, **sizes)
    return AutoModelForSequenceClassification.from_config(config)


def matmul_parameters(network: torch.nn.Module) -> int:
    """Parameters outside the embedding tables: those that enter matrix products (the 6 N of the FLOP count)."""
    embedded = sum(p.numel() for m in network.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    return sum(p.numel() for p in network.parameters()) - embedded


def flops_per_step(matmul_params: int, layers: int, hidden: int, batch_size: int, length: int) -> dict[str, float]:
    """Training FLOPs of one step (forward + backward): the dense part, the attention products, their sum."""
    dense = 6.0 * matmul_params * batch_size * length
    attention = 12.0 * layers * length**2 * hidden * batch_size
    return {"dense": dense, "attention": attention, "total": dense + attention}


def time_steps(network: torch.nn.Module, vocab_size: int, num_labels: int, batch_size: int, length: int,
               steps: int, warmup: int, seed: int = 0) -> dict[str, list[float]]:
    """CPU and wall seconds of ``steps`` training steps on random tokens, after ``warmup`` untimed ones."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab_size, (batch_size, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    labels = torch.randint(0, num_labels, (batch_size,), generator=generator)
    network.train()
    optimizer = adamw(network, learning_rate=1e-5, weight_decay=0.01, device=torch.device("cpu"))
    cpu, wall = [], []
    for step in range(warmup + steps):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        logits = network(input_ids=input_ids, attention_mask=attention_mask).logits
        F.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            cpu.append(time.process_time() - cpu_start)
            wall.append(time.perf_counter() - wall_start)
    return {"cpu_s": cpu, "wall_s": wall}


def gpu_estimate(flops: float, steps_per_epoch: int, epochs: int) -> dict[str, Any]:
    """Seconds per step and hours per epoch and per fit on one GPU, for each assumed peak and MFU."""
    estimate: dict[str, Any] = {
        "assumed_mfu": list(ASSUMED_MFU),
        "formula": "s per step = FLOPs per step / (peak x MFU)",
        "assumptions": "an estimate, not a measurement: assumed dense bf16 peaks (vendor data sheets) and MFU; "
                       "training steps only, every sequence at max_length; no evaluation, data loading or start-up",
    }
    for gpu, peak in GPU_PEAK_TFLOPS.items():
        seconds = [flops / (peak * 1e12 * mfu) for mfu in ASSUMED_MFU]
        estimate[gpu] = {
            "peak_tflops_bf16": peak,
            "s_per_step": seconds,
            "hours_per_epoch": [s * steps_per_epoch / 3600 for s in seconds],
            "hours_per_fit": [s * steps_per_epoch * epochs / 3600 for s in seconds],
        }
    return estimate


def estimate_cost(sizes: dict[str, Any], shape: FitShape, train_examples: int, steps: int, warmup: int,
                  num_labels: int = BIAS_IN_BIOS_LABELS) -> dict[str, Any]:
    """The measured CPU cost of one config's training steps and the derived per-epoch and one-GPU figures."""
    network = build_network(sizes, num_labels)
    matmul = matmul_parameters(network)
    flops = flops_per_step(matmul, sizes["num_hidden_layers"], sizes["hidden_size"], shape.batch_size,
                           shape.max_length)
    times = time_steps(network, sizes["vocab_size"], num_labels, shape.batch_size, shape.max_length, steps, warmup)
    cpu_s = sum(times["cpu_s"]) / len(times["cpu_s"])
    wall_s = sum(times["wall_s"]) / len(times["wall_s"])
    steps_per_epoch = math.ceil(train_examples / shape.batch_size)
    return {
        "config": shape.config,
        "model": shape.model,
        "parameters": sum(p.numel() for p in network.parameters()),
        "matmul_parameters": matmul,
        "batch_size": shape.batch_size,
        "max_length": shape.max_length,
        "tokens_per_step": shape.batch_size * shape.max_length,
        "flops_per_step": flops,
        "flops_formula": "6 x matmul_parameters x batch x length + 12 x layers x length^2 x hidden x batch",
        "timed_steps": steps,
        "warmup_steps": warmup,
        "cpu_s_per_step": cpu_s,
        "cpu_s_range": [min(times["cpu_s"]), max(times["cpu_s"])],
        "wall_s_per_step": wall_s,
        "wall_s_range": [min(times["wall_s"]), max(times["wall_s"])],
        "train_examples": train_examples,
        "steps_per_epoch": steps_per_epoch,
        "epochs": shape.epochs,
        "cpu_hours_per_epoch": steps_per_epoch * cpu_s / 3600,
        "wall_hours_per_epoch": steps_per_epoch * wall_s / 3600,
        "cpu_gflop_per_cpu_s": flops["total"] / cpu_s / 1e9,
        "gpu_estimate": gpu_estimate(flops["total"], steps_per_epoch, shape.epochs),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=[str(REPO / c) for c in DEFAULT_CONFIGS],
                        help="GPU fit configs to cost (default: configs/gpu/bias_in_bios_{roberta,bert}_base.yaml)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per config (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1: the allocations)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--train-examples", type=int, default=HUB_TRAIN_BIOS,
                        help=f"train bios per epoch (default {HUB_TRAIN_BIOS:,}, the hub's train split)")
    options = parser.parse_args(argv)
    for name in ("steps", "threads", "train_examples"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return options


def _summary_line(result: dict[str, Any]) -> str:
    h100 = result["gpu_estimate"]["H100 SXM"]["hours_per_fit"]
    return (f"{result['model']}: {result['cpu_s_per_step']:.1f} CPU s/step ({result['wall_s_per_step']:.1f} s wall), "
            f"{result['flops_per_step']['total'] / 1e12:.2f} TFLOP/step, {result['steps_per_epoch']:,} steps/epoch "
            f"-> {result['cpu_hours_per_epoch']:.0f} CPU h/epoch; one H100 (estimate, MFU 30-40%): "
            f"{h100[1]:.2f}-{h100[0]:.2f} h per {result['epochs']}-epoch fit")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    torch.set_num_threads(options.threads)
    shapes = [read_fit_shape(path) for path in options.configs]
    load_before = os.getloadavg()
    results = []
    for shape in shapes:
        result = estimate_cost(HUB_ARCHITECTURES[shape.model], shape, options.train_examples, options.steps,
                               options.warmup)
        print(_summary_line(result))
        results.append(result)
    summary = {
        "bench": "gpu_cost_estimate",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "precision": "fp32 on CPU (the configs train in bf16-mixed on the GPU)",
        "results": results,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
