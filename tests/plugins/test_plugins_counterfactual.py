"""Counterfactual augmentation, scrubbing and counterfactual evaluation on hand-built tables and a toy model."""

from __future__ import annotations

from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from lightning_bias_plugins.downstream.counterfactual_augmentation import CounterfactualAugmentation
from lightning_bias_plugins.downstream.scrubbing import Scrubbing
from lightning_bias_plugins.evaluation.counterfactual_evaluation import CounterfactualEvaluation
from pytorch_lightning import LightningModule
from pytorch_lightning.plugins.precision import Precision

from lightning_bias.data import DatasetInfo
from lightning_bias.data.datamodule import BiasDataModule
from lightning_bias.mitigation import Evaluation, Mitigation, report_sections
from lightning_bias.models.pretrained import load_tokenizer

TEXTS = [
    "He is a nurse and his sister is a surgeon.",  # male, 3 gender words
    "She works as a surgeon.",  # female, 1 word
    "The chef cooks every day.",  # no gender word
    "Mary met Mr. Smith at the clinic.",  # female, name + title
]


def table(groups=(0, 1, 0, 1), named: bool = True, group_names=("male", "female")) -> datasets.Dataset:
    data = {"text": TEXTS, "label": [0, 1, 2, 0], "group": list(groups)}
    if not named:
        return datasets.Dataset.from_dict(data)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["nurse", "surgeon", "chef"]),
                                  "group": datasets.ClassLabel(names=list(group_names))})
    return datasets.Dataset.from_dict(data, features=features)


# --- counterfactual augmentation -----------------------------------------------------------------


def test_two_sided_adds_a_swapped_copy_after_every_row_with_an_attribute_word():
    plugin = CounterfactualAugmentation()
    out = plugin.transform(table(), "train")
    assert out["text"] == [
        TEXTS[0], "She is a nurse and her brother is a surgeon.",
        TEXTS[1], "He works as a surgeon.",
        TEXTS[2],
        TEXTS[3], "John met Ms. Smith at the clinic.",
    ]
    assert out["group"] == [0, 1, 1, 0, 0, 1, 0]
    assert out["label"] == [0, 0, 1, 1, 2, 0, 0]
    assert out.features == table().features  # names survive
    assert plugin.summary == {"mode": "two_sided", "scope": "everyone", "attribute": "gender", "rows_before": 4,
                              "rows_after": 7, "rows_swapped": 3, "words_swapped": 6}


def test_subject_scope_swaps_the_subject_and_keeps_third_parties():
    bios = ["She lives with her husband John; she is an actress.", "He treats men and women; his wife Mary helps him."]
    data = datasets.Dataset.from_dict({"text": bios, "label": [0, 1], "group": [1, 0]},
                                      features=table().features)
    plugin = CounterfactualAugmentation(scope="subject")
    out = plugin.transform(data, "train")
    assert out["text"] == [bios[0], "He lives with his husband John; he is an actor.",
                           bios[1], "She treats men and women; her wife Mary helps her."]
    assert out["group"] == [1, 0, 0, 1]
    assert plugin.summary["scope"] == "subject" and plugin.summary["words_swapped"] == 7


def test_only_the_train_split_changes():
    plugin = CounterfactualAugmentation()
    data = table()
    for split in ("val", "test", "predict"):
        assert plugin.transform(data, split) is data


@pytest.mark.parametrize("source_group", ["female", 1])
def test_one_sided_copies_only_the_source_group(source_group):
    out = CounterfactualAugmentation(mode="one_sided", source_group=source_group).transform(table(), "train")
    assert out["text"] == [TEXTS[0], TEXTS[1], "He works as a surgeon.", TEXTS[2], TEXTS[3],
                           "John met Ms. Smith at the clinic."]
    assert out["group"] == [0, 1, 0, 0, 1, 0]


def test_substitution_swaps_in_place_with_the_given_probability():
    data = table()
    assert CounterfactualAugmentation(mode="substitution", probability=0.0).transform(data, "train")["text"] == TEXTS
    swapped = CounterfactualAugmentation(mode="substitution", probability=1.0).transform(data, "train")
    assert swapped["text"][1] == "He works as a surgeon." and swapped["text"][2] == TEXTS[2]
    assert swapped["group"] == [1, 0, 0, 0]
    # p = 0.5 on a bigger table: about half swapped, fixed by the seed
    big = datasets.Dataset.from_dict({"text": ["she said hi"] * 400, "label": [0] * 400, "group": [1] * 400},
                                     features=table().features)
    first = CounterfactualAugmentation(mode="substitution", probability=0.5, seed=3).transform(big, "train")
    again = CounterfactualAugmentation(mode="substitution", probability=0.5, seed=3).transform(big, "train")
    other = CounterfactualAugmentation(mode="substitution", probability=0.5, seed=4).transform(big, "train")
    assert first["text"] == again["text"] != other["text"]
    flipped = np.asarray(first["group"]) == 0
    assert 160 < flipped.sum() < 240
    assert all((text == "he said hi") == f for text, f in zip(first["text"], flipped, strict=True))


