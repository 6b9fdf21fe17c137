"""intersectional_groups: one id per row for a combination of protected attributes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_bias.data.group_encoding import intersectional_groups
from lightning_bias.metrics import GroupAccuracy


def test_ids_are_row_major_over_all_combinations() -> None:
    ids, names = intersectional_groups(
        {"gender": [1, 0, 1], "race": [2, 0, 1]},
        {"gender": ["female", "male"], "race": ["white", "black", "asian"]},
    )
    assert names == ["female|white", "female|black", "female|asian", "male|white", "male|black", "male|asian"]
    assert ids == [5, 0, 4]
    assert all(isinstance(i, int) for i in ids)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_each_name_describes_its_rows_values(data) -> None:
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    rows = data.draw(st.integers(0, 20))
    attributes = {
        f"a{k}": data.draw(st.lists(st.integers(0, size - 1), min_size=rows, max_size=rows)) for k, size in enumerate(sizes)
    }
    names = {f"a{k}": [f"v{k}_{j}" for j in range(size)] for k, size in enumerate(sizes)}
    ids, group_names = intersectional_groups(attributes, names)
    assert len(group_names) == int(np.prod(sizes)) == len(set(group_names))
    assert group_names == ["|".join(parts) for parts in itertools.product(*names.values())]
    for row, group in enumerate(ids):
        expected = "|".join(names[key][values[row]] for key, values in attributes.items())
        assert group_names[group] == expected


def test_accepts_arrays_and_tensors_and_feeds_a_metric() -> None:
    ids, names = intersectional_groups(
        {"gender": np.array([0, 1, 1, 0]), "age": torch.tensor([1, 1, 0, 0])},
        {"gender": ["f", "m"], "age": ["young", "old"]},
        separator="/",
    )
    assert names == ["f/young", "f/old", "m/young", "m/old"] and ids == [1, 3, 2, 0]
    metric = GroupAccuracy(num_classes=2, num_groups=len(names))
    metric.update(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]), torch.tensor(ids))
    torch.testing.assert_close(metric.compute(), torch.tensor([1.0, 1.0, 0.0, 1.0]))


@pytest.mark.parametrize(
    ("attributes", "names", "message"),
    [
        ({}, {}, "at least one protected attribute"),
        ({"gender": [0]}, {"race": ["a"]}, "same keys"),
        ({"gender": [0, 2]}, {"gender": ["f", "m"]}, r"'gender' has value 2 at row 1; expected 0..1 \(f, m\)"),
        ({"gender": [0, -1]}, {"gender": ["f", "m"]}, "value -1 at row 1"),
        ({"g": [0, 1], "r": [0]}, {"g": ["f", "m"], "r": ["x"]}, "'g' has 2 rows but 'r' has 1"),
        ({"g": [0.5]}, {"g": ["f", "m"]}, "integer value ids; got dtype float64"),
        ({"g": [0]}, {"g": ["a|b"]}, "contain the separator"),
    ],
)
def test_bad_inputs_raise_value_error(attributes, names, message) -> None:
    with pytest.raises(ValueError, match=message):
        intersectional_groups(attributes, names)
