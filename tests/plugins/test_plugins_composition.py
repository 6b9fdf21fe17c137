"""Plugins compose in listed order: co-occurrence control -> counterfactual augmentation -> reweighting.

The same chain is checked twice: calling the hooks by hand in the documented order, and through the
real ``BiasDataModule.setup`` with the plugins as Trainer callbacks.
"""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest
from lightning_bias_plugins.downstream.cooccurrence import CooccurrenceControl
from lightning_bias_plugins.downstream.counterfactual_augmentation import CounterfactualAugmentation
from lightning_bias_plugins.downstream.reweighting import Reweighting
from pytorch_lightning import Trainer

from lightning_bias.data.datamodule import BiasDataModule, ColumnMapping
from lightning_bias.models.pretrained import load_tokenizer

NURSE, SURGEON = 0, 1
MALE, FEMALE = 0, 1
ROWS = [
    ("She is a nurse.", NURSE, FEMALE),
    ("She is kind.", NURSE, FEMALE),
    ("She helps.", NURSE, FEMALE),
    ("He is a nurse.", NURSE, MALE),
    ("He operates.", SURGEON, MALE),
    ("He is a surgeon.", SURGEON, MALE),
    ("She is a surgeon.", SURGEON, FEMALE),
    ("The surgeon operates.", SURGEON, MALE),  # no gender word: never copied
]
FEATURES = datasets.Features({"text": datasets.Value("string"),
                              "label": datasets.ClassLabel(names=["nurse", "surgeon"]),
                              "group": datasets.ClassLabel(names=["male", "female"])})


def chain() -> list:
    # group and label by id, and group names given to CDA, so the chain also runs on tables without names
    return [CooccurrenceControl(group=FEMALE, rate={NURSE: 0.5}, seed=0, mode="subsample"),
            CounterfactualAugmentation(mode="two_sided", group_names=["male", "female"]),
            Reweighting("kamiran_calders")]


def expected_table(kept_nurse_text: str) -> list[tuple[str, int, int]]:
    """After co-occurrence control (one female nurse kept) and two-sided CDA."""
    swap = {"She is a nurse.": "He is a nurse.", "She is kind.": "He is kind.", "She helps.": "He helps."}
    return [
        (kept_nurse_text, NURSE, FEMALE), (swap[kept_nurse_text], NURSE, MALE),
        ("He is a nurse.", NURSE, MALE), ("She is a nurse.", NURSE, FEMALE),
        ("He operates.", SURGEON, MALE), ("She operates.", SURGEON, FEMALE),
        ("He is a surgeon.", SURGEON, MALE), ("She is a surgeon.", SURGEON, FEMALE),
        ("She is a surgeon.", SURGEON, FEMALE), ("He is a surgeon.", SURGEON, MALE),
        ("The surgeon operates.", SURGEON, MALE),
    ]


# Kamiran-Calders on the 11 rows: nurse 2 F + 2 M, surgeon 3 F + 4 M; n_F = 5, n_M = 6, N = 11
EXPECTED_WEIGHT = {(NURSE, FEMALE): 4 * 5 / (2 * 11), (NURSE, MALE): 4 * 6 / (2 * 11),
                   (SURGEON, FEMALE): 7 * 5 / (3 * 11), (SURGEON, MALE): 7 * 6 / (4 * 11)}


def check(table: datasets.Dataset, weights: np.ndarray) -> None:
    rows = list(zip(table["text"], table["label"], table["group"], strict=True))
    kept = rows[0][0]
    assert kept in {"She is a nurse.", "She is kind.", "She helps."}
    assert rows == expected_table(kept)
    np.testing.assert_allclose(weights, [EXPECTED_WEIGHT[(y, g)] for _, y, g in rows])
    assert weights.mean() == pytest.approx(1.0)  # Kamiran-Calders weights already have mean 1


def test_hooks_by_hand_in_listed_order():
    table = datasets.Dataset.from_dict({"text": [r[0] for r in ROWS], "label": [r[1] for r in ROWS],
                                        "group": [r[2] for r in ROWS]}, features=FEATURES)
    plugins = chain()
    for plugin in plugins:
        table = plugin.transform(table, "train")
    weights = np.ones(len(table))
    for plugin in plugins:
        given = plugin.sample_weights(table)
        if given is not None:
            weights = weights * np.asarray(given)
    check(table, weights)
    assert all(plugin.sampler(table, 1, 0, 0) is None for plugin in plugins)


def test_through_the_data_module(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": [r[0] for r in ROWS], "label": [["nurse", "surgeon"][r[1]] for r in ROWS],
                  "gender": [["male", "female"][r[2]] for r in ROWS]}).to_csv(path, index=False)
    datamodule = BiasDataModule(source="files", files={"train": str(path)}, columns=ColumnMapping(group="gender"),
                                label_names=["nurse", "surgeon"], group_names={"gender": ["male", "female"]},
                                val_fraction=0.0, test_fraction=0.0, cache_dir=str(tmp_path / "cache"))
    datamodule.trainer = Trainer(callbacks=chain(), accelerator="cpu", logger=False, enable_checkpointing=False)
    datamodule.connect(load_tokenizer("minilm"))
    datamodule.setup("fit")
    check(datamodule.tables["train"], np.asarray(datamodule.tokenized["train"]["weight"]))
    assert datamodule.info.train_cooccurrence["counts"] == {"nurse": {"male": 2, "female": 2},
                                                       "surgeon": {"male": 4, "female": 3}}
