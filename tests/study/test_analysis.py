"""The study report's statistics on synthetic results tables with planted effects."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lightning_bias.study import analysis
from lightning_bias.study.analysis import Estimate, StudyDesign, Unanswerable, Verdict

OUTCOME = "gaps.tpr_gap_rms_corrected"
ACCURACY = "overall.accuracy"
INTRINSIC = "intrinsic.log_probability_bias.mean_abs"
LEVELS = {"balanced": 0.5, "natural": 0.65, "amplified": 0.8}
ARMS = {"scratch": None, "minilm": 0.3, "stereotyped": 0.9, "anti": 0.6}  # intrinsic bias per arm


def planted_study(*, seeds: int = 5, intrinsic_coef: float = 0.0, slope: float = 0.2, scratch_slope: float = 0.4,
                  mitigations: dict[str, tuple[float, float]] | None = None, noise: float = 0.004,
                  axes: tuple[str, ...] = ("upstream", "cooccurrence", "mitigation")) -> tuple[dict, pd.DataFrame]:
    """(study.json payload, results table) of a bios-like study with planted effects.

    outcome = 0.05 + intrinsic_coef·intrinsic(arm) + slope·deviation (scratch_slope for the from-scratch arm)
              + the mitigation's gap effect + N(0, noise²); deviation = level − 0.5 + N(0, 0.005²) measured.
    Mitigations (gap effect, accuracy effect) run at the amplified level only, as in the shipped study."""
    mitigations = {"reweighting": (-0.03, -0.004), "scrubbing": (0.0, 0.0)} if mitigations is None else mitigations
    rng = np.random.default_rng(0)
    declared = {
        "upstream": [{"name": arm, "numeric": None, "from_scratch": value is None} for arm, value in ARMS.items()],
        "cooccurrence": [{"name": name, "numeric": level, "from_scratch": False} for name, level in LEVELS.items()],
        "mitigation": [{"name": name, "numeric": None, "from_scratch": False} for name in ["none", *mitigations]],
    }
    design = {"name": "planted", "config_path": "study.yaml", "config_sha256": "ab" * 32,
              "axes": [{"name": role, "role": role, "values": declared[role]} for role in axes],
              "seeds": list(range(seeds)), "outcome": OUTCOME, "accuracy": ACCURACY}
    rows = []
    arms = list(ARMS) if "upstream" in axes else ["minilm"]
    levels = list(LEVELS) if "cooccurrence" in axes else ["amplified"]
    for arm in arms:
        for level in levels:
            for mitigation in ["none", *mitigations] if "mitigation" in axes else ["none"]:
                if mitigation != "none" and level != "amplified":
                    continue
                gap_effect, accuracy_effect = mitigations.get(mitigation, (0.0, 0.0))
                for seed in range(seeds):
                    deviation = LEVELS[level] - 0.5 + rng.normal(0, 0.005)
                    intrinsic = ARMS[arm]
                    gap = (0.05 + (intrinsic_coef * intrinsic if intrinsic is not None else 0.02)
                           + (scratch_slope if intrinsic is None else slope) * deviation + gap_effect
                           + rng.normal(0, noise))
                    row = {"cell": f"{arm}-{level}-{mitigation}", "seed": seed, "status": "done", "error": "",
                           OUTCOME: gap, ACCURACY: 0.8 + accuracy_effect + rng.normal(0, noise),
                           "gaps.tpr_gap_rms": gap + 0.01, analysis.MEASURED_COOCCURRENCE: deviation,
                           INTRINSIC: intrinsic if intrinsic is not None else np.nan,
                           "intrinsic.seat.terms.effect_size": -intrinsic if intrinsic is not None else np.nan}
                    for role, value in (("upstream", arm), ("cooccurrence", level), ("mitigation", mitigation)):
                        if role in axes:
                            row[f"axis.{role}"] = value
                    rows.append(row)
    return design, pd.DataFrame(rows)


def _design(payload: dict) -> StudyDesign:
    return StudyDesign.from_json(payload, "study.json")


def _covers(estimate: Estimate, value: float) -> bool:
    return estimate.low <= value <= estimate.high


def test_seed_interval_is_the_t_interval():
    values = np.array([0.11, 0.13, 0.10, 0.14])
    expected = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    estimate = analysis.seed_interval(values)
    assert estimate.rows == 4 and estimate.value == pytest.approx(values.mean())
    assert (estimate.low, estimate.high) == pytest.approx(expected)
    single = analysis.seed_interval([0.2])
    assert single.value == 0.2 and not single.has_interval and single.rows == 1


def test_a_difference_is_welchs_interval():
    a, b = np.array([0.30, 0.34, 0.29, 0.35, 0.33]), np.array([0.20, 0.21, 0.19])
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    estimate = analysis.contrast([(1.0, a), (-1.0, b)])
    assert (estimate.low, estimate.high) == pytest.approx((expected.low, expected.high))


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.02, 0.05, Verdict.BEYOND_THRESHOLD), (-0.05, -0.011, Verdict.BEYOND_THRESHOLD),
     (0.002, 0.03, Verdict.DETECTABLE), (0.001, 0.004, Verdict.DETECTABLE_NEGLIGIBLE),
     (-0.004, 0.006, Verdict.NEGLIGIBLE), (-0.004, 0.03, Verdict.INCONCLUSIVE), (None, None, Verdict.NO_INTERVAL)],
)
def test_verdict_reads_the_interval_against_zero_and_the_threshold(low, high, expected):
    assert analysis.verdict(Estimate(0.0 if low is None else (low + high) / 2, low, high, 6), 0.01) is expected


def test_planted_cooccurrence_slope_without_upstream_effect():
    payload, table = planted_study(intrinsic_coef=0.0, slope=0.2, scratch_slope=0.4)
    design = _design(payload)
    upstream = analysis.upstream_effect(table, design)
    assert upstream.reference == "minilm"
    by_arm = {c.treated: c.estimate for c in upstream.arms}
    for arm in ("stereotyped", "anti"):  # no upstream effect planted: the interval holds 0 and stays within ±τ
        assert _covers(by_arm[arm], 0.0) and analysis.verdict(by_arm[arm], 0.01) is Verdict.NEGLIGIBLE
        assert len(next(c for c in upstream.arms if c.treated == arm).strata) == 3  # mitigation held at none
    cooccurrence = analysis.cooccurrence_effect(table, design)
    assert (cooccurrence.low, cooccurrence.high) == ("balanced", "amplified")
    assert _covers(cooccurrence.pretrained, 0.2 * 0.3) and _covers(cooccurrence.from_scratch, 0.4 * 0.3)
    assert _covers(cooccurrence.difference, (0.2 - 0.4) * 0.3)
    assert analysis.verdict(cooccurrence.pretrained, 0.01) is Verdict.BEYOND_THRESHOLD


def test_planted_upstream_effect_is_found_at_fixed_fine_tuning_data():
    payload, table = planted_study(intrinsic_coef=0.05)
    upstream = analysis.upstream_effect(table, _design(payload))
    stereotyped = next(c for c in upstream.arms if c.treated == "stereotyped").estimate
    assert _covers(stereotyped, 0.05 * (0.9 - 0.3))
    assert analysis.verdict(stereotyped, 0.01) is Verdict.BEYOND_THRESHOLD


def test_regression_recovers_planted_coefficients_and_shares_sum_to_one():
    payload, table = planted_study(intrinsic_coef=0.05, slope=0.2)
    result = analysis.regression(table, _design(payload))
    assert result.measure == INTRINSIC and not result.magnitude
    assert result.left_out == (("from-scratch arm (no upstream model, so no intrinsic bias)", 3 * 5 + 2 * 5),)
    assert result.rows == 3 * (3 * 5 + 2 * 5)
    coefficients = {c.term: c for c in result.coefficients}
    for term, planted in ((INTRINSIC, 0.05), (analysis.MEASURED_COOCCURRENCE, 0.2), ("mitigation[reweighting]", -0.03),
                          ("mitigation[scrubbing]", 0.0)):
        assert coefficients[term].low <= planted <= coefficients[term].high, term
    shares = dict(result.shares)
    assert set(shares) == {"upstream intrinsic bias", "fine-tuning co-occurrence", "mitigation"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["fine-tuning co-occurrence"] > shares["upstream intrinsic bias"]  # 0.2·0.3 vs 0.05·0.6


def test_shapley_shares_add_up_to_r_squared_and_split_equal_duplicates():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = 2 * x + rng.normal(size=200)
    blocks = {"a": pd.DataFrame({"a": x}), "b": pd.DataFrame({"b": x + 1e-9 * rng.normal(size=200)})}
    shares = analysis.shapley_shares(y, blocks)
    full = analysis._r_squared(y, list(blocks.values()))
    assert sum(shares.values()) == pytest.approx(full)
    assert shares["a"] == pytest.approx(shares["b"], rel=1e-3)


def test_the_intrinsic_measure_is_chosen_by_preference_and_signed_ones_enter_by_size():
    _, table = planted_study()
    assert analysis.choose_intrinsic_measure(table) == (INTRINSIC, False)
    assert analysis.choose_intrinsic_measure(table.drop(columns=[INTRINSIC])) == (
        "intrinsic.seat.terms.effect_size", True)
    assert analysis.choose_intrinsic_measure(table.drop(columns=[c for c in table if c.startswith("intrinsic.")])) is None


def test_mitigation_lowers_the_gap_by_the_planted_amount_at_the_planted_cost():
    payload, table = planted_study(mitigations={"reweighting": (-0.03, -0.004), "scrubbing": (0.0, 0.0)})
    effects = {e.name: e for e in analysis.mitigation_effects(table, _design(payload))}
    assert _covers(effects["reweighting"].gap.estimate, -0.03) and effects["reweighting"].gap.estimate.high < 0
    assert _covers(effects["reweighting"].accuracy.estimate, -0.004)
    assert _covers(effects["scrubbing"].gap.estimate, 0.0)
    assert len(effects["reweighting"].gap.strata) == len(ARMS)  # one setting per arm, at the amplified level


def test_questions_a_study_cannot_answer_say_why():
    payload, table = planted_study(axes=("cooccurrence",))
    design = _design(payload)
    assert "no axis with role `upstream`" in analysis.upstream_effect(table, design).reason
    assert "no axis with role `mitigation`" in analysis.mitigation_effects(table, design).reason
    cooccurrence = analysis.cooccurrence_effect(table, design)
    assert isinstance(cooccurrence.from_scratch, Unanswerable) and "no upstream axis" in cooccurrence.from_scratch.reason
    assert isinstance(cooccurrence.difference, Unanswerable)
    assert _covers(cooccurrence.pretrained, 0.06)
    payload, table = planted_study(axes=("upstream", "mitigation"))
    assert "no axis with role `cooccurrence`" in analysis.cooccurrence_effect(table, _design(payload)).reason


def test_one_seed_gives_estimates_without_intervals():
    payload, table = planted_study(seeds=1)
    design = _design(payload)
    estimate = analysis.cooccurrence_effect(table, design).pretrained
    assert not estimate.has_interval and math.isfinite(estimate.value)
    assert all(not e.has_interval for _, cell in analysis.cell_summaries(table, design, [OUTCOME]) for e in cell.values())


def test_failed_rows_and_rows_without_an_outcome_are_left_out_with_the_reason():
    payload, table = planted_study()
    table.loc[0, ["status", "error"]] = ["failed", "RuntimeError: out of memory"]
    table.loc[1, OUTCOME] = np.nan
    table["warnings"] = ""
    table.loc[2, "warnings"] = "predictions collapsed: 100% of the 225 examples are predicted 'chef' (...)"
    rows, left_out = analysis.split_rows(table, _design(payload), "results.csv")
    assert len(rows) == len(table) - 3
    assert list(left_out["reason"]) == ["failed", f"no {OUTCOME} value",
                                        "predictions collapsed (the model did not learn the task)"]


def test_inconsistent_results_and_study_json_are_one_clear_error():
    payload, table = planted_study()
    with pytest.raises(ValueError, match=r"axis.upstream holds \['roberta'\].*different studies"):
        analysis.split_rows(table.assign(**{"axis.upstream": "roberta"}), _design(payload), "results.csv")
    with pytest.raises(ValueError, match=r"results.csv: missing column\(s\) \['overall.accuracy'\]"):
        analysis.split_rows(table.drop(columns=[ACCURACY]), _design(payload), "results.csv")
    with pytest.raises(ValueError, match="role 'pretraining'; expected one of"):
        _design({**payload, "axes": [{**payload["axes"][0], "role": "pretraining"}]})
    with pytest.raises(ValueError, match="one 'upstream' axis, found"):
        _design({**payload, "axes": [payload["axes"][0], {**payload["axes"][0], "name": "other"}]})


def test_levels_without_declared_numbers_are_ordered_by_measured_cooccurrence():
    payload, table = planted_study(seeds=2)
    cooccurrence = next(axis for axis in payload["axes"] if axis["role"] == "cooccurrence")
    for value in cooccurrence["values"]:
        value["numeric"] = None
    cooccurrence["values"].reverse()
    design = _design(payload)
    answer = analysis.cooccurrence_effect(table, design)
    assert answer.levels == ("balanced", "natural", "amplified") and "measured" in answer.ordering
    levels, ordering = analysis.cooccurrence_levels(table.drop(columns=[analysis.MEASURED_COOCCURRENCE]),
                                                    design.axis("cooccurrence"))
    assert levels == ["amplified", "natural", "balanced"] and ordering.startswith("in declared order")


def test_an_other_axis_is_a_setting_held_fixed_and_a_factor_of_the_regression():
    payload, table = planted_study(intrinsic_coef=0.05)
    payload["axes"].append({"name": "lr", "role": "other", "values": [{"name": "1e-5"}, {"name": "3e-5"}]})
    rng = np.random.default_rng(2)
    faster = table.assign(**{"axis.lr": "3e-5", OUTCOME: table[OUTCOME] + 0.02 + rng.normal(0, 0.004, len(table))})
    table = pd.concat([table.assign(**{"axis.lr": "1e-5"}), faster], ignore_index=True)
    design = _design(payload)
    stereotyped = next(c for c in analysis.upstream_effect(table, design).arms if c.treated == "stereotyped")
    assert len(stereotyped.strata) == 3 * 2 and _covers(stereotyped.estimate, 0.05 * 0.6)
    result = analysis.regression(table, design)
    learning_rate = next(c for c in result.coefficients if c.term == "axis lr[3e-5]")
    assert learning_rate.factor == "axis lr" and learning_rate.low <= 0.02 <= learning_rate.high
    assert sum(share for _, share in result.shares) == pytest.approx(1.0)


def test_a_row_that_alone_fixes_a_coefficient_gets_classical_errors_instead_of_undefined_hc3():
    payload, table = planted_study(intrinsic_coef=0.05)
    scrubbed = table.index[table["axis.mitigation"] == "scrubbing"]
    table = table.drop(scrubbed[:-1])  # one scrubbing row left (a pre-trained arm's): its dummy has leverage 1
    result = analysis.regression(table, _design(payload))
    assert result.covariance.startswith("classical")
    assert all(math.isfinite(c.low) and c.low < c.high and math.isfinite(c.high) for c in result.coefficients)


def test_a_setting_with_one_seed_on_a_side_is_shown_but_left_out_of_the_average():
    payload, table = planted_study()
    design = _design(payload)
    mitigation = design.axis("mitigation")
    held = design.axes_except(mitigation)
    full = analysis.compare(table, OUTCOME, mitigation, "reweighting", "none", held)
    # keep one seed of reweighting in the first setting that has it
    first = full.strata[0][0]
    in_first = table.apply(lambda row: analysis.stratum_label(held, [row[a.column] for a in held]) == first, axis=1)
    reweighted = table[mitigation.column] == "reweighting"
    thinned = table.drop(table[in_first & reweighted].index[1:])
    comparison = analysis.compare(thinned, OUTCOME, mitigation, "reweighting", "none", held)
    assert comparison.unpooled == (first,) and len(comparison.strata) == len(full.strata)
    assert comparison.estimate.has_interval  # the other settings still give one
    alone = thinned[in_first]
    assert not analysis.compare(alone, OUTCOME, mitigation, "reweighting", "none", held).estimate.has_interval
