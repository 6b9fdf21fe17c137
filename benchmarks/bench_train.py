"""Training throughput: a hand-written PyTorch loop vs Hugging Face ``Trainer`` vs lightning_bias, per model.

Synthetic mode (default): all three train the same model (same initial weights) on the same batches
in the same order (each iterates a fresh epoch-0 loader of one ``BiasDataModule``), for the same
number of steps, with fused AdamW and a linear warm-up. Ours runs as the CLI does: exact resume
(``ExactResume``, a resumable loader), the rank watchdog, the mitigations' loss hook and a CSV logger.

Variants (``--variants``): ``plain``; ``bf16`` (bf16 autocast: ``torch.autocast`` in the loop,
``bf16=True`` in HF, ``precision="bf16-mixed"`` in ours); ``compile`` (``torch.compile`` of the
network: ``net.compile()`` in the loop, ``torch_compile=True`` in HF, ``model.compile: true`` in ours).
Compile time is measured apart: the untimed warm-up steps minus as many steady steps.

Real-data mode (``--data stormfront``; needs ``LIGHTNING_BIAS_DATA`` or ``--data-root``): Stormfront
sentences, whose lengths vary. Ours with the batching of configs/toxicity/stormfront.yaml (length-grouped) against HF ``Trainer``
with its default (random order, padded to the longest row of each batch) and with
``group_by_length=True``; the same model, the same training rows, the same number of steps.

Runners alternate, best of ``--repeats``. The last line of stdout is the one JSON object; no other
line starts with ``{`` (the runners' own printing goes to stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from pytorch_lightning.loggers import CSVLogger  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402

from lightning_bias.data.datamodule import BiasDataModule  # noqa: E402
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions  # noqa: E402
from lightning_bias.models.classifier import SequenceClassifier  # noqa: E402
from lightning_bias.training.exact_resume import ExactResume  # noqa: E402
from lightning_bias.training.rank_watchdog import with_rank_watchdog  # noqa: E402

TINY = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}
LR, WEIGHT_DECAY, WARMUP_RATIO = 1e-4, 0.01, 0.1
VARIANTS = ("plain", "bf16", "compile")
BATCH_KEYS = ("input_ids", "attention_mask", "labels")


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # set from --clock in main


@dataclass
class StepTimes:
    """When a run started and when each of its optimizer steps ended, by ``clock``."""

    start: float = 0.0
    ends: list[float] = field(default_factory=list)

    def steady_seconds(self, warmup: int) -> float:
        """Time of the steps after the first ``warmup`` (each with its batch's loading)."""
        return self.ends[-1] - self.ends[warmup - 1]

    def warmup_seconds(self, warmup: int) -> float:
        """Time from the start to the end of step ``warmup`` (set-up of the loop, compiling)."""
        return self.ends[warmup - 1] - self.start


@dataclass
class Setting:
    """One benchmark case: the model, the data module, the steps and the variant."""

    model: str
    datamodule: BiasDataModule
    steps: int
    warmup: int
    variant: str
    initial: dict[str, torch.Tensor]
    template: torch.nn.Module  # the network with the initial weights, copied for the loop and HF Trainer


# --- building ---------------------------------------------------------------------------------------


def new_module(model: str, compile_network: bool = False) -> SequenceClassifier:
    kwargs = {"model_config": TINY, "tokenizer": "minilm"} if model == "tiny" else {"model": model}
    return SequenceClassifier(**kwargs, learning_rate=LR, weight_decay=WEIGHT_DECAY, warmup_ratio=WARMUP_RATIO,
                              export_hf=False, compile=compile_network)


def synthetic_datamodule(steps: int, batch_size: int) -> BiasDataModule:
    return BiasDataModule(synthetic_bios=SyntheticBiosOptions(num_examples=max(steps * batch_size * 2, 600)),
                          batch_size=batch_size, max_length=64, cache_dir=tempfile.mkdtemp())


def stormfront_datamodule(batch_size: int, max_length: int, data_root: str | None) -> BiasDataModule:
    return BiasDataModule(source="stormfront", source_options={"data_root": data_root} if data_root else None,
                          batch_size=batch_size, max_length=max_length, cache_dir=tempfile.mkdtemp(),
                          group_by_length=True)  # as configs/toxicity/stormfront.yaml batches


def prepared(module: SequenceClassifier, datamodule: BiasDataModule) -> SequenceClassifier:
    """``module`` with the data's labels and its network built, as ``Trainer.fit`` would."""
    datamodule.connect(module.tokenizer)
    if not datamodule.tokenized:
        datamodule.setup("fit")
    module.label_names, module.group_names = list(datamodule.info.label_names), list(datamodule.info.group_names)
    module.configure_model()
    return module


def epoch0_batches(datamodule: BiasDataModule, steps: int) -> Iterator[dict[str, torch.Tensor]]:
    """The first ``steps`` batches of a fresh epoch-0 train loader, loaded lazily as a runner asks."""
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    for _, batch in zip(range(steps), loader, strict=False):
        yield {k: batch[k] for k in BATCH_KEYS}


def optimizer_for(model: torch.nn.Module, steps: int) -> tuple[torch.optim.Optimizer, object]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=LR, fused=True)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(steps * WARMUP_RATIO), steps)