def test_race_terms_flip_to_the_counterpart_group():
    names = ["black", "white", "asian"]
    data = datasets.Dataset.from_dict(
        {"text": ["A black family moved in.", "Nothing here."], "label": [0, 0], "group": [0, 1]},
        features=table(group_names=names).features)
    plugin = CounterfactualAugmentation(attribute="race", seed=0)
    out = plugin.transform(data, "train")
    counterpart = names[plugin.swapper.counterpart_groups(names)[0]]
    assert counterpart != "black"
    assert out["text"] == ["A black family moved in.", f"A {counterpart} family moved in.", "Nothing here."]
    assert out["group"] == [0, names.index(counterpart), 1]


def test_intersectional_groups_swap_only_the_attribute_part():
    names = ["male|black", "male|white", "female|black", "female|white"]
    out = CounterfactualAugmentation().transform(table(groups=(0, 3, 1, 2), group_names=names), "train")
    assert out["group"] == [0, 2, 3, 1, 1, 2, 0]
    with pytest.raises(ValueError, match="group 'unknown' contains no gender word"):
        CounterfactualAugmentation().transform(table(group_names=("male", "female", "unknown")), "train")


def test_user_word_files(tmp_path):
    terms = tmp_path / "pets.txt"
    terms.write_text("# my pets\ncat\tdog\nkitten\tpuppy\n")
    data = datasets.Dataset.from_dict({"text": ["The cat chased a puppy."], "label": [0], "group": [0]},
                                      features=table(group_names=["cat", "dog"]).features)
    out = CounterfactualAugmentation(attribute="pets", term_files=[str(terms)]).transform(data, "train")
    assert out["text"] == ["The cat chased a puppy.", "The dog chased a kitten."]
    assert out["group"] == [0, 1]


def test_malformed_word_list_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("he\tshe\nman\twoman\tperson\n")  # a triple among pairs
    with pytest.raises(ValueError, match=r"bad.txt:2"):
        CounterfactualAugmentation(term_files=[str(bad)])
    with pytest.raises(ValueError, match="missing.txt' does not exist"):
        Scrubbing(term_files=[str(tmp_path / "missing.txt")])


def test_group_names_are_needed_and_can_be_given():
    with pytest.raises(ValueError, match="carries no group names.*give group_names"):
        CounterfactualAugmentation().transform(table(named=False), "train")
    out = CounterfactualAugmentation(group_names=["male", "female"]).transform(table(named=False), "train")
    assert out["group"] == [0, 1, 1, 0, 0, 1, 0]
    one_sided = CounterfactualAugmentation(mode="one_sided", source_group="female", group_names=["male", "female"])
    assert one_sided.transform(table(named=False), "train")["group"] == [0, 1, 0, 0, 1, 0]


@pytest.mark.parametrize(("source_group", "needle"), [
    ("woman", "unknown source_group 'woman'; groups: male, female"),
    (2, r"source_group 2 is not a group id in 0..1"),
])
def test_unknown_source_group(source_group, needle):
    with pytest.raises(ValueError, match=needle):
        CounterfactualAugmentation(mode="one_sided", source_group=source_group).transform(table(), "train")


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"mode": "both"}, "unknown mode 'both'"),
    ({"mode": "one_sided"}, "source_group is required with mode one_sided"),
    ({"source_group": "male"}, "source_group is required with mode one_sided and only used there"),
    ({"mode": "substitution", "probability": 1.5}, r"probability must be in \[0, 1\]"),
    ({"attribute": "age"}, "no built-in word lists for attribute 'age'"),
    ({"name_files": ["names.txt"]}, "name_files is only used together with term_files"),
    ({"scope": "all"}, "unknown scope 'all'; choose one of everyone, subject"),
])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        CounterfactualAugmentation(**kwargs)


# --- scrubbing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "val", "test", "predict"])
def test_scrubbing_neutralises_every_split(split):
    plugin = Scrubbing()
    data = table()
    out = plugin.transform(data, split)
    assert out["text"] == [
        "They are a nurse and their sister is a surgeon.",  # the verb agrees with "they"
        "They work as a surgeon.",
        TEXTS[2],
        "_ met Smith at the clinic.",
    ]
    assert out["label"] == data["label"] and out["group"] == data["group"] and out.features == data.features
    assert plugin.summary[split] == {"rows": 4, "rows_changed": 3}


def test_scrubbing_options():
    out = Scrubbing(include_names=False, term_replacement="person").transform(table(), "val")
    assert out["text"][0] == "They are a nurse and their person is a surgeon."
    assert out["text"][3] == "Mary met Smith at the clinic."


# --- counterfactual evaluation -------------------------------------------------------------------


