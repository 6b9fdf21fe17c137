"""The identity-term evaluations (identity_templates, wiki_toxicity_test) on the shared data with a toy scorer:
per-term figures against sklearn and a direct count, every row once over two ranks, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, run_cli, shared_data
from lightning_bias_plugins.evaluation.identity_templates import IdentityTemplates
from lightning_bias_plugins.evaluation.identity_term_examples import read_term_examples, subsample
from lightning_bias_plugins.evaluation.wiki_toxicity_test import WikiToxicityTest
from pytorch_lightning import LightningModule
from pytorch_lightning.plugins.precision import Precision
from sklearn.metrics import roc_auc_score

from lightning_bias.data import DatasetInfo
from lightning_bias.data.identity_mentions import words_of
from lightning_bias.mitigation import Evaluation, Mitigation, report_sections
from lightning_bias.models.pretrained import load_tokenizer

MADLIBS_COLUMNS = {"text": "Text", "label": "Label", "template": "Template"}


def dixon_terms() -> str:
    return str(shared_data("hate_speech_identity_terms", "identity_term_lists", "identity.csv"))


class TokenHashScorer(LightningModule):
    """A fixed toxicity scorer: the toxic probability is a hash of the token ids, so it differs across texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tokenizer = load_tokenizer("minilm")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hashed = ((input_ids * 7919) % 1009 * attention_mask).sum(dim=1) % 997
        toxic = hashed.double() / 997.0 * 0.98 + 0.01
        return torch.stack([torch.zeros_like(toxic), torch.log(toxic / (1 - toxic))], dim=1)

    def scores(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
        return self(encoded["input_ids"], encoded["attention_mask"]).softmax(-1)[:, 1].numpy()


def fake_trainer(world_size: int = 1, rank: int = 0, label_names=("not_hate", "hate")) -> SimpleNamespace:
    datamodule = SimpleNamespace(info=DatasetInfo(label_names=label_names, group_names=("no_mention", "mention")),
                                 max_length=64)
    return SimpleNamespace(world_size=world_size, global_rank=rank, datamodule=datamodule, sanity_checking=False,
                           strategy=SimpleNamespace(reduce=lambda tensor, reduce_op="sum": tensor),
                           precision_plugin=Precision())


def test_they_are_evaluations_reported_under_evaluations():
    assert issubclass(IdentityTemplates, Evaluation) and not issubclass(IdentityTemplates, Mitigation)
    plugin = IdentityTemplates()
    plugin.results["test"] = {"overall_auc": 0.5}
    assert report_sections([plugin], "test") == {"evaluations": {"identity_templates": {"overall_auc": 0.5}}}


def test_madlibs_terms_are_found_as_a_direct_search_finds_them():
    path = shared_data("bias_madlibs_77k", "bias_madlibs_77k.csv.gz")
    examples = subsample(read_term_examples(path, MADLIBS_COLUMNS, ["BAD"], ["NOT_BAD"], [dixon_terms()], "t"), 3000, 0)
    assert len(examples.texts) == 3000 and examples.toxic.sum() > 1000
    assert set(examples.templates) >= {"name_adj", "verb_adj"}
    for term in ("gay", "muslim", "african american", "old"):
        expected = [bool(re.search(rf"\b{term}s?\b", " ".join(words_of(text)))) for text in examples.texts]
        assert examples.membership[:, examples.terms.index(term)].tolist() == expected
    again = subsample(read_term_examples(path, MADLIBS_COLUMNS, ["BAD"], ["NOT_BAD"], [dixon_terms()], "t"), 3000, 0)
    assert again.texts == examples.texts  # seeded


def test_identity_templates_figures_match_sklearn_and_a_direct_count(monkeypatch):
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(shared_data()))
    plugin = IdentityTemplates(identity_terms=[dixon_terms()], max_examples=1500, batch_size=256, splits=["test"],
                               decision_threshold=0.4)
    model = TokenHashScorer()
    plugin.setup(fake_trainer(), model, "test")
    plugin.on_test_epoch_end(fake_trainer(), model)
    section = report_sections([plugin], "test")["evaluations"]["identity_templates"]
    examples = plugin.sets["madlibs"]
    scores, toxic = model.scores(examples.texts), examples.toxic
    assert section["num_examples"] == 1500 and section["num_toxic"] == int(toxic.sum())
    assert section["overall_auc"] == pytest.approx(roc_auc_score(toxic, scores), abs=3e-3)
    for term in ("gay", "muslim", "blind"):
        inside = examples.membership[:, examples.terms.index(term)]
        row = section["per_term"][term]
        negatives = inside & (toxic == 0)
        assert row["n"] == int(inside.sum())
        assert row["fpr"] == pytest.approx((scores[negatives] > 0.4).mean(), abs=1e-6)
        assert row["fnr"] == pytest.approx((scores[inside & (toxic == 1)] <= 0.4).mean(), abs=1e-6)
        assert row["fpr_ci95"][0] <= row["fpr"] <= row["fpr_ci95"][1]
        assert row["subgroup_auc"] == pytest.approx(roc_auc_score(toxic[inside], scores[inside]), abs=3e-3)
        bpsn = negatives | (~inside & (toxic == 1))
        assert row["bpsn_auc"] == pytest.approx(roc_auc_score(toxic[bpsn], scores[bpsn]), abs=3e-3)
    fprs = np.array([row["fpr"] for row in section["per_term"].values()])
    assert section["fped"] == pytest.approx(np.abs(fprs - section["fpr"]).sum(), abs=1e-4)
    assert set(section["by_template"]) == set(examples.templates)
    assert 0.0 < section["final_score"] < 1.0


