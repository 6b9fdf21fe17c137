"""Token lengths of real bios: the evidence for ``data.max_length`` in configs/gpu/bias_in_bios_*.yaml.

Tokenizes the bios of the shared Bias in Bios subset (``bias_in_bios_subset/``: the 339 gold-labelled bios, in
the hub's ``hard_text`` form, and the bios with a classifier's predicted occupation; distinct texts only) and
prints, for the gold bios and for all of them, the median, the 95th percentile and the share of bios longer than
``--max-length`` tokens (special tokens included), each with a seeded percentile-bootstrap 95% interval.

The default tokenizer is the packaged MiniLM's, whose WordPiece vocabulary is bert-base-uncased's (30,522
entries, lower-cased), so the lengths are bert-base-uncased's; ``--tokenizer`` takes any name
``lightning_bias`` accepts (a hub name needs the network or a local cache). The last stdout line is a JSON object.

    python benchmarks/gpu/token_lengths.py
    python benchmarks/gpu/token_lengths.py --tokenizer roberta-base     # where the hub can be reached
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lightning_bias.models.pretrained import MINILM_ALIAS, load_tokenizer

GOLD_FILE = "biosbias.csv"
PREDICTED_FILES = ("biosbias_confident.csv", "biosbias_not_confident.csv")


def read_bios(subset_dir: Path) -> dict[str, list[str]]:
    """The distinct bio texts of the subset: ``gold`` (the gold-labelled bios) and ``all`` (every file)."""
    texts: dict[str, list[str]] = {}
    for name in (GOLD_FILE, *PREDICTED_FILES):
        path = subset_dir / name
        if not path.is_file():
            raise ValueError(f"{path} is missing: pass --data-root, the folder that holds bias_in_bios_subset/")
        with path.open(newline="", encoding="utf-8") as handle:
            texts[name] = [row["text"] for row in csv.DictReader(handle)]
    every = [text for name in (GOLD_FILE, *PREDICTED_FILES) for text in texts[name]]
    return {"gold": list(dict.fromkeys(texts[GOLD_FILE])), "all": list(dict.fromkeys(every))}


def length_summary(lengths: np.ndarray, max_length: int, resamples: int, seed: int) -> dict[str, object]:
    """Median, 95th percentile and share above ``max_length`` of ``lengths``, with percentile-bootstrap 95% intervals."""
    rng = np.random.default_rng(seed)
    draws = lengths[rng.integers(0, len(lengths), size=(resamples, len(lengths)))]
    statistics = {
        "median": (np.median(lengths), np.median(draws, axis=1)),
        "p95": (np.percentile(lengths, 95), np.percentile(draws, 95, axis=1)),
        f"share_over_{max_length}": ((lengths > max_length).mean(), (draws > max_length).mean(axis=1)),
    }
    summary: dict[str, object] = {"n": int(len(lengths)), "max": int(lengths.max()), "mean": float(lengths.mean())}
    for name, (point, boot) in statistics.items():
        low, high = np.percentile(boot, [2.5, 97.5])
        summary[name] = [float(point), float(low), float(high)]
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"),
                        help="the folder that holds bias_in_bios_subset/ (default ../shared/data)")
    parser.add_argument("--tokenizer", default=MINILM_ALIAS)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    options = parse_args(argv)
    tokenizer = load_tokenizer(options.tokenizer)
    result: dict[str, object] = {"tokenizer": options.tokenizer, "max_length": options.max_length}
    for name, texts in read_bios(options.data_root / "bias_in_bios_subset").items():
        lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
        result[name] = length_summary(lengths, options.max_length, options.resamples, options.seed)
        print(f"{name}: {result[name]}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
