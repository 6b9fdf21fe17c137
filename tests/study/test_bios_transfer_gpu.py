"""configs/study/bios_transfer_gpu.yaml resolves offline to the cells its header states: every fit and the
pre-training parsed by the CLI's parsers and every plugin built, with no download (the hub-named models, the hub
dataset and the hub corpus are only named, not loaded, until a cell runs)."""

from __future__ import annotations

import socket
from collections import Counter

from conftest import REPO_ROOT, shared_data

from lightning_bias.commands.study import resolve_fit, resolve_pretrain
from lightning_bias.study.cells import PRETRAIN_REFERENCE, plan_cells
from lightning_bias.study.config import load_study_config

STUDY = "configs/study/bios_transfer_gpu.yaml"


def test_the_gpu_study_resolves_offline_to_its_45_fits_one_pretraining_and_three_intrinsic_evaluations(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the configs' paths are relative to the repository root, beside ../shared
    def no_network(*args, **kwargs):
        raise OSError("the dry run must not reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # any download attempt fails the test
    shared_data("crows_pairs")  # skips with the reason when the shared data is absent
    cells = plan_cells(load_study_config(STUDY, REPO_ROOT), resolve_fit, resolve_pretrain)
    kinds = Counter(cell.kind for cell in cells)
    assert (kinds["pretrain"], kinds["intrinsic"], kinds["fit"]) == (1, 3, 45)

    fits = [cell for cell in cells if cell.kind == "fit"]
    models = Counter(cell.config["model"]["model"].split(":")[0] for cell in fits)
    assert models == {"roberta-base": 15, "bert-base-uncased": 15, PRETRAIN_REFERENCE.rstrip(":"): 15}
    assert all(cell.config["trainer"]["accelerator"] == "gpu" and cell.config["trainer"]["precision"] == "bf16-mixed"
               and (cell.config["data"]["batch_size"], cell.config["data"]["max_length"]) == (32, 128)
               and cell.config["data"]["source"] == "bias_in_bios" for cell in fits)
    amplified = next(cell for cell in fits if cell.axes["cooccurrence"] == "amplified")
    assert amplified.config["mitigations"][0]["shift"]["surgeon"] == -0.05
    pretrain = next(cell for cell in cells if cell.kind == "pretrain")
    assert pretrain.config["model"]["model"] == "roberta-base" and pretrain.config["data"]["block_size"] == 512
