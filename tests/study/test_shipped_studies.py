"""The study configs that ship in configs/study/ parse, and resolve to the cells their headers describe
(every fit and pre-training config parsed by the CLI's own parsers, every plugin built once)."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import REPO_ROOT, shared_data

from lightning_bias.commands.study import resolve_fit, resolve_pretrain
from lightning_bias.study.cells import plan_cells
from lightning_bias.study.config import load_study_config

STUDIES = sorted(path.relative_to(REPO_ROOT) for path in (REPO_ROOT / "configs" / "study").glob("*.yaml"))
# (pre-trainings, intrinsic evaluations, fits) as each config's header states them
SMALL = {
    "configs/study/tiny.yaml": None,
    "configs/study/bios_transfer_small.yaml": (1, 2, 27),
    "configs/study/toxicity_transfer_small.yaml": (1, 2, 12),
}
FULL = {
    "configs/study/bios_transfer.yaml": (4, 5, 126),
    "configs/study/toxicity_transfer.yaml": (2, 3, 27),
}


@pytest.mark.parametrize("path", STUDIES, ids=str)
def test_every_shipped_study_config_parses(path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    study = load_study_config(path, REPO_ROOT)
    assert study.axes and study.seeds


def _planned(path: str, monkeypatch) -> Counter:
    monkeypatch.chdir(REPO_ROOT)  # the configs' paths are relative to the repository root, beside ../shared
    shared_data("crows_pairs")  # skips with the reason when the shared data is absent
    cells = plan_cells(load_study_config(path, REPO_ROOT), resolve_fit, resolve_pretrain)
    assert len({cell.id for cell in cells}) == len(cells)
    return Counter(cell.kind for cell in cells)


@pytest.mark.parametrize("path", [p for p, counts in SMALL.items() if counts], ids=str)
def test_the_small_studies_resolve_to_the_cells_their_headers_state(path, monkeypatch):
    kinds = _planned(path, monkeypatch)
    assert (kinds["pretrain"], kinds["intrinsic"], kinds["fit"]) == SMALL[path]


@pytest.mark.slow
@pytest.mark.parametrize("path", list(FULL), ids=str)
def test_the_full_studies_resolve_to_the_cells_their_headers_state(path, monkeypatch):
    kinds = _planned(path, monkeypatch)
    assert (kinds["pretrain"], kinds["intrinsic"], kinds["fit"]) == FULL[path]
