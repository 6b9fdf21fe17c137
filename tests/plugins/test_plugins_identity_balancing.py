"""Identity balancing on Stormfront (real data), and cooccurrence / resampling on its mention groups."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from conftest import shared_data
from lightning_bias_plugins.downstream.cooccurrence import CooccurrenceControl
from lightning_bias_plugins.downstream.identity_balancing import IdentityBalancing, needed_snippets
from lightning_bias_plugins.downstream.resampling import Resampling

from lightning_bias.data.identity_mentions import IdentityTermMatcher, load_term_lists
from lightning_bias.data.sources.stormfront import StormfrontSource


def named(table: datasets.Dataset, label_names: list[str], group_names: list[str]) -> datasets.Dataset:
    """The table with label and group names, as the data module hands it to mitigations."""
    features = table.features.copy()
    features["label"] = datasets.ClassLabel(names=label_names)
    features["group"] = datasets.ClassLabel(names=group_names)
    return table.cast(features)


@pytest.fixture(scope="module")
def stormfront_train() -> datasets.Dataset:
    loaded = StormfrontSource(data_root=str(shared_data()), group_by="mention").load()
    return named(loaded.tables["train"], loaded.label_names, loaded.group_names)


def toxic_rates(table: datasets.Dataset, terms: list[str]) -> dict[str, tuple[int, float]]:
    """Per term: texts that mention it and their hate share, by a direct count."""
    matcher = IdentityTermMatcher(load_term_lists(None, "test"))
    names = [term.term for term in matcher.terms]
    labels = np.asarray(table["label"])
    found = [set(names[i] for i in matcher.mentioned(text)) for text in table["text"]]
    out = {}
    for term in terms:
        rows = np.array([term in mentioned for mentioned in found])
        out[term] = (int(rows.sum()), float(labels[rows].mean()))
    return out


def test_needed_snippets():
    assert needed_snippets(30, 50, 0.2) == 100 and needed_snippets(5, 50, 0.2) == 0 and needed_snippets(0, 3, 0.1) == 0
    assert needed_snippets(1, 1, 0.3) == 3  # 1 / 4 = 0.25 <= 0.3, 1 / 3 > 0.3


def test_identity_balancing_brings_term_rates_down_to_the_background_on_stormfront(stormfront_train):
    plugin = IdentityBalancing(data_root=str(shared_data()), seed=0)
    with pytest.warns(UserWarning, match="snippets ran out before the toxic rate of"):
        out = plugin.transform(stormfront_train, "train")
    summary = plugin.summary
    target = float(np.mean(stormfront_train["label"]))
    assert summary["target_rate"] == pytest.approx(target, abs=1e-6)
    assert len(out) == len(stormfront_train) + summary["rows_added"] and summary["rows_added"] > 100
    added = out.select(range(len(stormfront_train), len(out)))
    assert set(added["label"]) == {0} and set(added["group"]) == {stormfront_train.features["group"].names.index("mention")}
    assert out.features == stormfront_train.features
    before, after = toxic_rates(stormfront_train, ["gay", "women", "muslim"]), toxic_rates(out, ["gay", "women", "muslim"])
    for term in ("gay", "women", "muslim"):
        row = summary["terms"][term]
        assert (row["n_before"], row["toxic_rate_before"]) == pytest.approx(before[term], abs=1e-6)
        assert (row["n_after"], row["toxic_rate_after"]) == pytest.approx(after[term], abs=1e-6)
        assert row["toxic_rate_before"] > target  # over-represented before
        assert (row["toxic_rate_after"] <= target + 1e-9) == (term not in summary["unreached"])
    assert summary["snippets"]["used"] == summary["rows_added"] <= summary["snippets"]["usable"]
    assert plugin.transform(stormfront_train, "val") is stormfront_train
    again = IdentityBalancing(data_root=str(shared_data()), seed=0)
    with pytest.warns(UserWarning):
        assert again.transform(stormfront_train, "train")["text"] == out["text"]  # seeded


def test_identity_balancing_gives_identity_families_to_the_snippets():
    loaded = StormfrontSource(data_root=str(shared_data()), group_by="identity").load()
    table = named(loaded.tables["train"], loaded.label_names, loaded.group_names)
    with pytest.warns(UserWarning):
        out = IdentityBalancing(data_root=str(shared_data())).transform(table, "train")
    added_groups = {loaded.group_names[g] for g in out.select(range(len(table), len(out)))["group"]}
    assert added_groups and added_groups <= set(loaded.group_names) - {"none"}


def test_identity_balancing_bad_input(tmp_path, stormfront_train):
    snippets = tmp_path / "snippets.tsv"
    snippets.write_text("sentence\tsplit\nThe gay rights movement began.\ttrain\n")
    with pytest.raises(ValueError, match=r"has no column\(s\) \['comment'\].*Set text_column"):
        IdentityBalancing(file=str(snippets)).transform(stormfront_train, "train")
    with pytest.raises(ValueError, match="no row of .* has split == 'dev'"):
        IdentityBalancing(file=str(snippets), text_column="sentence", file_split="dev").transform(stormfront_train, "train")
    three = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 2], "group": [0, 1, 0]},
                                       features=datasets.Features({"text": datasets.Value("string"),
                                                                   "label": datasets.ClassLabel(names=["x", "y", "z"]),
                                                                   "group": datasets.ClassLabel(names=["g", "h"])}))
    with pytest.raises(ValueError, match="for binary toxicity tasks"):
        IdentityBalancing(file=str(snippets), text_column="sentence").transform(three, "train")


def test_cooccurrence_sets_the_mention_rate_of_stormfront(stormfront_train):
    plugin = CooccurrenceControl(group="mention", rate=0.3)
    out = plugin.transform(stormfront_train, "train")
    labels, groups = np.asarray(out["label"]), np.asarray(out["group"])
    mention = stormfront_train.features["group"].names.index("mention")
    for label in (0, 1):
        assert (groups[labels == label] == mention).mean() == pytest.approx(0.3, abs=1e-3)
    assert len(out) == len(stormfront_train)  # size-matched
    assert set(plugin.summary["labels"]) == {"not_hate", "hate"}


def test_resampling_balances_mention_groups_within_each_label(stormfront_train):
    plugin = Resampling(method="undersample")
    sampler = plugin.sampler(stormfront_train, num_replicas=1, rank=0, seed=0)
    drawn = np.asarray(list(iter(sampler)))
    labels, groups = np.asarray(stormfront_train["label"])[drawn], np.asarray(stormfront_train["group"])[drawn]
    for label in (0, 1):
        counts = np.bincount(groups[labels == label], minlength=2)
        assert counts[0] == counts[1] > 0
    assert set(plugin.summary) == {"not_hate", "hate"} and set(plugin.summary["hate"]) == {"no_mention", "mention"}
