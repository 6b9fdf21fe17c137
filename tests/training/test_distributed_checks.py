"""Strategies, settings checks, dead-rank watchdog and resume helpers: the parts that need no training run."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, TINY_MODEL_CONFIG, run_cli
from pytorch_lightning import Trainer
from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator
from pytorch_lightning.strategies import DeepSpeedStrategy, StrategyRegistry

from lightning_bias.commands import main
from lightning_bias.training.checkpoint_compatibility import (
    check_checkpoint_compatible,
    checkpoint_mismatches,
)
from lightning_bias.training.exact_resume import ExactResume, capture_rng_states, restore_rng_states
from lightning_bias.training.rank_watchdog import RankWatchdog, with_rank_watchdog
from lightning_bias.training.strategies import (
    CPUDeepSpeedStrategy,
    TransformersDeepSpeedStrategy,
    check_trainer_settings,
    cpu_adam_arguments,
)

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
STRATEGY_CONFIGS = REPO_ROOT / "configs" / "strategy"




def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


# --- strategies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "stage"), [("deepspeed_cpu_stage_2", 2), ("deepspeed_cpu_stage_3", 3),
                                             ("deepspeed_cpu", 2), ("deepspeed_cpu_stage_1", 1)])
def test_cpu_strategy_names_are_registered(name, stage):
    assert name in StrategyRegistry
    trainer = Trainer(strategy=name, accelerator="cpu", devices=2, logger=False, enable_checkpointing=False)
    assert isinstance(trainer.strategy, CPUDeepSpeedStrategy)
    assert trainer.strategy.config["zero_optimization"]["stage"] == stage
    assert trainer.strategy.config["zero_allow_untested_optimizer"] is True


def test_lightning_deepspeed_names_still_mean_lightning_strategy():
    assert StrategyRegistry["deepspeed_stage_3"]["strategy"] is DeepSpeedStrategy


def test_cpu_strategy_refuses_offload_and_non_cpu_accelerators():
    offloading = CPUDeepSpeedStrategy(stage=3, offload_optimizer=True)
    offloading.accelerator = CPUAccelerator()
    with pytest.raises(ValueError, match="zero_optimization.offload_optimizer is set, but on CPU"):
        offloading.setup_environment()
    on_gpu = CPUDeepSpeedStrategy(stage=2)
    on_gpu.accelerator = CUDAAccelerator()
    with pytest.raises(ValueError, match="runs on the CPU accelerator but the trainer uses CUDAAccelerator"):
        on_gpu.setup_environment()


def test_gpu_deepspeed_strategy_points_to_the_cpu_config_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    strategy = TransformersDeepSpeedStrategy(stage=3)
    strategy.accelerator = CPUAccelerator()
    with pytest.raises(ValueError, match="this machine has no CUDA GPU; .*configs/strategy/deepspeed_cpu_zero3.yaml"):
        strategy.setup_environment()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
@pytest.mark.parametrize(("config", "cpu_twin"), [("deepspeed_zero2.yaml", "deepspeed_cpu_zero2.yaml"),
                                                  ("deepspeed_zero3_offload.yaml", "deepspeed_cpu_zero3.yaml")])
def test_gpu_strategy_config_on_a_cpu_machine_is_one_clear_error(tmp_path, capsys, config, cpu_twin):
    code, err = run_cli(["fit", "--config", TINY, "--config", str(STRATEGY_CONFIGS / config),
                         f"--trainer.default_root_dir={tmp_path}"], capsys)
    assert_one_line_error(code, err, "CUDA GPU", cpu_twin)


@pytest.mark.parametrize("config", sorted(p.name for p in STRATEGY_CONFIGS.glob("*.yaml")))
def test_every_strategy_config_parses_as_a_second_config(config, capsys):
    import yaml

    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", TINY, "--config", str(STRATEGY_CONFIGS / config), "--print_config"])
    assert exit_.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)["trainer"]
    wanted = yaml.safe_load((STRATEGY_CONFIGS / config).read_text())["trainer"]
    assert printed["strategy"]["class_path"] == wanted["strategy"]["class_path"]
    for key, value in wanted["strategy"]["init_args"].items():
        assert str(printed["strategy"]["init_args"][key]) == str(value), key
    assert printed["precision"] == wanted["precision"]


def test_ddp_config_sets_a_collective_timeout_and_bucket_views():
    import yaml

    ddp = yaml.safe_load((STRATEGY_CONFIGS / "ddp.yaml").read_text())["trainer"]["strategy"]
    assert ddp["class_path"] == "pytorch_lightning.strategies.DDPStrategy"
    assert ddp["init_args"]["timeout"] == "0:30:00"
    assert ddp["init_args"]["gradient_as_bucket_view"] is True


def test_cpu_adam_arguments_keep_groups_and_hyperparameters():
    layer = torch.nn.Linear(4, 3)
    adamw = torch.optim.AdamW([{"params": [layer.weight], "weight_decay": 0.1},
                               {"params": [layer.bias], "weight_decay": 0.0}], lr=2e-5, betas=(0.8, 0.9), eps=1e-7)
    arguments = cpu_adam_arguments(adamw)
    assert arguments["model_params"] is adamw.param_groups  # a scheduler on the torch optimizer keeps steering them
    assert arguments["adamw_mode"] is True
    assert (arguments["lr"], arguments["betas"], arguments["eps"]) == (2e-5, (0.8, 0.9), 1e-7)
    assert cpu_adam_arguments(torch.optim.Adam(layer.parameters()))["adamw_mode"] is False
    assert cpu_adam_arguments(torch.optim.Adam(layer.parameters(), amsgrad=True)) is None
    assert cpu_adam_arguments(torch.optim.SGD(layer.parameters(), lr=0.1)) is None


# --- settings checks before the Trainer is built -----------------------------------------------------------------


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_gpu_deepspeed_by_name_without_cuda(no_cuda):
    with pytest.raises(ValueError, match="deepspeed_stage_3 needs CUDA GPUs .*configs/strategy/deepspeed_cpu_zero3.yaml"):
        check_trainer_settings({"strategy": "deepspeed_stage_3", "accelerator": "auto", "devices": 2})


def test_gpu_accelerator_without_cuda(no_cuda):
    with pytest.raises(ValueError, match="trainer.accelerator is 'gpu' but this machine has no CUDA GPU"):
        check_trainer_settings({"accelerator": "gpu", "devices": 1})


def test_more_gpus_than_the_node_has(two_gpus):
    with pytest.raises(ValueError, match="asks for 64 GPUs but this node has 2"):
        check_trainer_settings({"accelerator": "gpu", "devices": 64})
    with pytest.raises(ValueError, match="asks for 3 GPUs"):
        check_trainer_settings({"accelerator": "cuda", "devices": [0, 1, 2]})
    check_trainer_settings({"accelerator": "gpu", "devices": "0,1"})
    check_trainer_settings({"accelerator": "gpu", "devices": -1})


def test_cpu_deepspeed_with_a_gpu_accelerator(two_gpus):
    with pytest.raises(ValueError, match="runs on CPU but trainer.accelerator is 'gpu'"):
        check_trainer_settings({"strategy": CPUDeepSpeedStrategy(stage=2), "accelerator": "gpu", "devices": 2})


def test_more_cpu_processes_than_cores_is_a_warning(no_cuda):
    with pytest.warns(UserWarning, match="asks for 64 CPU processes on a node with"):
        check_trainer_settings({"strategy": "deepspeed_cpu_stage_2", "accelerator": "cpu", "devices": 64})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_trainer_settings({"accelerator": "cpu", "devices": 1})


# --- checkpoints that do not belong to the model --------------------------------------------------------------


def test_checkpoint_mismatches_name_shapes_and_missing_keys():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    saved = {"0.weight": torch.zeros(5, 4), "0.bias": torch.zeros(3), "1.weight": torch.zeros(2, 3), "extra": torch.zeros(1)}
    assert checkpoint_mismatches(model.state_dict(), saved) == [
        "'0.weight' has shape (5, 4) in the checkpoint but (3, 4) in this model",
        "'1.bias' is missing from the checkpoint",
        "'extra' is in the checkpoint but not in this model",
    ]
    with pytest.raises(ValueError, match=r"checkpoint /runs/x.ckpt does not fit this model: '0.weight' has shape"):
        check_checkpoint_compatible(model, {"state_dict": saved}, "/runs/x.ckpt")
    check_checkpoint_compatible(model, {"state_dict": model.state_dict()}, "/runs/x.ckpt")
    check_checkpoint_compatible(model, {"optimizer_states": []}, "/runs/deepspeed_dir")  # DeepSpeed: not checked here
    with pytest.raises(ValueError, match="'0.weight' has shape"):
        check_checkpoint_compatible(model, {"state_dict": saved}, "x", strict=False)


def test_ckpt_path_that_does_not_exist_is_one_clear_error(tmp_path, capsys):
    code, err = run_cli(["fit", "--config", TINY, "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=200",
                         f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={tmp_path / 'no.ckpt'}"], capsys)
    assert_one_line_error(code, err, str(tmp_path / "no.ckpt"), "not found")


def checkpoint_of_a_two_label_model(path):
    """A Lightning checkpoint whose weights are those of the tiny BERT with a 2-class head (not 16)."""
    import pytorch_lightning as pl
    from transformers import AutoModelForSequenceClassification

    from lightning_bias.models.pretrained import build_config

    net = AutoModelForSequenceClassification.from_config(build_config(TINY_MODEL_CONFIG, num_labels=2))
    state = {f"net.{key}": value for key, value in net.state_dict().items()}
    torch.save({"state_dict": state, "pytorch-lightning_version": pl.__version__, "epoch": 0, "global_step": 1}, path)
    return path


def test_ckpt_path_of_another_model_is_one_clear_error(tmp_path, capsys):
    checkpoint = checkpoint_of_a_two_label_model(tmp_path / "two_labels.ckpt")
    code, err = run_cli(["validate", "--config", TINY, "--data.synthetic_bios.num_examples=200",
                         f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={checkpoint}"], capsys)
    assert_one_line_error(code, err, f"checkpoint {checkpoint} does not fit this model",
                          "'net.classifier.weight' has shape (2, 32) in the checkpoint but (16, 32)")


# --- exact resume: generator states ------------------------------------------------------------------------------


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    states = capture_rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_exact_resume_warns_when_the_world_size_changed():
    callback = ExactResume()
    state = {"world_size": 4, "mid_epoch": True, "rng": [capture_rng_states()] * 4, "train_loader": None}
    with pytest.warns(UserWarning, match="saved by 4 rank\\(s\\) and this run has 1"):
        callback.load_state_dict(state)


# --- dead-rank watchdog --------------------------------------------------------------------------------------------


def test_watchdog_arguments_are_checked():
    with pytest.raises(ValueError, match="must exceed two heartbeat intervals"):
        RankWatchdog(interval=2, dead_after=3)
    with pytest.raises(ValueError, match="exit_code must be non-zero"):
        RankWatchdog(exit_code=0)
    configured = RankWatchdog(dead_after=90)
    assert with_rank_watchdog([configured]) == [configured]
    assert isinstance(with_rank_watchdog([])[0], RankWatchdog)


FROZEN_RANK_SCRIPT = textwrap.dedent("""\
    import os, signal, sys, time, types
    import torch.distributed as dist
    from lightning_bias.training.rank_watchdog import RankWatchdog

    rank, frozen = int(os.environ["RANK"]), int(sys.argv[1])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    watchdog = RankWatchdog(interval=0.5, dead_after=3)
    watchdog.setup(types.SimpleNamespace(world_size=2, global_rank=rank), None, "fit")
    dist.barrier()
    time.sleep(2)  # a few heartbeats: each rank has seen the other's
    if rank == frozen:
        print(f"rank {rank} freezes at {time.time()}", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
    dist.barrier()  # the survivor waits here for the frozen rank: without the watchdog, for the 30-minute timeout
    print("rank", rank, "passed the barrier", flush=True)
""")
DEAD_AFTER = 3


@pytest.mark.multiprocess
@pytest.mark.parametrize("frozen", [1, 0], ids=["rank 1 frozen", "rank 0 (the store's host) frozen"])
def test_watchdog_stops_a_run_whose_peer_froze_and_names_it(tmp_path, frozen):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN_RANK_SCRIPT)
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, str(script), str(frozen)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    survivor = procs[1 - frozen]
    try:
        deadline = time.time() + 120
        while survivor.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        stopped_at = time.time()
        assert survivor.returncode is not None, f"rank {1 - frozen} hung after rank {frozen} froze"
        out, err = survivor.communicate()
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        frozen_out = procs[frozen].stdout.read()
    assert survivor.returncode == 1
    assert "passed the barrier" not in out
    where = f"(host {socket.gethostname()}, pid {procs[frozen].pid}) stopped"
    if frozen == 1:
        assert f"lightning_bias: rank 1 {where}: no heartbeat for" in err
    else:
        assert f"lightning_bias: rank 0 {where}: the rendezvous store it hosts has not answered rank 1 for" in err
    assert f"stopping rank {1 - frozen} (exit code 1)" in err
    froze_at = float(re.search(r"freezes at (\d+\.\d+)", frozen_out).group(1))
    # within dead_after plus a few intervals, on a loaded machine too (the contract is dead_after + seconds)
    assert stopped_at - froze_at < DEAD_AFTER + 15, stopped_at - froze_at