def test_every_row_is_scored_once_over_two_ranks(monkeypatch):
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(shared_data()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # terms absent from the wiki sets are named in a warning (tested below)
        sections = []
        for rank in range(2):
            plugin = WikiToxicityTest(variants=["nonfuzzed"], identity_terms=[dixon_terms()], splits=["test"])
            plugin.setup(fake_trainer(2, rank), TokenHashScorer(), "test")
            plugin.on_test_epoch_end(fake_trainer(2, rank), TokenHashScorer())
            sections.append(plugin.results["test"]["nonfuzzed"])
    assert sections[0]["num_examples"] + sections[1]["num_examples"] == 1492  # the summed state counts each once
    assert sections[0]["num_toxic"] + sections[1]["num_toxic"] == 248
    term = "gay"
    examples = plugin.sets["nonfuzzed"]
    assert sum(s["per_term"][term]["n"] for s in sections) == int(examples.membership[:, examples.terms.index(term)].sum())


def test_terms_that_never_occur_are_named_in_one_warning_and_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(shared_data()))
    terms = tmp_path / "terms.txt"
    terms.write_text("gay\nzorblaxian\n")
    with pytest.warns(UserWarning, match=r"1 of the 2 identity terms .* occur in no text .*zorblaxian"):
        plugin = WikiToxicityTest(variants=["fuzzed"], identity_terms=[str(terms)])
        sets = plugin.load_sets()
    assert sets["fuzzed"].terms == ["gay"]


def test_a_set_whose_terms_never_occur_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(shared_data()))
    terms = tmp_path / "terms.txt"
    terms.write_text("zorblaxian\n")
    with pytest.raises(ValueError, match=r"no text mentions any of the 1 identity terms"):
        IdentityTemplates(identity_terms=[str(terms)], max_examples=100).load_sets()


