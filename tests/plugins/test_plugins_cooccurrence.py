"""The co-occurrence control plugin on hand-built tables and synthetic bios: target rates, the train size at
every rate (size-matched) or rows kept (subsample), determinism, errors."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from lightning_bias_plugins.downstream.cooccurrence import (
    CooccurrenceControl,
    kept_counts,
    size_matched_counts,
)

from lightning_bias.data.datamodule import cooccurrence
from lightning_bias.data.sources.synthetic_bios import SyntheticBiosSource
from lightning_bias.mitigation import report_sections

LABEL_NAMES = ["nurse", "surgeon", "chef"]
GROUP_NAMES = ["male", "female"]


def table(cells: dict[tuple[int, int], int], named: bool = True, groups: list[str] = GROUP_NAMES) -> datasets.Dataset:
    """Rows for each (label, group) count, interleaved by a fixed shuffle."""
    labels, group_ids = [], []
    for (y, g), n in cells.items():
        labels += [y] * n
        group_ids += [g] * n
    order = np.random.default_rng(0).permutation(len(labels))
    data = {"text": [f"bio {i}" for i in range(len(labels))], "label": [labels[i] for i in order],
            "group": [group_ids[i] for i in order]}
    if not named:
        return datasets.Dataset.from_dict(data)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABEL_NAMES),
                                  "group": datasets.ClassLabel(names=groups)})
    return datasets.Dataset.from_dict(data, features=features)


# nurse: 10 male, 90 female; surgeon: 60 male, 20 female; chef: 30 male, 30 female
CELLS = {(0, 0): 10, (0, 1): 90, (1, 0): 60, (1, 1): 20, (2, 0): 30, (2, 1): 30}


def rates(data: datasets.Dataset, group: int = 1) -> dict[int, float]:
    labels, groups = np.asarray(data["label"]), np.asarray(data["group"])
    return {y: float((groups[labels == y] == group).mean()) for y in np.unique(labels)}


def cell_counts(data: datasets.Dataset) -> dict[tuple[int, int], int]:
    labels, groups = np.asarray(data["label"]), np.asarray(data["group"])
    return {(y, g): int(((labels == y) & (groups == g)).sum()) for y, g in CELLS}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_size_matched_is_the_default_and_keeps_every_labels_size_at_every_rate(rate):
    data = table(CELLS)
    plugin = CooccurrenceControl(group="female", rate=rate)
    out = plugin.transform(data, "train")
    assert len(out) == len(data) == 240
    assert rates(out) == {0: rate, 1: rate, 2: rate}  # 100, 80 and 60 rows: every target is reachable exactly
    labels = np.asarray(out["label"])
    assert [(labels == y).sum() for y in range(3)] == [100, 80, 60]
    assert plugin.summary["mode"] == "size_matched"
    assert plugin.summary["rows_before"] == plugin.summary["rows_after"] == 240
    assert plugin.summary["labels"]["surgeon"] == {"observed_rate": 0.25, "target_rate": rate, "achieved_rate": rate,
                                                   "rows_before": 80, "rows_after": 80}


def test_size_matched_resamples_within_cells():
    data = table(CELLS)
    plugin = CooccurrenceControl(group="female", rate=0.9)
    out = plugin.transform(data, "train")
    position = {text: i for i, text in enumerate(data["text"])}
    original = [position[text] for text in out["text"]]
    assert original == sorted(original)  # original order, a repeated row beside its original
    labels, groups = np.asarray(data["label"]), np.asarray(data["group"])
    for (y, g), n in CELLS.items():
        cell = set(np.flatnonzero((labels == y) & (groups == g)).tolist())
        drawn = [i for i in original if labels[i] == y and groups[i] == g]
        assert set(drawn) <= cell  # every row comes from its own cell
        if len(drawn) <= n:
            assert len(set(drawn)) == len(drawn)  # a shrinking cell repeats nothing
        else:
            assert set(drawn) == cell  # a growing cell keeps every row and draws the rest again
    # surgeon women 20 -> 72, chef women 30 -> 54, nurse women 90 stay; men 10 -> 10, 60 -> 8, 30 -> 6
    assert cell_counts(out) == {(0, 0): 10, (0, 1): 90, (1, 0): 8, (1, 1): 72, (2, 0): 6, (2, 1): 54}
    assert plugin.summary["rows_repeated"] == (72 - 20) + (54 - 30)
    assert plugin.summary["rows_dropped"] == (60 - 8) + (30 - 6)


def test_synthetic_bios_at_three_rates_have_one_train_size_and_the_target_cooccurrence():
    train = SyntheticBiosSource({"num_examples": 1000, "seed": 4}).load().tables["train"]
    train = train.cast_column("label", datasets.ClassLabel(num_classes=16)).cast_column(
        "group", datasets.ClassLabel(names=GROUP_NAMES))
    label_names = [str(i) for i in range(16)]
    sizes = set()
    for rate in (0.1, 0.5, 0.9):
        out = CooccurrenceControl(group="female", rate=rate, seed=1).transform(train, "train")
        sizes.add(len(out))
        measured = cooccurrence(out, label_names, GROUP_NAMES)
        for label, shares in measured["p_group_given_label"].items():
            rows = sum(measured["counts"][label].values())
            assert abs(shares["female"] - rate) <= 0.5 / rows + 1e-12  # the nearest share a whole count allows
    assert sizes == {len(train)}


def test_subsample_mode_shrinks_the_train_split_as_the_rate_moves():
    data = table(CELLS)
    sizes = [len(CooccurrenceControl(group="female", rate=r, mode="subsample").transform(data, "train"))
             for r in (0.1, 0.5, 0.9)]
    # 0.1: every man and round(0.1 m / 0.9) women; 0.9: every woman and round(0.1 w / 0.9) men
    assert sizes == [(10 + 1) + (60 + 7) + (30 + 3), 120, (90 + 10) + (20 + 2) + (30 + 3)]


def test_subsample_drops_only_the_over_represented_side():
    data = table(CELLS)
    plugin = CooccurrenceControl(group="female", rate=0.5, mode="subsample")
    out = plugin.transform(data, "train")
    assert rates(out) == {0: 0.5, 1: 0.5, 2: 0.5}
    # nurse keeps its 10 men and 10 of 90 women; surgeon keeps its 20 women and 20 of 60 men; chef untouched
    assert cell_counts(out) == {(0, 0): 10, (0, 1): 10, (1, 0): 20, (1, 1): 20, (2, 0): 30, (2, 1): 30}
    assert plugin.summary["rows_before"] == 240 and plugin.summary["rows_after"] == 120
    assert plugin.summary["rows_dropped"] == 120 and plugin.summary["rows_repeated"] == 0
    assert plugin.summary["group"] == "female"
    assert plugin.summary["labels"]["nurse"] == {"observed_rate": 0.9, "target_rate": 0.5, "achieved_rate": 0.5,
                                                 "rows_before": 100, "rows_after": 20}
    # the kept rows are original rows, in their original order, with all columns
    texts = data["text"]
    kept_positions = [texts.index(t) for t in out["text"]]
    assert kept_positions == sorted(kept_positions)
    assert out.column_names == data.column_names


def test_per_label_rates_control_only_the_named_labels():
    data = table(CELLS)
    out = CooccurrenceControl(group="female", rate={"nurse": 0.75, "surgeon": 0.4}, mode="subsample").transform(
        data, "train")
    assert rates(out) == {0: 0.75, 1: 0.4, 2: 0.5}
    labels = np.asarray(out["label"])
    assert (labels == 0).sum() == 40  # 10 men + 30 women
    assert (labels == 1).sum() == 50  # 20 women + 30 men
    assert (labels == 2).sum() == 60


@pytest.mark.parametrize("mode", ["size_matched", "subsample"])
def test_shift_moves_every_observed_rate(mode):
    data = table(CELLS)
    plugin = CooccurrenceControl(group="female", shift=-0.1, mode=mode)
    out = plugin.transform(data, "train")
    achieved = rates(out)
    for y, observed in rates(data).items():
        assert achieved[y] == pytest.approx(observed - 0.1, abs=0.01)
    assert plugin.summary["labels"]["chef"]["target_rate"] == pytest.approx(0.4)


@pytest.mark.parametrize(("mode", "sizes"), [("size_matched", (100, 80)), ("subsample", (90, 60))])
def test_rates_zero_and_one_are_reachable_when_rows_exist(mode, sizes):
    data = table(CELLS)
    out = CooccurrenceControl(group=1, rate={"nurse": 1.0, "surgeon": 0.0}, mode=mode).transform(data, "train")
    assert rates(out)[0] == 1.0 and rates(out)[1] == 0.0
    labels = np.asarray(out["label"])
    assert ((labels == 0).sum(), (labels == 1).sum()) == sizes


@pytest.mark.parametrize("mode", ["size_matched", "subsample"])
def test_deterministic_by_seed_and_different_across_seeds(mode):
    data = table(CELLS)
    first = CooccurrenceControl(group="female", rate=0.5, mode=mode, seed=1).transform(data, "train")["text"]
    again = CooccurrenceControl(group="female", rate=0.5, mode=mode, seed=1).transform(data, "train")["text"]
    other = CooccurrenceControl(group="female", rate=0.5, mode=mode, seed=2).transform(data, "train")["text"]
    assert first == again
    assert first != other


def test_only_the_train_split_changes():
    data = table(CELLS)
    plugin = CooccurrenceControl(group="female", rate=0.5)
    for split in ("val", "test", "predict"):
        assert plugin.transform(data, split) is data


def test_integer_ids_work_without_class_label_names():
    data = table(CELLS, named=False)
    plugin = CooccurrenceControl(group=1, rate={0: 0.5})
    out = plugin.transform(data, "train")
    assert rates(out)[0] == 0.5
    assert set(plugin.summary["labels"]) == {"0"}
    with pytest.raises(ValueError, match=r"group 'female' is given by name, but the table carries no group names"):
        CooccurrenceControl(group="female", rate=0.5).transform(data, "train")


def test_several_other_groups_keep_their_mix():
    groups = ["male", "female", "nonbinary"]
    data = table({(0, 0): 40, (0, 1): 20, (0, 2): 20}, groups=groups)
    out = CooccurrenceControl(group="female", rate=0.5, mode="subsample").transform(data, "train")
    g = np.asarray(out["group"])
    assert (g == 1).sum() == 20 and (g == 0).sum() == 13 and (g == 2).sum() == 7  # 20 kept others, 2:1 mix
    exact = kept_counts(np.array([40, 20, 20]), 1, 0.5, "test")
    np.testing.assert_array_equal(exact, [13, 20, 7])
    # size-matched: 80 rows stay, 40 of them female (20 drawn again), 40 others in the 2:1 mix
    np.testing.assert_array_equal(size_matched_counts(np.array([40, 20, 20]), 1, 0.5, "test"), [27, 40, 13])


def test_achieved_rate_is_the_nearest_reachable_one():
    kept = kept_counts(np.array([7, 3]), 1, 0.2, "test")  # keep 7 men, round(0.2 * 7 / 0.8) = 2 women
    np.testing.assert_array_equal(kept, [7, 2])


def test_summary_goes_into_the_val_and_test_report_sections():
    plugin = CooccurrenceControl(group="female", rate=0.5)
    assert report_sections([plugin], "val") == {}  # nothing measured yet
    plugin.transform(table(CELLS), "train")
    for split in ("val", "test"):
        assert report_sections([plugin], split) == {"cooccurrence_control": plugin.summary}
    assert plugin.report_section("train") is None


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"group": "female", "rate": 1.5}, r"rate must be a number in \[0, 1\], got 1.5"),
    ({"group": "female", "rate": -0.1}, r"rate must be a number in \[0, 1\], got -0.1"),
    ({"group": "female", "rate": {"nurse": 2}}, r"rate\['nurse'\] must be a number in \[0, 1\]"),
    ({"group": "female"}, "give exactly one of rate"),
    ({"group": "female", "rate": 0.5, "shift": 0.1}, "give exactly one of rate"),
    ({"group": "female", "shift": 3}, r"shift must be a number in \[-1, 1\]"),
    ({"group": "female", "rate": 0.5, "mode": "oversample"}, r"mode must be one of \['size_matched', 'subsample'\]"),
])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        CooccurrenceControl(**kwargs)


@pytest.mark.parametrize("mode", ["size_matched", "subsample"])
@pytest.mark.parametrize(("cells", "kwargs", "needle"), [
    # raising the share of a group the label does not have
    ({(0, 0): 10, (1, 0): 5, (1, 1): 5}, {"rate": {"nurse": 1.0}}, r"label 'nurse'.*rate 1.0 is unreachable.*no rows"),
    ({(0, 0): 10, (1, 0): 5, (1, 1): 5}, {"rate": {"nurse": 0.3}}, r"label 'nurse'.*unreachable"),
    # lowering the share in a label that has only that group: nothing of the other groups to keep or resample
    ({(0, 1): 10, (1, 0): 5, (1, 1): 5}, {"rate": {"nurse": 0.0}},
     r"label 'nurse'.*rate 0.0 is unreachable — every row has the controlled group"),
    ({(0, 0): 4, (0, 1): 6}, {"shift": 0.5}, r"observed rate 0.6000 \+ shift 0.5 for label 'nurse'.*\[0, 1\]"),
    ({(0, 0): 4, (0, 1): 6}, {"rate": {"dentist": 0.5}}, r"unknown label 'dentist'; known labels: nurse, surgeon"),
    ({(0, 0): 4, (0, 1): 6}, {"rate": {"chef": 0.5}}, r"label 'chef' has no rows"),
])
def test_unreachable_targets_are_clear_errors(cells, kwargs, needle, mode):
    with pytest.raises(ValueError, match=needle):
        CooccurrenceControl(group="female", mode=mode, **kwargs).transform(table(cells), "train")


def test_unknown_group_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown group 'woman'; known groups: male, female"):
        CooccurrenceControl(group="woman", rate=0.5).transform(table(CELLS), "train")


def test_without_names_an_absent_group_or_label_id_is_an_unreachable_target_not_a_crash():
    data = table({(0, 0): 10, (1, 0): 5}, named=False)  # group 1 never occurs; ids only
    with pytest.raises(ValueError, match=r"label '0' \(group '1'\): rate 0.5 is unreachable"):
        CooccurrenceControl(group=1, rate=0.5).transform(data, "train")
    with pytest.raises(ValueError, match=r"label '7' has no rows"):
        CooccurrenceControl(group=0, rate={7: 0.5}).transform(data, "train")
    with pytest.raises(ValueError, match="group id -1 is out of range"):
        CooccurrenceControl(group=-1, rate=0.5).transform(data, "train")
