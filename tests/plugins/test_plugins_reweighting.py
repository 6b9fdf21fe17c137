"""The reweighting plugin's arithmetic on hand-built tables."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from lightning_bias_plugins.downstream.reweighting import Reweighting, cell_weights

# label 0: 4 rows of group 0, 2 of group 1; label 1: 1 of group 0, 3 of group 1 (N = 10)
LABELS = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
GROUPS = [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]


def table(labels=LABELS, groups=GROUPS, **extra) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [f"row {i}" for i in range(len(labels))], "label": labels,
                                       "group": groups, **extra})


def weights_of(plugin: Reweighting, data: datasets.Dataset) -> np.ndarray:
    return plugin.sample_weights(data).numpy()


def test_kamiran_calders_matches_the_formula_and_makes_label_and_group_independent():
    weights = weights_of(Reweighting(), table())
    # n_y n_g / (n_yg N): n_0 = 6, n_1 = 4; n_g0 = 5, n_g1 = 5
    expected_cells = {(0, 0): 6 * 5 / (4 * 10), (0, 1): 6 * 5 / (2 * 10), (1, 0): 4 * 5 / (1 * 10),
                      (1, 1): 4 * 5 / (3 * 10)}
    raw = np.array([expected_cells[(y, g)] for y, g in zip(LABELS, GROUPS, strict=True)])
    np.testing.assert_allclose(weights, raw / raw.mean())
    assert weights.mean() == pytest.approx(1.0)
    # weighted joint distribution equals the product of the (unchanged) weighted marginals
    joint = np.zeros((2, 2))
    np.add.at(joint, (LABELS, GROUPS), weights)
    joint /= joint.sum()
    np.testing.assert_allclose(joint, np.outer(joint.sum(1), joint.sum(0)), atol=1e-12)
    np.testing.assert_allclose(joint.sum(1), [0.6, 0.4])
    np.testing.assert_allclose(joint.sum(0), [0.5, 0.5])


def test_kamiran_calders_raw_weights_already_have_mean_one():
    counts = np.array([[4, 2], [1, 3]])
    cells = cell_weights(counts, "kamiran_calders")
    assert (cells * counts).sum() / counts.sum() == pytest.approx(1.0)


def test_inverse_group_gives_each_group_the_same_total_weight():
    data = table(groups=[0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    weights = weights_of(Reweighting("inverse_group"), data)
    groups = np.asarray(data["group"])
    assert weights[groups == 0].sum() == pytest.approx(weights[groups == 1].sum())
    assert weights.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(weights[groups == 0], 10 / (2 * 7))


def test_inverse_label_group_gives_each_cell_the_same_total_weight():
    weights = weights_of(Reweighting("inverse_label_group"), table())
    totals = {}
    for w, y, g in zip(weights, LABELS, GROUPS, strict=True):
        totals[(y, g)] = totals.get((y, g), 0.0) + w
    assert len(totals) == 4
    np.testing.assert_allclose(list(totals.values()), 2.5)


def test_empty_cells_and_unused_group_ids_are_harmless():
    data = table(labels=[0, 0, 1, 1], groups=[0, 2, 0, 0])  # group 1 never occurs; label 1 only group 0
    for scheme in ("kamiran_calders", "inverse_group", "inverse_label_group"):
        weights = weights_of(Reweighting(scheme), data)
        assert np.isfinite(weights).all() and (weights > 0).all()
        assert weights.mean() == pytest.approx(1.0)


def test_clip_max_clips_then_renormalises():
    # one rare cell gets a huge Kamiran-Calders weight
    labels = [0] * 50 + [1] * 50
    groups = [0] * 49 + [1] + [1] * 50
    data = table(labels=labels, groups=groups)
    unclipped = weights_of(Reweighting(), data)
    clipped = weights_of(Reweighting(clip_max=3.0), data)
    assert unclipped.max() > 10
    expected = np.minimum(unclipped, 3.0)
    np.testing.assert_allclose(clipped, expected / expected.mean())
    assert clipped.mean() == pytest.approx(1.0)
    # renormalisation can lift the largest weight a little above clip_max (documented)
    assert 3.0 <= clipped.max() < 3.0 / expected.mean() + 1e-9


def test_weights_from_a_column_are_normalised():
    data = table(custom=[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 5.0, 1.0, 2.0, 2.0])
    weights = weights_of(Reweighting(column="custom"), data)
    np.testing.assert_allclose(weights, np.array(data["custom"]) / 2.0)


@pytest.mark.parametrize(("values", "needle"), [
    ([1.0] * 9 + [-1.0], "-1.0 at row 9"),
    ([1.0] * 9 + [float("nan")], "nan at row 9"),
    ([0.0] * 10, "all zero"),
    (["a"] * 10, "not numeric"),
])
def test_bad_weight_column_is_a_clear_error(values, needle):
    with pytest.raises(ValueError, match="weight column 'w'") as err:
        Reweighting(column="w").sample_weights(table(w=values))
    assert needle in str(err.value)


def test_missing_weight_column_names_the_columns():
    with pytest.raises(ValueError, match=r"'w' is not in the train table \(columns: text, label, group\)"):
        Reweighting(column="w").sample_weights(table())


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown scheme 'nope'"):
        Reweighting("nope")
    with pytest.raises(ValueError, match="clip_max must be at least 1"):
        Reweighting(clip_max=0.5)


def test_summary_names_cells_by_class_label_names():
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["nurse", "surgeon"]),
                                  "group": datasets.ClassLabel(names=["male", "female"])})
    data = datasets.Dataset.from_dict({"text": ["t"] * 10, "label": LABELS, "group": GROUPS}, features=features)
    plugin = Reweighting()
    plugin.sample_weights(data)
    assert set(plugin.summary) == {"nurse", "surgeon"}
    assert plugin.summary["surgeon"]["male"] > plugin.summary["surgeon"]["female"]
