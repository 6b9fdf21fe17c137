"""Masked-LM training throughput: ours (Lightning) against a hand-written loop and the Hugging Face ``Trainer``.

All three train the same model initialisation on the same token blocks in the same order, with the
same masking (one ``MaskingCollator`` seed), AdamW settings and linear schedule, for the same number
of steps; each times the steps after ``--warmup`` (end of step ``warmup - 1`` to end of the last
step, data loading included). "Ours" is ``MaskedLanguageModel`` + ``CorpusDataModule`` under a
``pytorch_lightning.Trainer`` with logging, checkpointing, the progress bar, the intrinsic bias
measures and the export off, and ``sparse_prediction: false`` so that all three do exactly the
same computation (``model(**batch)``: the vocabulary projection at every position). The default
``sparse_prediction: true`` (projection at masked positions only, same loss) is timed separately.

Each measurement is repeated ``--repeats`` times, interleaved; a ratio is the median over repeats
of the ratio within one repeat (its runs are adjacent in time, which matters on a shared machine).
The mean losses printed on stderr agree when the runs compute the same thing. Ends with one JSON line, e.g.
``{"bench": "pretrain", "ours_vs_loop": 0.97, "ours_vs_hf_trainer": 1.05, ...}``.

    python benchmarks/bench_pretrain.py --model minilm --steps 30 --warmup 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.data import DataLoader, DistributedSampler  # noqa: E402
from transformers import AutoModelForMaskedLM, get_linear_schedule_with_warmup  # noqa: E402

from lightning_bias.data.corpus import CorpusDataModule, MaskingCollator  # noqa: E402
from lightning_bias.models.masked_lm import MaskedLanguageModel  # noqa: E402
from lightning_bias.models.pretrained import load_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = REPO.parent / "shared" / "data" / "wikitext2_raw" / "wiki.test.raw.gz"
TINY = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 37, "max_position_embeddings": 128}
LEARNING_RATE, WEIGHT_DECAY, SEED = 5e-5, 0.01, 0


def build_module(model: str, sparse: bool) -> MaskedLanguageModel:
    kwargs: dict[str, Any] = {"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "measure_intrinsic": False,
                              "export_dir": None, "sparse_prediction": sparse}
    if model == "tiny":
        return MaskedLanguageModel(model_config=dict(TINY), tokenizer="minilm", **kwargs)
    return MaskedLanguageModel(model=model, **kwargs)


def build_data(args: argparse.Namespace) -> CorpusDataModule:
    path = str(WIKITEXT) if WIKITEXT.is_file() else None
    if path is None:
        raise SystemExit(f"{WIKITEXT} is absent: the benchmark corpus lives in ../shared/data")
    data = CorpusDataModule(path=path, block_size=args.block_size, batch_size=args.batch_size, seed=SEED,
                            max_lines=args.max_lines)
    data.connect(load_tokenizer("minilm"))
    data.setup("fit")
    return data


def optimizer_and_schedule(model: torch.nn.Module, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}], lr=LEARNING_RATE
    )
    return optimizer, get_linear_schedule_with_warmup(optimizer, 0, steps)


class _StepClock(pl.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.losses = warmup, 0.0, 0.0, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0:
            torch.manual_seed(SEED)  # the same dropout draws in all three: seeded right before the first forward

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def run_ours(args, data: CorpusDataModule, init: dict[str, torch.Tensor], sparse: bool) -> dict[str, float]:
    module = build_module(args.model, sparse)
    module.net.load_state_dict(init)
    clock = _StepClock(args.warmup)
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=args.steps, accelerator="auto", devices=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, callbacks=[clock], default_root_dir=root,
            num_sanity_val_steps=0, limit_val_batches=0,
        )
        trainer.fit(module, data)
    return {"steps_per_s": (args.steps - args.warmup) / (clock.end - clock.start), "mean_loss": _mean(clock.losses)}


def run_loop(args, data: CorpusDataModule, init: dict[str, torch.Tensor]) -> dict[str, float]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForMaskedLM.from_config(build_module(args.model, False).net.config)
    model.load_state_dict(init)
    model.to(device).train()
    optimizer, schedule = optimizer_and_schedule(model, args.steps)
    table = data.tokenized["train"]
    sampler = DistributedSampler(table, num_replicas=1, rank=0, shuffle=True, seed=SEED)
    loader = DataLoader(table, batch_size=args.batch_size, sampler=sampler, collate_fn=data.train_collator())
    losses, step, start, end = [], 0, 0.0, 0.0
    epoch = 0
    while step < args.steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            if step == 0:
                torch.manual_seed(SEED)
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            if step == args.warmup:
                start = time.perf_counter()
            end = time.perf_counter()
            if step == args.steps:
                break
        epoch += 1
    return {"steps_per_s": (args.steps - args.warmup) / (end - start), "mean_loss": _mean(losses)}


def run_hf_trainer(args, data: CorpusDataModule, init: dict[str, torch.Tensor]) -> dict[str, float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = AutoModelForMaskedLM.from_config(build_module(args.model, False).net.config)
    model.load_state_dict(init)
    table = data.tokenized["train"]

    class SameOrderTrainer(Trainer):
        def _get_train_sampler(self, *unused: Any, **unused_kw: Any) -> DistributedSampler:
            return DistributedSampler(table, num_replicas=1, rank=0, shuffle=True, seed=SEED)

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.start = self.end = 0.0

        def on_step_begin(self, training_args, state, control, **kwargs):
            if state.global_step == 0:
                torch.manual_seed(SEED)

        def on_step_end(self, training_args, state, control, **kwargs):
            if state.global_step == args.warmup:
                self.start = time.perf_counter()
            self.end = time.perf_counter()

    clock = Clock()
    with tempfile.TemporaryDirectory() as root:
        training_args = TrainingArguments(
            output_dir=root, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, warmup_steps=0, lr_scheduler_type="linear",
            max_grad_norm=0.0, logging_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True,
            remove_unused_columns=False, dataloader_num_workers=0, seed=SEED, data_seed=SEED,
        )
        trainer = SameOrderTrainer(model=model, args=training_args, train_dataset=table,
                                   data_collator=MaskingCollator(data.tokenizer, data.mlm_probability, seed=SEED),
                                   callbacks=[clock])
        result = trainer.train()
    return {"steps_per_s": (args.steps - args.warmup) / (clock.end - clock.start),
            "mean_loss": float(result.training_loss)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", help="'minilm', 'tiny', a hub name or a checkpoint dir")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--max-lines", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.steps:
        parser.error("need 0 < --warmup < --steps")
    transformers.logging.set_verbosity_error()
    pl.seed_everything(SEED, verbose=False)
    data = build_data(args)
    init = {k: v.detach().clone() for k, v in build_module(args.model, False).net.state_dict().items()}
    runs: dict[str, list[dict[str, float]]] = {"loop": [], "ours": [], "hf_trainer": [], "ours_sparse": []}
    for _ in range(args.repeats):
        runs["loop"].append(run_loop(args, data, init))
        runs["ours"].append(run_ours(args, data, init, sparse=False))
        runs["hf_trainer"].append(run_hf_trainer(args, data, init))
        runs["ours_sparse"].append(run_ours(args, data, init, sparse=True))
    best = {name: max(r["steps_per_s"] for r in results) for name, results in runs.items()}

    def ratio(name: str, reference: str) -> float:
        """Median over repeats of the per-repeat ratio (runs of one repeat are adjacent in time)."""
        ratios = sorted(a["steps_per_s"] / b["steps_per_s"] for a, b in zip(runs[name], runs[reference], strict=True))
        middle = len(ratios) // 2
        return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2

    tokens = args.batch_size * args.block_size
    detail = {
        "model": args.model, "steps": args.steps, "timed_steps": args.steps - args.warmup,
        "batch_size": args.batch_size, "block_size": args.block_size, "repeats": args.repeats,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu x{torch.get_num_threads()}",
        "platform": platform.platform(), "torch": torch.__version__, "transformers": transformers.__version__,
        "pytorch_lightning": pl.__version__,
        "best_steps_per_s": best, "best_tokens_per_s": {k: v * tokens for k, v in best.items()},
        "steps_per_s": {name: [round(r["steps_per_s"], 4) for r in results] for name, results in runs.items()},
        "mean_loss": {name: [round(r["mean_loss"], 4) for r in results] for name, results in runs.items()},
    }
    print(json.dumps(detail, indent=2), file=sys.stderr)
    summary = {
        "bench": "pretrain",
        "model": args.model,
        "ours_vs_loop": round(ratio("ours", "loop"), 3),
        "ours_vs_hf_trainer": round(ratio("ours", "hf_trainer"), 3),
        "ours_sparse_vs_loop": round(ratio("ours_sparse", "loop"), 3),
        "ours_sparse_vs_hf_trainer": round(ratio("ours_sparse", "hf_trainer"), 3),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
