"""IdentityTermBias against a direct count and sklearn's roc_auc_score, with overlapping term membership."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from lightning_bias.metrics.identity_term_bias import IdentityTermBias


def _data(n: int = 600, terms: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    membership = rng.random((n, terms)) < 0.3  # overlapping: a text may mention several terms, or none
    shift = membership @ np.linspace(0.0, 0.3, terms)  # later terms scored higher: a planted bias
    scores = np.clip(0.35 * target + 0.3 * rng.random(n) + shift, 0.0, 1.0)
    return scores, target, membership


def _fed(rates: np.ndarray, overall: float) -> float:
    return float(np.abs(rates[~np.isnan(rates)] - overall).sum())


def test_per_term_figures_match_a_direct_count_and_sklearn():
    scores, target, membership = _data()
    metric = IdentityTermBias(num_terms=membership.shape[1], thresholds=1000)
    for rows in np.array_split(np.arange(len(scores)), 7):
        metric.update(torch.tensor(scores[rows]), torch.tensor(target[rows]), torch.tensor(membership[rows]))
    figures = metric.compute()
    predicted = scores > 0.5
    fpr = [(predicted & (target == 0) & m).sum() / ((target == 0) & m).sum() for m in membership.T]
    fnr = [(~predicted & (target == 1) & m).sum() / ((target == 1) & m).sum() for m in membership.T]
    overall_fpr = (predicted & (target == 0)).sum() / (target == 0).sum()
    overall_fnr = (~predicted & (target == 1)).sum() / (target == 1).sum()
    np.testing.assert_allclose(figures["term_fpr"].numpy(), fpr)
    np.testing.assert_allclose(figures["term_fnr"].numpy(), fnr)
    assert float(figures["fped"]) == pytest.approx(_fed(np.array(fpr), overall_fpr))
    assert float(figures["fned"]) == pytest.approx(_fed(np.array(fnr), overall_fnr))
    assert figures["term_n"].tolist() == membership.sum(axis=0).tolist()
    assert int(figures["num_examples"]) == len(scores)
    assert float(figures["overall_auc"]) == pytest.approx(roc_auc_score(target, scores), abs=2e-3)
    for t, inside in enumerate(membership.T):
        subgroup = roc_auc_score(target[inside], scores[inside])
        bpsn_rows = (inside & (target == 0)) | (~inside & (target == 1))
        bnsp_rows = (inside & (target == 1)) | (~inside & (target == 0))
        assert float(figures["subgroup_auc"][t]) == pytest.approx(subgroup, abs=2e-3)
        assert float(figures["bpsn_auc"][t]) == pytest.approx(roc_auc_score(target[bpsn_rows], scores[bpsn_rows]), abs=2e-3)
        assert float(figures["bnsp_auc"][t]) == pytest.approx(roc_auc_score(target[bnsp_rows], scores[bnsp_rows]), abs=2e-3)
    means = [float(np.mean(figures[name].numpy() ** -5.0) ** (-1 / 5)) for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc")]
    assert float(figures["final_score"]) == pytest.approx(0.25 * float(figures["overall_auc"]) + 0.25 * sum(means))


def test_the_state_is_additive_so_summing_ranks_gives_the_single_process_result():
    scores, target, membership = _data(seed=1)
    whole = IdentityTermBias(num_terms=membership.shape[1])
    whole.update(torch.tensor(scores), torch.tensor(target), torch.tensor(membership))
    ranks = [IdentityTermBias(num_terms=membership.shape[1]) for _ in range(2)]
    for rank, metric in enumerate(ranks):  # the disjoint shards rank::2 of UnpaddedDistributedSampler
        rows = np.arange(rank, len(scores), 2)
        metric.update(torch.tensor(scores[rows]), torch.tensor(target[rows]), torch.tensor(membership[rows]))
    for state in ("histograms", "all_histogram", "term_confusion", "all_confusion"):
        assert torch.equal(getattr(ranks[0], state) + getattr(ranks[1], state), getattr(whole, state))


def test_undefined_rates_are_nan_and_left_out_of_the_equality_differences():
    metric = IdentityTermBias(num_terms=2, thresholds=10)
    # term 1 has toxic texts only: its FPR is undefined
    metric.update(torch.tensor([0.9, 0.2, 0.8, 0.7]), torch.tensor([1, 0, 1, 1]),
                  torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=torch.bool))
    figures = metric.compute()
    assert torch.isnan(figures["term_fpr"][1]) and int(figures["fped_terms"]) == 1
    assert torch.isnan(figures["subgroup_auc"][1])


def test_bad_shapes_are_one_clear_error():
    metric = IdentityTermBias(num_terms=3)
    with pytest.raises(ValueError, match=r"membership \[N, 3\]"):
        metric.update(torch.tensor([0.5]), torch.tensor([1]), torch.zeros((1, 2), dtype=torch.bool))


def test_terms_under_min_examples_keep_their_figures_but_stay_out_of_the_summaries():
    scores, target, membership = _data(seed=2)
    membership[:, 0] = False
    membership[:5, 0] = True  # term 0: five texts only
    full, summarised = IdentityTermBias(num_terms=4), IdentityTermBias(num_terms=4, min_examples=6)
    for metric in (full, summarised):
        metric.update(torch.tensor(scores), torch.tensor(target), torch.tensor(membership))
    everything, restricted = full.compute(), summarised.compute()
    assert restricted["summarised"].tolist() == [False, True, True, True]
    assert torch.allclose(everything["term_fpr"], restricted["term_fpr"], equal_nan=True)
    fpr = restricted["term_fpr"][1:]
    assert float(restricted["fped"]) == pytest.approx(float((fpr - restricted["fpr"]).abs().sum()))
    bpsn = restricted["bpsn_auc"][1:].numpy()
    assert float(restricted["bpsn_auc_power_mean"]) == pytest.approx(float(np.mean(bpsn ** -5.0) ** (-1 / 5)))