def fresh_network(setting: Setting) -> torch.nn.Module:
    if setting.variant == "compile":
        torch._dynamo.reset()  # every runner pays its own compile
    net = copy.deepcopy(setting.template)
    net.train()
    return net


# --- the three runners ------------------------------------------------------------------------------


def run_loop(setting: Setting) -> StepTimes:
    net = fresh_network(setting)
    if setting.variant == "compile":
        net.compile()
    optimizer, scheduler = optimizer_for(net, setting.steps)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.variant == "bf16")
    times = StepTimes(start=clock())
    for batch in epoch0_batches(setting.datamodule, setting.steps):
        with autocast:
            logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(logits.float(), batch["labels"], reduction="none").mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        times.ends.append(clock())
    return times


class LazyBatches(torch.utils.data.IterableDataset):
    """An iterable dataset over a generator of ready batches, so HF Trainer loads them as it steps."""

    def __init__(self, batches: Iterator[dict[str, torch.Tensor]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return iter(self.batches)


def run_hf_trainer(setting: Setting, own_batching: str | None = None) -> StepTimes:
    """HF ``Trainer`` on ``setting``'s batches, or with ``own_batching`` (``"default"`` or ``"group_by_length"``)
    on the same training rows, batched by HF's own sampler and ``DataCollatorWithPadding``."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    times = StepTimes()

    class StepClock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            times.start = clock()

        def on_step_end(self, args, state, control, **kwargs):
            times.ends.append(clock())

    class GivenBatches(Trainer):
        def get_train_dataloader(self):
            batches = LazyBatches(epoch0_batches(setting.datamodule, setting.steps))
            return torch.utils.data.DataLoader(batches, batch_size=None)

    datamodule = setting.datamodule
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=setting.steps, learning_rate=LR, weight_decay=WEIGHT_DECAY,
            warmup_steps=int(setting.steps * WARMUP_RATIO), lr_scheduler_type="linear", save_strategy="no",
            report_to=[], disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, seed=datamodule.seed,
            per_device_train_batch_size=datamodule.batch_size,
            train_sampling_strategy="group_by_length" if own_batching == "group_by_length" else "random",
            bf16=setting.variant == "bf16", torch_compile=setting.variant == "compile",
        )
        net = fresh_network(setting)
        if own_batching is None:
            trainer = GivenBatches(model=net, args=args, callbacks=[StepClock()])
        else:
            rows = datamodule.tokenized["train"].select_columns(["input_ids", "label"]).rename_column("label", "labels")
            trainer = Trainer(model=net, args=args, train_dataset=rows, callbacks=[StepClock()],
                              data_collator=DataCollatorWithPadding(datamodule.tokenizer))
        trainer.train()
    return times


OURS_PIECES = ("exact_resume", "rank_watchdog", "csv_logger")


def run_ours(setting: Setting, pieces: tuple[str, ...] = OURS_PIECES, log_every_n_steps: int = 50) -> StepTimes:
    """``SequenceClassifier`` under a Lightning ``Trainer`` with the callbacks and logger the CLI adds (``pieces``)."""
    times = StepTimes()

    class StepClock(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            times.start = clock()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            times.ends.append(clock())

    if setting.variant == "compile":
        torch._dynamo.reset()
    module = prepared(new_module(setting.model, setting.variant == "compile"), setting.datamodule)
    module.net.load_state_dict(setting.initial)
    callbacks = [ExactResume()] if "exact_resume" in pieces else []
    callbacks = with_rank_watchdog(callbacks) if "rank_watchdog" in pieces else callbacks
    with tempfile.TemporaryDirectory() as out:
        trainer = pl.Trainer(
            accelerator="cpu", devices=1, max_steps=setting.steps, limit_val_batches=0, num_sanity_val_steps=0,
            logger=CSVLogger(out) if "csv_logger" in pieces else False, log_every_n_steps=log_every_n_steps,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            use_distributed_sampler=False, precision="bf16-mixed" if setting.variant == "bf16" else "32-true",
            callbacks=[*callbacks, StepClock()],
        )
        trainer.fit(module, datamodule=setting.datamodule)
    return times


# --- one benchmark case -------------------------------------------------------------------------------


def best_of(runners: dict[str, Callable[[], StepTimes]], repeats: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Alternate the runners ``repeats`` times; per runner the best steady time and the warm-up time."""
    steady: dict[str, list[float]] = {name: [] for name in runners}
    first: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            with contextlib.redirect_stdout(sys.stderr):  # HF prints its metrics dicts; only our JSON is stdout
                times = runner()
            steady[name].append(times.steady_seconds(warmup))
            first[name].append(times.warmup_seconds(warmup))
    return {name: {"steady_s": min(steady[name]), "warmup_s": min(first[name]), "steady_runs": steady[name]}
            for name in runners}


def paired_ratio(best: dict[str, dict[str, Any]], baseline: str) -> dict[str, object]:
    """The repeat-by-repeat ratio baseline time / ours time (runs taken side by side, so drifts in the machine's
    speed cancel), with their mean and a 95% t interval over the repeats (none with one repeat)."""
    from scipy import stats

    ratios = [b / o for b, o in zip(best[baseline]["steady_runs"], best["ours"]["steady_runs"], strict=True)]
    mean = sum(ratios) / len(ratios)
    result: dict[str, object] = {"runs": [round(r, 3) for r in ratios], "mean": round(mean, 3)}
    if len(ratios) > 1:
        low, high = stats.t.interval(0.95, len(ratios) - 1, loc=mean, scale=stats.sem(ratios))
        result["ci95"] = [round(float(low), 3), round(float(high), 3)]
    return result


def synthetic_case(model: str, variant: str, args: argparse.Namespace) -> dict[str, object]:
    pl.seed_everything(0, verbose=False)
    datamodule = synthetic_datamodule(args.steps, args.batch_size)
    template = prepared(new_module(model), datamodule).net
    setting = Setting(model, datamodule, args.steps, args.warmup, variant,
                      copy.deepcopy(template.state_dict()), template)
    samples = sum(len(b["labels"]) for b in list(epoch0_batches(datamodule, args.steps))[args.warmup:])
    runners = {"loop": lambda: run_loop(setting), "hf_trainer": lambda: run_hf_trainer(setting),
               "ours": lambda: run_ours(setting)}
    best = best_of(runners, args.repeats, args.warmup)
    result: dict[str, object] = {
        "samples_per_s": {name: round(samples / b["steady_s"], 1) for name, b in best.items()},
        "ours_vs_loop": round(best["loop"]["steady_s"] / best["ours"]["steady_s"], 3),
        "ours_vs_hf_trainer": round(best["hf_trainer"]["steady_s"] / best["ours"]["steady_s"], 3),
        "paired": {"ours_vs_loop": paired_ratio(best, "loop"), "ours_vs_hf_trainer": paired_ratio(best, "hf_trainer")},
    }
    if variant == "compile":  # the warm-up steps minus as many steady steps: the one-off cost of compiling
        per_step = {name: b["steady_s"] / (args.steps - args.warmup) for name, b in best.items()}
        result["compile_s"] = {name: round(b["warmup_s"] - args.warmup * per_step[name], 2) for name, b in best.items()}
    return result


def stormfront_case(model: str, args: argparse.Namespace) -> dict[str, object]:
    pl.seed_everything(0, verbose=False)
    datamodule = stormfront_datamodule(args.batch_size, args.max_length, args.data_root)
    template = prepared(new_module(model), datamodule).net
    steps = args.steps or math.ceil(len(datamodule.tokenized["train"]) / args.batch_size)  # one epoch by default
    setting = Setting(model, datamodule, steps, args.warmup, "plain", copy.deepcopy(template.state_dict()), template)
    runners = {"hf_trainer": lambda: run_hf_trainer(setting, "default"),
               "hf_trainer_group_by_length": lambda: run_hf_trainer(setting, "group_by_length"),
               "ours": lambda: run_ours(setting)}
    best = best_of(runners, args.repeats, args.warmup)
    samples = (steps - args.warmup) * args.batch_size
    return {
        "steps": steps, "rows": len(datamodule.tokenized["train"]),
        "samples_per_s": {name: round(samples / b["steady_s"], 1) for name, b in best.items()},
        "ours_vs_hf_trainer": round(best["hf_trainer"]["steady_s"] / best["ours"]["steady_s"], 3),
        "ours_vs_hf_trainer_group_by_length": round(
            best["hf_trainer_group_by_length"]["steady_s"] / best["ours"]["steady_s"], 3),
    }


def overhead_case(args: argparse.Namespace) -> dict[str, object]:
    """Per-step cost of each piece of ours, on the tiny model with batches of 2 so that the framework dominates."""
    pl.seed_everything(0, verbose=False)
    datamodule = synthetic_datamodule(args.steps, 2)
    template = prepared(new_module("tiny"), datamodule).net
    setting = Setting("tiny", datamodule, args.steps, args.warmup, "plain", copy.deepcopy(template.state_dict()),
                      template)
    runners = {
        "loop": lambda: run_loop(setting),
        "lightning": lambda: run_ours(setting, pieces=()),
        "+exact_resume": lambda: run_ours(setting, pieces=("exact_resume",)),
        "+rank_watchdog": lambda: run_ours(setting, pieces=("exact_resume", "rank_watchdog")),
        "+csv_logger (ours)": lambda: run_ours(setting),
        "ours, log_every_n_steps=1": lambda: run_ours(setting, log_every_n_steps=1),
    }
    best = best_of(runners, args.repeats, args.warmup)
    per_step = {name: b["steady_s"] * 1000 / (args.steps - args.warmup) for name, b in best.items()}
    return {"ms_per_step": {name: round(ms, 3) for name, ms in per_step.items()},
            "ms_over_loop": {name: round(ms - per_step["loop"], 3) for name, ms in per_step.items()}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Examples: `python benchmarks/bench_train.py` (tiny and MiniLM, plain); "
        "`--quick` (tiny, a check in under 2 minutes); `--models tiny --variants plain,bf16,compile`; "
        "`--data stormfront --models tiny` (real data, lengths vary). The last stdout line is the JSON result.",
    )
    parser.add_argument("--models", default="tiny,minilm",
                        help="comma-separated: 'tiny' (random BERT, hidden 32) and/or a model name or path ('minilm')")
    parser.add_argument("--variants", default="plain", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--data", choices=("synthetic", "stormfront"), default="synthetic",
                        help="synthetic bios (the same batches for every runner) or the real Stormfront sentences")
    parser.add_argument("--overhead", action="store_true",
                        help="instead: the per-step cost of Lightning and of each piece of ours over the loop "
                        "(tiny model, batches of 2, 200 steps)")
    parser.add_argument("--data-root", help="data root for --data stormfront (default: LIGHTNING_BIAS_DATA)")
    parser.add_argument("--steps", type=int, help="optimizer steps per run (default 80 tiny, 20 other models; "
                        "stormfront: one epoch)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed first steps (default: steps // 8, >= 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 tiny, 16 other models")
    parser.add_argument("--max-length", type=int, default=64, help="token truncation for --data stormfront")
    parser.add_argument("--repeats", type=int, default=3, help="alternate the runners this many times, keep the best")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (use 1 on a loaded machine)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="'wall' time, or this process's 'cpu' time: with --threads 1 it ignores the time other "
                        "jobs take the CPU from the benchmark, so ratios hold on a loaded machine")
    parser.add_argument("--quick", action="store_true", help="tiny only, 24 steps, 1 repeat: a check in < 2 minutes")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.steps, args.repeats = "tiny", args.steps or 24, 1
    args.models = [m for m in args.models.split(",") if m]
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    global clock
    args = parse_args(argv)
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    results: dict[str, object] = {}
    if args.overhead:
        args.steps, args.warmup = args.steps or 200, args.warmup or 20
        results["overhead"] = overhead_case(args)
        print(f"overhead: {results['overhead']}")
        args.models = []
    for model in args.models:
        case = argparse.Namespace(**vars(args))
        default_steps = None if args.data == "stormfront" else (80 if model == "tiny" else 20)
        case.steps = args.steps or default_steps
        case.batch_size = args.batch_size or (32 if model == "tiny" else 16)
        case.warmup = args.warmup if args.warmup is not None else max((case.steps or 80) // 8, 2)
        if args.data == "stormfront":
            results[model] = stormfront_case(model, case)
            print(f"{model} stormfront: {results[model]}")
            continue
        for variant in args.variants:
            results[f"{model}/{variant}"] = synthetic_case(model, variant, case)
            print(f"{model} {variant}: {results[f'{model}/{variant}']}")
    print(json.dumps({"bench": "train", "data": "overhead" if args.overhead else args.data, "clock": args.clock,
                      "threads": args.threads, "repeats": args.repeats,
                      "load_average_1min": round(os.getloadavg()[0], 2), "results": results}))


if __name__ == "__main__":
    main()
