"""What a bias report records about how it was made: seeds, source, train size, plugins, evaluated split."""

from __future__ import annotations

from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.mitigation import Evaluation, Mitigation
from lightning_bias.models.report_provenance import (
    evaluation_distribution,
    global_seed,
    plugin_record,
    plugin_seeds,
    run_provenance,
)


class _Seeded(Mitigation):
    """Takes a seed."""

    report_name = "seeded"

    def __init__(self, rate: float = 0.5, seed: int = 0) -> None:
        super().__init__()


class _Unseeded(Mitigation):
    """Takes no seed."""

    def __init__(self, scheme: str = "a") -> None:
        super().__init__()


class _Probe(Evaluation):
    """An evaluation with a seed."""

    def __init__(self, seed: int = 9) -> None:
        super().__init__()


INFO = DatasetInfo(
    label_names=("nurse", "chef"), group_names=("male", "female"),
    sizes={"train": 80, "val": 20, "test": 20}, sizes_before_mitigation={"train": 100, "val": 20, "test": 20},
    cooccurrence={"test": {"p_group_given_label": {"nurse": {"male": 0.5, "female": 0.5}},
                           "counts": {"nurse": {"male": 10, "female": 10}},
                           "group_shares": {"male": 0.5, "female": 0.5}, "num_rows": 20}},
    declared_distribution={"test": {"female_rate": 0.5}},
    seeds={"data": 1, "split": 2, "source": 3},
    source={"name": "synthetic_bios", "synthetic_bios": {"seed": 3}},
)


def test_global_seed_is_the_one_seed_everything_set(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "42")
    assert global_seed() == 42
    monkeypatch.delenv("PL_GLOBAL_SEED")
    assert global_seed() is None


def test_plugin_seeds_under_report_names_repeated_names_numbered():
    plugins = [_Seeded(seed=4), _Unseeded(), _Seeded(seed=5), _Probe()]
    assert plugin_seeds(plugins) == {"seeded": 4, "seeded_2": 5, "_probe": 9}


def test_plugin_record_names_class_stage_and_arguments():
    assert plugin_record(_Seeded(rate=0.1)) == {
        "class": f"{__name__}._Seeded", "stage": "downstream", "arguments": {"rate": 0.1, "seed": 0}}
    assert plugin_record(_Probe()) == {"class": f"{__name__}._Probe", "arguments": {"seed": 9}}


def test_run_provenance_has_seeds_source_train_size_and_evaluations(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert run_provenance(INFO, [_Seeded(seed=4), _Probe()]) == {
        "seeds": {"global": 7, "data": 1, "split": 2, "source": 3, "plugins": {"seeded": 4, "_probe": 9}},
        "source": {"name": "synthetic_bios", "synthetic_bios": {"seed": 3}},
        "train_size": {"before_mitigation": 100, "after_mitigation": 80},
        "evaluations": [plugin_record(_Probe())],
    }


def test_evaluation_distribution_is_measured_and_declared():
    assert evaluation_distribution(INFO, "test") == {
        "split": "test", "declared": {"female_rate": 0.5}, "num_rows": 20,
        "group_shares": {"male": 0.5, "female": 0.5}, "p_group_given_label": {"nurse": {"male": 0.5, "female": 0.5}},
    }
    assert evaluation_distribution(INFO, "val")["declared"] is None  # nothing measured or declared for val here