def test_a_csv_without_the_named_columns_is_an_error(tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("sentence,toxicity\nI am a gay man,0\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['Text', 'Label', 'Template'\].*Set identity_templates's `columns`"):
        IdentityTemplates(file=str(csv), columns=MADLIBS_COLUMNS).load_sets()


def test_a_users_csv_with_a_term_column(tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("sentence,toxicity,who\nI am a gay man,0,gay\nI hate gay people,1,gay\nI am old,0,old\n"
                   "old people are awful,1,old\n")
    examples = IdentityTemplates(file=str(csv), columns={"text": "sentence", "label": "toxicity", "term": "who"}
                                 ).load_sets()["madlibs"]
    assert examples.terms == ["gay", "old"] and examples.toxic.tolist() == [0, 1, 0, 1]
    assert examples.membership.tolist() == [[True, False], [True, False], [False, True], [False, True]]


def test_an_unknown_label_value_names_the_row(tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("Text,Label\nI am a gay man,NOT_BAD\nI am a gay man,maybe\n")
    with pytest.raises(ValueError, match=r"row 1, column 'Label': label 'maybe' is neither toxic"):
        IdentityTemplates(file=str(csv), columns={"text": "Text", "label": "Label"}).load_sets()


def test_a_model_with_more_than_two_classes_needs_toxic_class():
    with pytest.raises(ValueError, match="name the one that means toxic with the toxic_class option"):
        IdentityTemplates().setup(fake_trainer(label_names=("a", "b", "c")), TokenHashScorer(), "fit")


@pytest.mark.slow  # about 30 s on a loaded 2-core machine: Stormfront is tokenized and both sets scored
def test_a_tiny_stormfront_fit_reports_both_evaluation_sets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIGHTNING_BIAS_DATA", str(shared_data()))
    overlay = tmp_path / "evaluations.yaml"
    overlay.write_text(
        "evaluations:\n"
        f"  - {{name: identity_templates, identity_terms: [{dixon_terms()}], max_examples: 500, splits: [test]}}\n"
        f"  - {{name: wiki_toxicity_test, identity_terms: [{dixon_terms()}], variants: [fuzzed], splits: [test]}}\n"
    )
    code, err = run_cli(["fit", "--config", str(REPO_ROOT / "configs" / "tiny.yaml"),
                         "--config", str(REPO_ROOT / "configs" / "toxicity" / "stormfront.yaml"),
                         "--config", str(overlay), "--model.model=null", "--trainer.max_epochs=1",
                         "--trainer.limit_train_batches=5", f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert code == 0, err
    report = json.loads(next(tmp_path.rglob("bias_report_test.json")).read_text())
    templates = report["evaluations"]["identity_templates"]
    assert templates["num_examples"] == 500 and templates["num_terms"] > 40
    assert report["evaluations"]["wiki_toxicity_test"]["fuzzed"]["num_examples"] == 1492
    assert "evaluations" not in json.loads(next(tmp_path.rglob("bias_report.json")).read_text())  # test only


@pytest.mark.multiprocess
def test_under_two_process_ddp_every_row_is_counted_once(tmp_path):
    """A tiny synthetic-bios model scores an odd-sized CSV (uneven shards) under 2-process DDP; the report's
    counts are the direct counts of the file, so each row entered the summed state exactly once."""
    terms = ("gay", "old", "deaf")
    rows = [(f"{terms[i % 3]} number {i} is here", i % 2 == 0, terms[i % 3]) for i in range(101)]
    csv = tmp_path / "set.csv"
    csv.write_text("text,label,term\n" + "".join(f"{text},{int(toxic)},{who}\n" for text, toxic, who in rows))
    overlay = tmp_path / "evaluations.yaml"
    overlay.write_text("evaluations:\n  - {name: identity_templates, file: " + str(csv) + ", toxic_class: nurse, "
                       "columns: {text: text, label: label, term: term}, splits: [test], batch_size: 8}\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "lightning_bias", "fit", "--config", str(REPO_ROOT / "configs" / "tiny.yaml"),
               "--config", str(overlay), "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.max_epochs=1",
               "--data.synthetic_bios.num_examples=400", "--model.export_hf=false",
               "--trainer.enable_checkpointing=false", f"--trainer.default_root_dir={tmp_path / 'run'}"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    section = json.loads(next((tmp_path / "run").rglob("bias_report_test.json")).read_text())["evaluations"][
        "identity_templates"]
    assert section["num_examples"] == 101 and section["num_toxic"] == sum(toxic for _, toxic, _ in rows)
    for who in ("gay", "old", "deaf"):
        assert section["per_term"][who]["n"] == sum(term == who for _, _, term in rows)
        assert section["per_term"][who]["n_toxic"] == sum(toxic for _, toxic, term in rows if term == who)