class PronounModel(LightningModule):
    """Predicts class 0 when the text contains "she", else class 1, with fixed probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.tokenizer = load_tokenizer("minilm")
        self.she = self.tokenizer.convert_tokens_to_ids("she")
        self.calls = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert not torch.is_grad_enabled() and not self.training
        has_she = ((input_ids == self.she) & attention_mask.bool()).any(dim=1)
        return torch.where(has_she[:, None], torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))


def fake_trainer(tables: dict, world_size: int = 1, rank: int = 0) -> SimpleNamespace:
    strategy = SimpleNamespace(reduce=lambda tensor, reduce_op="sum": tensor)
    info = DatasetInfo(label_names=("a", "b"), group_names=("male", "female"))
    datamodule = BiasDataModule(max_length=32)  # set up by hand: the tables and info that setup would give
    datamodule.tables, datamodule.info = tables, info
    return SimpleNamespace(world_size=world_size, global_rank=rank, strategy=strategy, datamodule=datamodule,
                           precision_plugin=Precision(), sanity_checking=False)


def test_counterfactual_evaluation_is_an_evaluation_not_a_mitigation():
    assert issubclass(CounterfactualEvaluation, Evaluation) and not issubclass(CounterfactualEvaluation, Mitigation)
    assert CounterfactualEvaluation.report_name == "counterfactual"


def test_counterfactual_evaluation_measures_flips_and_reports_the_section():
    texts = ["she is a nurse.", "he is a surgeon.", "the chef cooks.", "her book is here.", "his dog barks."]
    data = datasets.Dataset.from_dict({"text": texts, "label": [0] * 5, "group": [0] * 5})
    module = PronounModel()
    module.train()
    plugin = CounterfactualEvaluation(batch_size=2)
    plugin.on_test_epoch_end(fake_trainer({"test": data}), module)
    section = report_sections([plugin], "test")["evaluations"]["counterfactual"]
    # swappable rows: 0 (she->he: flips), 1 (he->she: flips), 3 (her->his: no "she" either way), 4 (his->her)
    assert section["num_swapped"] == 4 and section["num_rows"] == 5
    assert section["flip_rate"] == pytest.approx(0.5)
    p_she, p_other = torch.tensor([2.0, 0.0]).softmax(0), torch.tensor([0.0, 1.0]).softmax(0)
    change_flip_0 = abs(float(p_other[0] - p_she[0]))  # row 0: predicted class 0 with p_she[0]
    change_flip_1 = abs(float(p_she[1] - p_other[1]))  # row 1: predicted class 1 with p_other[1]
    assert section["mean_abs_prob_change"] == pytest.approx((change_flip_0 + change_flip_1) / 4, rel=1e-5)
    assert plugin.results["test"] == section and plugin.report_section("val") is None
    assert module.training  # train mode restored
    assert module.calls == 4  # 2 batches x (originals, swapped)


def test_counterfactual_evaluation_uses_the_same_shards_as_evaluation():
    texts = [f"she is person {i}." for i in range(7)]
    data = datasets.Dataset.from_dict({"text": texts, "label": [0] * 7, "group": [0] * 7})
    module = PronounModel()
    seen = []
    for rank in range(3):
        plugin = CounterfactualEvaluation()
        plugin.swapper.swap_with_count = lambda text, seen=seen, swap=plugin.swapper.swap_with_count: (
            seen.append(text) or swap(text))
        plugin.on_validation_epoch_end(fake_trainer({"val": data}, world_size=3, rank=rank), module)
    assert seen == [texts[i] for rank in range(3) for i in range(rank, 7, 3)]


def test_counterfactual_evaluation_skips_sanity_check_and_unmeasured_splits():
    module = PronounModel()
    trainer = fake_trainer({"val": table()})
    trainer.sanity_checking = True
    sanity, val_only = CounterfactualEvaluation(), CounterfactualEvaluation(splits=["val"])
    sanity.on_validation_epoch_end(trainer, module)
    val_only.on_test_epoch_end(fake_trainer({"test": table()}), module)
    assert report_sections([sanity, val_only], "val") == report_sections([sanity, val_only], "test") == {}
    assert module.calls == 0
    with pytest.raises(ValueError, match="splits must be among val, test"):
        CounterfactualEvaluation(splits=["train"])


def test_counterfactual_evaluation_needs_a_classification_data_module_with_info():
    trainer = fake_trainer({"test": table()})
    trainer.datamodule = SimpleNamespace(tables={"test": table()}, label_names=["a", "b"])  # look-alike, not ours
    with pytest.raises(ValueError, match="counterfactual_evaluation .* needs a lightning_bias.data.datamodule.BiasDataModule; got SimpleNamespace"):
        CounterfactualEvaluation().setup(trainer, PronounModel(), "fit")
    with pytest.raises(ValueError, match="needs a lightning_bias.data.datamodule.BiasDataModule; got SimpleNamespace"):
        CounterfactualEvaluation().on_test_epoch_end(trainer, PronounModel())
    trainer.datamodule = BiasDataModule()  # set up never ran: no info yet
    trainer.datamodule.tables = {"test": table()}
    with pytest.raises(ValueError, match="exposes no DatasetInfo"):
        CounterfactualEvaluation().on_test_epoch_end(trainer, PronounModel())
