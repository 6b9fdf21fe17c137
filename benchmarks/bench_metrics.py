"""Benchmark: FairnessMetrics against fairlearn's MetricFrame, torchmetrics' BinaryFairness and the count floor.

Workload: N predictions in batches (default 2,000,000 in batches of 4,096).

* The floor of the count approach, C = 28, G = 2 and 8: per batch, the argmax of the same ``[B, C]``
  scores, the flat ``(group, target, prediction)`` index and one ``torch.bincount`` added into a
  ``[G * C * C]`` count, i.e. the least any count-based metric has to do; against ``FairnessMetrics``
  update + ``compute()`` (with its default ``validate_args=True``; ``False`` printed too).
* Intervals: update + ``compute()`` + ``report()`` with the default bootstrap (1,000 replicates drawn from
  the counts) against the same with ``bootstrap_replicates=0``; ``report()`` alone is timed too.

* Multiclass, C = 28 (BiasBios-sized), G = 2 and G = 8: ``FairnessMetrics`` (update on ``[B, C]`` scores,
  then ``compute()`` + ``report()``) against fairlearn computing the same per-class one-vs-rest TPR, FPR
  and selection-rate gaps with ``MetricFrame`` (one frame per class; fairlearn gets the argmax labels
  precomputed and untimed, since it has no batched interface). fairlearn 0.15 handles rows in Python
  (~9 s per frame per 200k rows here), i.e. tens of minutes at N = 2M, so it runs on the first
  ``--fairlearn-n`` rows (default 10,000) and is compared with ours timed on exactly those rows; ours is
  also timed at the full N, and fairlearn's full-N time is printed as a linear estimate.
* Binary, C = 2, same N and batches: ``FairnessMetrics`` (update on ``[B, 2]`` probabilities + compute)
  against ``torchmetrics.classification.BinaryFairness(task="all")`` (update on ``[B]`` probabilities +
  compute).

Both torch metrics run with their default ``validate_args=True`` and one intra-op thread (``--threads``;
on a shared 2-core machine more threads make torch's small-tensor ops tens of times slower). Ours and
torchmetrics take the best of ``--repeats`` runs; fairlearn runs once. The synced state size is that of
``FairnessMetrics(28, 8)`` without AUC histograms. The ratios against their targets are printed one per
line (``RATIO ...``), then one JSON object. About a minute on 2 CPU cores.

Run: ``python benchmarks/bench_metrics.py`` (``--n 200000`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import torch

from lightning_bias.metrics import FairnessMetrics


def make_multiclass(n: int, num_classes: int, num_groups: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, (n,), generator=generator)
    groups = torch.randint(0, num_groups, (n,), generator=generator)
    scores = torch.randn(n, num_classes, generator=generator)
    # a classifier that is right ~60% of the time, a bit more often for group 0
    boost = 3.0 + 0.5 * (groups == 0).float()
    scores[torch.arange(n), target] += boost * (torch.rand(n, generator=generator) < 0.6).float()
    return scores, target, groups


def make_binary(n: int, num_groups: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 2, (n,), generator=generator)
    groups = torch.randint(0, num_groups, (n,), generator=generator)
    positive = torch.sigmoid(torch.randn(n, generator=generator) + 1.5 * target - 0.3 * (groups % 2))
    return positive, target, groups


def batches(n: int, batch_size: int):
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def best_time(run, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_ours_multiclass(
    scores, target, groups, num_classes, num_groups, batch_size, validate_args=True, replicates=1000, report=True
):
    def run():
        metric = FairnessMetrics(
            num_classes, num_groups, validate_args=validate_args, bootstrap_replicates=replicates
        )
        for rows in batches(len(target), batch_size):
            metric.update(scores[rows], target[rows], groups[rows])
        return metric.compute(), (metric.report() if report else metric)

    return run


def run_count_floor(scores, target, groups, num_classes, num_groups, batch_size):
    """The least a count-based metric does: argmax, flat index and one bincount per batch."""
    cells = num_groups * num_classes * num_classes

    def run():
        counts = torch.zeros(cells, dtype=torch.int64)
        for rows in batches(len(target), batch_size):
            flat = (groups[rows] * num_classes + target[rows]) * num_classes + scores[rows].argmax(dim=1)
            counts += torch.bincount(flat, minlength=cells)
        return counts

    return run


def run_fairlearn_multiclass(pred_labels: np.ndarray, target: np.ndarray, groups: np.ndarray, num_classes: int):
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    def run():
        gaps = {"tpr": [], "fpr": [], "sel": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in range(num_classes):
                frame = MetricFrame(
                    metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "sel": selection_rate},
                    y_true=(target == c).astype(np.int8),
                    y_pred=(pred_labels == c).astype(np.int8),
                    sensitive_features=groups,
                )
                difference = frame.difference()
                for name in gaps:
                    gaps[name].append(float(difference[name]))
        return gaps

    return run


def run_ours_binary(positive, target, groups, num_groups, batch_size):
    two_column = torch.stack([1 - positive, positive], dim=1)

    def run():
        metric = FairnessMetrics(2, num_groups)
        for rows in batches(len(target), batch_size):
            metric.update(two_column[rows], target[rows], groups[rows])
        metric.compute()
        return metric

    return run


def run_torchmetrics_binary(positive, target, groups, num_groups, batch_size):
    from torchmetrics.classification import BinaryFairness

    def run():
        metric = BinaryFairness(num_groups=num_groups, task="all")
        for rows in batches(len(target), batch_size):
            metric.update(positive[rows], target[rows], groups[rows])
        return metric.compute()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=28)
    parser.add_argument("--groups", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fairlearn-n", type=int, default=10_000, help="rows given to fairlearn (slow)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: stable on shared CPUs)")
    parser.add_argument("--skip-fairlearn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, N={args.n:,}, batch={args.batch_size}")

    summary: dict[str, float | int | str] = {"bench": "metrics", "load_average_1min": os.getloadavg()[0]}
    fairlearn_ratios, torchmetrics_ratios, ratio_lines = [], [], []
    for num_groups in args.groups:
        scores, target, groups = make_multiclass(args.n, args.classes, num_groups, seed=num_groups)
        ours_s, (flat, report) = best_time(
            run_ours_multiclass(scores, target, groups, args.classes, num_groups, args.batch_size), args.repeats
        )
        ours_nv_s, _ = best_time(
            run_ours_multiclass(scores, target, groups, args.classes, num_groups, args.batch_size, False), args.repeats
        )
        print(
            f"[C={args.classes} G={num_groups}] ours FairnessMetrics update+compute+report: {ours_s:.3f}s "
            f"(validate_args=False: {ours_nv_s:.3f}s); tpr_gap_rms={float(flat['tpr_gap_rms']):.4f}"
        )
        summary[f"ours_s_c{args.classes}_g{num_groups}"] = round(ours_s, 3)
        workload = (scores, target, groups, args.classes, num_groups, args.batch_size)
        floor_s, floor_counts = best_time(run_count_floor(*workload), args.repeats)
        counted_s, (_, counted) = best_time(run_ours_multiclass(*workload, report=False), args.repeats)
        counted_nv_s, _ = best_time(run_ours_multiclass(*workload, validate_args=False, report=False), args.repeats)
        assert torch.equal(counted.confusion.view(-1), floor_counts), "the floor counts differently"
        without_s, _ = best_time(run_ours_multiclass(*workload, replicates=0), args.repeats)
        report_s, _ = best_time(counted.report, args.repeats)
        counted.bootstrap_replicates = 0
        report_without_s, _ = best_time(counted.report, args.repeats)
        print(
            f"[C={args.classes} G={num_groups}] count floor (argmax + bincount per batch) {floor_s:.3f}s; ours "
            f"update+compute {counted_s:.3f}s (validate_args=False {counted_nv_s:.3f}s); update+compute+report "
            f"with intervals {ours_s:.3f}s, without {without_s:.3f}s; report() alone {report_s:.3f}s vs "
            f"{report_without_s:.3f}s"
        )
        summary[f"floor_s_g{num_groups}"] = round(floor_s, 3)
        summary[f"vs_floor_g{num_groups}"] = round(counted_s / floor_s, 2)
        summary[f"vs_floor_no_validation_g{num_groups}"] = round(counted_nv_s / floor_s, 2)
        summary[f"intervals_cost_g{num_groups}"] = round(ours_s / without_s, 2)
        summary[f"report_alone_with_vs_without_g{num_groups}"] = round(report_s / report_without_s, 1)
        ratio_lines += [
            f"RATIO FairnessMetrics update+compute / count floor, C={args.classes} G={num_groups}: "
            f"{counted_s / floor_s:.2f} (validate_args=False {counted_nv_s / floor_s:.2f}; target <= 1.5)",
            f"RATIO update+compute+report with / without intervals, C={args.classes} G={num_groups}: "
            f"{ours_s / without_s:.2f} (target <= 2; report() alone {report_s / report_without_s:.1f})",
        ]
        if not args.skip_fairlearn:
            # fairlearn walks rows in Python (~40 us/row/class here), so it runs on the first `fairlearn_n`
            # rows; ours is timed again on exactly those rows and batches for a like-for-like ratio
            fl_n = min(args.fairlearn_n, args.n)
            rows = slice(0, fl_n)
            ours_small_s, (_, small_report) = best_time(
                run_ours_multiclass(scores[rows], target[rows], groups[rows], args.classes, num_groups, args.batch_size),
                args.repeats,
            )
            pred_labels = scores[rows].argmax(dim=1).numpy()
            fairlearn_s, gaps = best_time(
                run_fairlearn_multiclass(pred_labels, target[rows].numpy(), groups[rows].numpy(), args.classes), 1
            )
            max_difference = max(
                abs(small_report["gaps"][f"{ours}_by_class"][str(c)] - gaps[theirs][c])
                for ours, theirs in (("tpr_gap", "tpr"), ("fpr_gap", "fpr"), ("dp_difference", "sel"))
                for c in range(args.classes)
            )
            ratio = fairlearn_s / ours_small_s
            fairlearn_ratios.append(ratio)
            estimated_full_s = fairlearn_s * args.n / fl_n
            print(
                f"[C={args.classes} G={num_groups}] N={fl_n:,}: fairlearn MetricFrame x{args.classes} classes "
                f"{fairlearn_s:.2f}s vs ours {ours_small_s:.3f}s -> ours {ratio:.1f}x faster "
                f"(max |gap difference| over TPR/FPR/selection gaps {max_difference:.1e}); fairlearn at "
                f"N={args.n:,} estimated {estimated_full_s:.0f}s (linear) vs ours {ours_s:.2f}s measured"
            )
            summary[f"fairlearn_s_c{args.classes}_g{num_groups}"] = round(fairlearn_s, 2)
            summary[f"ours_s_at_fairlearn_n_g{num_groups}"] = round(ours_small_s, 3)
            summary[f"vs_fairlearn_g{num_groups}"] = round(ratio, 1)
            summary[f"fairlearn_full_n_estimated_s_g{num_groups}"] = round(estimated_full_s)
        del scores

        positive, binary_target, binary_groups = make_binary(args.n, num_groups, seed=100 + num_groups)
        ours_binary_s, ours_binary = best_time(
            run_ours_binary(positive, binary_target, binary_groups, num_groups, args.batch_size), args.repeats
        )
        torchmetrics_s, theirs = best_time(
            run_torchmetrics_binary(positive, binary_target, binary_groups, num_groups, args.batch_size), args.repeats
        )
        ratio = torchmetrics_s / ours_binary_s
        torchmetrics_ratios.append(ratio)
        their_dp = min(float(value) for key, value in theirs.items() if key.startswith("DP"))
        print(
            f"[C=2 G={num_groups}] ours {ours_binary_s:.3f}s vs torchmetrics BinaryFairness {torchmetrics_s:.3f}s "
            f"-> ours {ratio:.1f}x faster (class-1 DP ratio ours "
            f"{ours_binary.report()['gaps']['dp_ratio_by_class']['1']:.4f}, theirs {their_dp:.4f})"
        )
        summary[f"ours_binary_s_g{num_groups}"] = round(ours_binary_s, 3)
        summary[f"torchmetrics_binary_s_g{num_groups}"] = round(torchmetrics_s, 3)
        summary[f"vs_torchmetrics_binary_g{num_groups}"] = round(ratio, 1)
        ratio_lines.append(f"RATIO torchmetrics BinaryFairness / ours, C=2 G={num_groups}: {ratio:.1f}x (target >= 5)")

    sync_bytes = FairnessMetrics(28, 8).synced_state_bytes()
    print(f"synced state of FairnessMetrics(C=28, G=8), no AUC bins: {sync_bytes} bytes ({sync_bytes / 1024:.1f} KiB)")
    if fairlearn_ratios:
        summary["vs_fairlearn"] = round(min(fairlearn_ratios), 1)
        summary["fairlearn_n"] = min(args.fairlearn_n, args.n)
    summary["vs_torchmetrics_binary"] = round(min(torchmetrics_ratios), 1)
    summary["sync_bytes_c28_g8"] = sync_bytes
    summary["n"] = args.n
    if fairlearn_ratios:
        ratio_lines.append(
            f"RATIO fairlearn MetricFrame / ours at N={summary['fairlearn_n']:,}: {min(fairlearn_ratios):.0f}x (target >= 20)"
        )
    print(f"load average over 1, 5, 15 min at the end: {os.getloadavg()}")
    print("\n".join(ratio_lines))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
