"""Training throughput: hand-written PyTorch loop vs Hugging Face ``Trainer`` vs lightning_bias.

All three train the same model (same initial weights), on the same batches in the same order
(each iterates a fresh copy of ``BiasDataModule``'s epoch-0 train loader, so data loading and
collation cost the same everywhere), for the same number of optimizer steps, with
fused AdamW (HF ``Trainer``'s default) and a linear warm-up schedule. The first ``--warmup`` steps are not timed. Prints
samples/s for each and ends with one JSON line::

    {"bench": "train", "model": "tiny", "ours_vs_loop": 0.97, "ours_vs_hf_trainer": 1.05, ...}

Usage: python benchmarks/bench_train.py --model tiny --steps 60
       python benchmarks/bench_train.py --model minilm --steps 30
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402

from lightning_bias.data.datamodule import BiasDataModule  # noqa: E402
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions  # noqa: E402
from lightning_bias.models.classifier import SequenceClassifier  # noqa: E402

TINY = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}
LR, WEIGHT_DECAY, WARMUP_RATIO = 1e-4, 0.01, 0.1


def epoch0_batches(datamodule: BiasDataModule, steps: int, keys: tuple[str, ...] | None = None):
    """The first ``steps`` batches of a fresh epoch-0 train loader, loaded lazily as a runner asks."""
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(0)
    for _, batch in zip(range(steps), loader, strict=False):
        yield batch if keys is None else {k: batch[k] for k in keys}


def build(model_name: str, steps: int, batch_size: int) -> tuple[SequenceClassifier, BiasDataModule]:
    kwargs = {"model_config": TINY, "tokenizer": "minilm"} if model_name == "tiny" else {"model": model_name}
    module = SequenceClassifier(**kwargs, learning_rate=LR, weight_decay=WEIGHT_DECAY, warmup_ratio=WARMUP_RATIO,
                                export_hf=False)
    datamodule = BiasDataModule(
        synthetic_bios=SyntheticBiosOptions(num_examples=max(steps * batch_size * 2, 600)),
        batch_size=batch_size, max_length=64, cache_dir=tempfile.mkdtemp(),
    )
    datamodule.connect(module.tokenizer)
    datamodule.setup("fit")
    module.label_names, module.group_names = list(datamodule.info.label_names), list(datamodule.info.group_names)
    module.configure_model()
    return module, datamodule


def optimizer_for(model: torch.nn.Module, steps: int) -> tuple[torch.optim.Optimizer, object]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=LR, fused=True)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(steps * WARMUP_RATIO), steps)


def run_loop(net: torch.nn.Module, datamodule: BiasDataModule, steps: int, warmup: int) -> float:
    net.train()
    optimizer, scheduler = optimizer_for(net, steps)
    start = None
    for step, batch in enumerate(epoch0_batches(datamodule, steps)):
        if step == warmup:
            start = time.perf_counter()
        logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(logits.float(), batch["labels"], reduction="none").mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


class LazyBatches(torch.utils.data.IterableDataset):
    """An iterable dataset over a generator of ready batches, so HF Trainer loads them as it steps."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def run_hf_trainer(net: torch.nn.Module, datamodule: BiasDataModule, steps: int, warmup: int) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class StepClock(TrainerCallback):
        start: float | None = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                StepClock.start = time.perf_counter()

    class FixedBatches(Trainer):
        def get_train_dataloader(self):
            return torch.utils.data.DataLoader(
                LazyBatches(epoch0_batches(datamodule, steps, ("input_ids", "attention_mask", "labels"))),
                batch_size=None,
            )

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=steps, learning_rate=LR, weight_decay=WEIGHT_DECAY,
            warmup_steps=int(steps * WARMUP_RATIO), lr_scheduler_type="linear", logging_strategy="no",
            save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
        )
        trainer = FixedBatches(model=net, args=args, callbacks=[StepClock()])
        trainer.train()
    return time.perf_counter() - StepClock.start


def run_ours(module: SequenceClassifier, datamodule: BiasDataModule, steps: int, warmup: int) -> float:
    class StepClock(pl.Callback):
        start: float | None = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == warmup and StepClock.start is None:
                StepClock.start = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            StepClock.end = time.perf_counter()

    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[StepClock()], use_distributed_sampler=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=datamodule)
    return StepClock.end - StepClock.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="'tiny' (random BERT, hidden 32) or a model name/path ('minilm')")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="alternate the three runners this many times")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    pl.seed_everything(0, verbose=False)

    module, datamodule = build(args.model, args.steps, args.batch_size)
    initial = copy.deepcopy(module.net.state_dict())
    timed_samples = sum(len(b["labels"]) for b in list(epoch0_batches(datamodule, args.steps))[args.warmup:])
    times: dict[str, list[float]] = {"loop": [], "hf_trainer": [], "ours": []}
    for _ in range(args.repeats):
        for name in times:
            module.net.load_state_dict(initial)
            if name == "loop":
                times[name].append(run_loop(module.net, datamodule, args.steps, args.warmup))
            elif name == "hf_trainer":
                times[name].append(run_hf_trainer(module.net, datamodule, args.steps, args.warmup))
            else:
                times[name].append(run_ours(module, datamodule, args.steps, args.warmup))
    best = {name: min(values) for name, values in times.items()}
    for name, seconds in best.items():
        print(f"{name:>10}: {timed_samples / seconds:8.1f} samples/s  (best of {args.repeats}: {seconds:.2f} s "
              f"for {args.steps - args.warmup} steps)")
    print(json.dumps({
        "bench": "train", "model": args.model, "steps": args.steps, "batch_size": args.batch_size,
        "samples_per_s": {k: round(timed_samples / v, 1) for k, v in best.items()},
        "ours_vs_loop": round(best["loop"] / best["ours"], 3),
        "ours_vs_hf_trainer": round(best["hf_trainer"] / best["ours"], 3),
    }))


if __name__ == "__main__":
    main()
