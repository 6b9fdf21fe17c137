"""What the shipped mitigation plugins cost, side by side in one run.

1. Training throughput (optimizer steps per second) of the tiny BERT on synthetic bios with no plugin
   and with each of ``reweighting``, ``resampling`` (undersample), ``resampling`` (balanced) and
   ``cooccurrence``: the same model config, data, batch size and number of steps; each run first
   takes ``--warmup`` steps untimed, then times ``--steps`` steps. Variants are interleaved and
   repeated ``--repeats`` times; the ratio is median(variant) / median(no plugin).
2. Counterfactual augmentation (the ``counterfactual_augmentation`` plugin's ``transform``,
   two-sided, gender with first names) of a ``--corpus-mb`` MB corpus of synthetic bios, against
   tokenizing that corpus with the MiniLM fast tokenizer the way the data module does
   (``Dataset.map``, batches of 2048). Interleaved and repeated; ratio of medians.

Prints one line per measurement and ends with one JSON line::

    {"bench": "mitigations", "reweighting_vs_none": ..., "resampling_vs_none": ..., "cda_cost_vs_tokenize": ...}

Run: ``python benchmarks/bench_mitigations.py`` (about 5 minutes on 2 busy CPU cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import datasets  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from lightning_bias_plugins.downstream.cooccurrence import CooccurrenceControl  # noqa: E402
from lightning_bias_plugins.downstream.counterfactual_augmentation import CounterfactualAugmentation  # noqa: E402
from lightning_bias_plugins.downstream.resampling import Resampling  # noqa: E402
from lightning_bias_plugins.downstream.reweighting import Reweighting  # noqa: E402

from lightning_bias.data.datamodule import BiasDataModule  # noqa: E402
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosOptions  # noqa: E402
from lightning_bias.data.synthetic_bios import generate_bios  # noqa: E402
from lightning_bias.mitigation import Mitigation  # noqa: E402
from lightning_bias.models.classifier import SequenceClassifier  # noqa: E402
from lightning_bias.models.pretrained import load_tokenizer  # noqa: E402

TINY_BERT = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}

VARIANTS: dict[str, Callable[[], list[Mitigation]]] = {
    "none": list,
    "reweighting": lambda: [Reweighting("kamiran_calders")],
    "resampling": lambda: [Resampling("undersample")],
    "resampling_balanced": lambda: [Resampling("balanced")],
    "cooccurrence": lambda: [CooccurrenceControl(group=1, rate=0.5)],  # group 1 = female
}


class StepTimer(pl.Callback):
    """Wall time from the end of the last warm-up step to the end of the last timed step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def steps_per_second(variant: str, args: argparse.Namespace, cache_dir: str) -> float:
    """One training run of ``variant``: timed steps per second."""
    pl.seed_everything(0, verbose=False)
    datamodule = BiasDataModule(
        synthetic_bios=SyntheticBiosOptions(num_examples=args.examples, ambiguity=0.5),
        batch_size=32, max_length=64, cache_dir=cache_dir,
    )
    model = SequenceClassifier(model_config=TINY_BERT, tokenizer="minilm", learning_rate=1e-3, export_hf=False)
    timer = StepTimer(args.warmup)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=args.warmup + args.steps, limit_val_batches=0,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False, callbacks=[*VARIANTS[variant](), timer],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=datamodule)
    return args.steps / (timer.end - timer.start)


def corpus(megabytes: float) -> datasets.Dataset:
    """Synthetic bios (text, label, group with names) totalling about ``megabytes`` MB of text."""
    texts, labels, groups = [], [], []
    size, seed = 0, 0
    while size < megabytes * 1e6:
        bios = generate_bios(5000, seed=seed)
        texts += bios.texts
        labels += list(bios.labels)
        groups += list(bios.groups)
        size += sum(len(text.encode()) for text in bios.texts)
        seed += 1
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(bios.label_names)),
                                  "group": datasets.ClassLabel(names=list(bios.group_names))})
    return datasets.Dataset.from_dict({"text": texts, "label": labels, "group": groups}, features=features)


def time_cda(table: datasets.Dataset, plugin: CounterfactualAugmentation) -> float:
    start = time.perf_counter()
    plugin.transform(table, "train")
    return time.perf_counter() - start


def time_tokenize(table: datasets.Dataset, tokenizer) -> float:
    def encode(batch: dict[str, list]) -> dict[str, list]:
        return {"input_ids": tokenizer(batch["text"], truncation=True, max_length=512)["input_ids"]}

    start = time.perf_counter()
    table.map(encode, batched=True, batch_size=2048, remove_columns=["text"], keep_in_memory=True,
              load_from_cache_file=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000, help="synthetic bios (70%% train)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--corpus-mb", type=float, default=10.0)
    parser.add_argument("--corpus-repeats", type=int, default=3)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(1)  # the same for every variant; less sensitive to other load on the machine

    with tempfile.TemporaryDirectory() as cache_dir:
        steps_per_second("none", args, cache_dir)  # fill the tokenization cache, warm imports
        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for repeat in range(args.repeats):
            order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                rates[variant].append(steps_per_second(variant, args, cache_dir))
                print(f"train repeat {repeat} {variant:<20} {rates[variant][-1]:7.2f} steps/s", flush=True)
    median = {variant: statistics.median(values) for variant, values in rates.items()}
    for variant, value in median.items():
        print(f"train median {variant:<20} {value:7.2f} steps/s  ratio vs none {value / median['none']:.3f}")

    table = corpus(args.corpus_mb)
    megabytes = sum(len(text.encode()) for text in table["text"]) / 1e6
    tokenizer = load_tokenizer("minilm")
    plugin = CounterfactualAugmentation()
    cda, tokenize = [], []
    for repeat in range(args.corpus_repeats):
        for name in (("cda", "tokenize") if repeat % 2 == 0 else ("tokenize", "cda")):
            if name == "cda":
                cda.append(time_cda(table, plugin))
            else:
                tokenize.append(time_tokenize(table, tokenizer))
            print(f"corpus repeat {repeat} {name:<9} {(cda if name == 'cda' else tokenize)[-1]:6.2f} s "
                  f"({megabytes:.1f} MB, {len(table)} texts)", flush=True)
    cda_cost = statistics.median(cda) / statistics.median(tokenize)
    print(f"corpus median cda {statistics.median(cda):.2f} s, tokenize {statistics.median(tokenize):.2f} s")

    result = {
        "bench": "mitigations",
        **{f"{variant}_vs_none": round(median[variant] / median["none"], 3) for variant in VARIANTS if variant != "none"},
        "cda_cost_vs_tokenize": round(cda_cost, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
