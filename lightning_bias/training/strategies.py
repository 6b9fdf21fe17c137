"""DeepSpeed strategies for Hugging Face models, on GPUs and on CPU, and checks of strategy vs hardware.

``TransformersDeepSpeedStrategy`` (the GPU configs ``configs/strategy/deepspeed_zero*.yaml``) is
Lightning's ``DeepSpeedStrategy`` plus what Hugging Face models need: under ZeRO-3 the model is
built with ``transformers`` told about the partitioning, and with an offloaded optimizer a torch
Adam/AdamW becomes DeepSpeed's CPU Adam. Without CUDA it stops with a ``ValueError`` naming the
CPU config to use instead.

``CPUDeepSpeedStrategy`` is the same made to run on the CPU accelerator with the gloo backend:
real ZeRO stage 1, 2 or 3 (partitioned optimizer state, gradients and parameters, DeepSpeed
checkpoints, ``zero_to_fp32`` consolidation) without a GPU. It is meant for debugging a DeepSpeed
set-up on a laptop and for tests; it is not fast. Select it in YAML with
``class_path: lightning_bias.training.strategies.CPUDeepSpeedStrategy`` (see
``configs/strategy/deepspeed_cpu_zero3.yaml``) or, once this module is imported, by the registered
names ``deepspeed_cpu``, ``deepspeed_cpu_stage_1``, ``deepspeed_cpu_stage_2`` and
``deepspeed_cpu_stage_3``.

What the CPU strategy changes, and why:

- Lightning refuses a non-CUDA accelerator in ``setup_environment`` and checks that device indices
  equal local ranks (CPU devices have no index); both checks are skipped for the CPU accelerator.
- ``deepspeed.initialize`` is given ``device_rank=local_rank`` (Lightning passes the device index,
  ``None`` on CPU, which DeepSpeed cannot compare with 0).
- DeepSpeed's own accelerator is forced to its CPU accelerator, even on a machine that has CUDA.
- A ``torch.optim`` optimizer is allowed under ZeRO (``zero_allow_untested_optimizer``), and
  optimizer/parameter offload is refused: on CPU everything already lives in host memory and the
  offload path needs DeepSpeed's compiled CPU-Adam.

``check_trainer_settings`` validates the trainer section of a config before the ``Trainer`` is
built: a GPU strategy or accelerator on a machine without CUDA, more GPU devices than exist, and
more CPU processes than cores (a warning) — each as a ``ValueError`` that says what to change.
"""

from __future__ import annotations

import argparse
import os
import secrets
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.utilities.seed import reset_seed
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.strategies import DDPStrategy, DeepSpeedStrategy, Strategy, StrategyRegistry

from lightning_bias.training.atomic_checkpoint_directory import (
    publish,
    remove_checkpoint_directory,
    remove_leftovers,
    staging_directory,
)
from lightning_bias.training.checkpoint_checksums import (
    CorruptCheckpointError,
    verify_checkpoint,
    write_manifest,
)

CPU_STRATEGY_NAMES: dict[str, dict[str, Any]] = {
    "deepspeed_cpu": {"stage": 2},
    "deepspeed_cpu_stage_1": {"stage": 1},
    "deepspeed_cpu_stage_2": {"stage": 2},
    "deepspeed_cpu_stage_3": {"stage": 3},
}


SHARED_MEMORY_COMM_OP = "deepspeed_shm_comm"


def _use_deepspeed_cpu_accelerator() -> None:
    """Make DeepSpeed's global accelerator its CPU one (it picks CUDA by itself where CUDA exists).

    Also turn off DeepSpeed's shared-memory all-reduce op for CPU: it serves DeepSpeed's inference
    engine only, yet ``deepspeed.init_distributed`` JIT-compiles it (minutes on a small machine, on
    every fresh environment) and maps a shared-memory segment per job. Training collectives go
    through gloo either way.
    """
    os.environ["DS_ACCELERATOR"] = "cpu"
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator, set_accelerator

    if get_accelerator().device_name() != "cpu":
        from deepspeed.accelerator.cpu_accelerator import CPU_Accelerator

        set_accelerator(CPU_Accelerator())
    deepspeed.ops.__compatible_ops__[SHARED_MEMORY_COMM_OP] = False


class _Zero3ModelsMarker:
    """What ``transformers`` asks of its global DeepSpeed config: ``is_zero3()`` and the ``config`` dict.

    ``transformers.integrations.HfDeepSpeedConfig`` does the same but needs ``accelerate``; this
    stand-in keeps DeepSpeed runs free of that dependency.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def is_zero3(self) -> bool:
        return True


@contextmanager
def transformers_zero3_context(config: dict[str, Any] | None) -> Iterator[None]:
    """Tell ``transformers`` that models built inside are ZeRO-3 partitioned (no-op for ``None``).

    Without it, ``from_config`` initialises weights on empty parameter shards (``IndexError``) and
    ``from_pretrained`` loads a checkpoint into them; with it, ``transformers`` gathers each module's
    parameters to initialise or load them.
    """
    if config is None:
        yield
        return
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    marker = _Zero3ModelsMarker(config)
    set_hf_deepspeed_config(marker)
    try:
        yield
    finally:
        unset_hf_deepspeed_config()


def cpu_adam_arguments(optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """The ``DeepSpeedCPUAdam`` arguments equivalent to a torch ``Adam``/``AdamW``, or ``None`` if there are none.

    Returns ``{"model_params": param_groups, "lr", "betas", "eps", "weight_decay", "adamw_mode"}``; the
    param groups (each with its own ``lr`` and ``weight_decay``) are the optimizer's own dicts, so a
    scheduler built on the torch optimizer keeps steering them. ``None`` for other optimizers and for
    AMSGrad (which CPU Adam lacks).
    """
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return None
    defaults = optimizer.defaults
    if defaults.get("amsgrad") or any(group.get("amsgrad") for group in optimizer.param_groups):
        return None
    decoupled = isinstance(optimizer, torch.optim.AdamW) or bool(defaults.get("decoupled_weight_decay"))
    return {
        "model_params": optimizer.param_groups, "lr": defaults["lr"], "betas": tuple(defaults["betas"]),
        "eps": defaults["eps"], "weight_decay": defaults["weight_decay"], "adamw_mode": decoupled,
    }


class TransformersDeepSpeedStrategy(DeepSpeedStrategy):
    """Lightning's ``DeepSpeedStrategy`` for GPUs, safe for Hugging Face models built under ZeRO-3.

    Takes every argument of ``pytorch_lightning.strategies.DeepSpeedStrategy``. What it adds:

    - the LightningModule's ``configure_model`` runs with ``transformers`` told about ZeRO-3, so
      ``from_config``/``from_pretrained`` initialise and load partitioned parameters correctly;
    - with the optimizer offloaded (``offload_optimizer``), a torch ``Adam``/``AdamW`` from
      ``configure_optimizers`` is replaced by DeepSpeed's ``DeepSpeedCPUAdam`` with the same groups
      and hyper-parameters (DeepSpeed refuses a torch optimizer there: it would run far slower);
    - every checkpoint directory gets a manifest of its files' SHA-256 (``checksums.sha256``), checked
      before the directory is restored (``training.checkpoint_checksums``);
    - without a CUDA accelerator it stops with a ``ValueError`` that points to the CPU configs.
    """

    strategy_name = "deepspeed_transformers"

    def setup_environment(self) -> None:
        from pytorch_lightning.accelerators import CUDAAccelerator

        if not isinstance(self.accelerator, CUDAAccelerator):
            where = "this machine has no CUDA GPU" if not torch.cuda.is_available() else (
                f"trainer.accelerator gives {type(self.accelerator).__name__}")
            raise ValueError(
                f"trainer.strategy {type(self).__name__} runs DeepSpeed on CUDA GPUs but {where}; to run DeepSpeed "
                f"on CPU use --config {_cpu_twin(self)} (gloo), or set --trainer.accelerator gpu on a GPU machine"
            )
        super().setup_environment()

    @contextmanager
    def model_sharded_context(self) -> Iterator[None]:
        with super().model_sharded_context():
            with transformers_zero3_context(self.config if self.zero_stage_3 else None):
                yield

    def _offloads_optimizer(self) -> bool:
        zero = (self.config or {}).get("zero_optimization") or {}
        return (zero.get("offload_optimizer") or {}).get("device", "none") in ("cpu", "nvme")

    def _init_optimizers(self) -> tuple[torch.optim.Optimizer, Any]:
        optimizer, scheduler_config = super()._init_optimizers()
        if not self._offloads_optimizer():
            return optimizer, scheduler_config
        arguments = cpu_adam_arguments(optimizer)
        if arguments is None:
            return optimizer, scheduler_config  # DeepSpeed explains what it accepts with offload
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        cpu_adam = DeepSpeedCPUAdam(**arguments)
        if scheduler_config is not None:
            scheduler_config.scheduler.optimizer = cpu_adam
        return cpu_adam, scheduler_config

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None) -> None:
        """DeepSpeed's checkpoint directory, written whole into a new staging directory; rank 0 then records
        the checksum of every file in it and switches ``filepath`` to it atomically
        (``training.atomic_checkpoint_directory``), so a kill leaves the previous checkpoint or this one."""
        filepath = Path(self.broadcast(str(filepath)))
        staging = staging_directory(filepath, self.broadcast(secrets.token_hex(8)))
        if self.is_global_zero:
            remove_leftovers(filepath, keep=staging)
        super().save_checkpoint(checkpoint, staging, storage_options)
        self.barrier("checkpoint_shards_written")
        if self.is_global_zero:
            write_manifest(staging)
            publish(staging, filepath)
        self.barrier("checkpoint_published")

    def remove_checkpoint(self, filepath: Any) -> None:
        """Remove a checkpoint directory, following its link (``save_checkpoint`` makes one per target)."""
        if self.is_global_zero:
            remove_checkpoint_directory(filepath)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Verify a checkpoint directory against its checksums (on rank 0, the verdict to every rank), then load it."""
        if Path(checkpoint_path).is_dir():
            problem = None
            if self.is_global_zero:
                try:
                    verify_checkpoint(checkpoint_path)
                except CorruptCheckpointError as corrupt:
                    problem = str(corrupt)
            problem = self.broadcast(problem)
            if problem is not None:
                raise CorruptCheckpointError(problem)
        return super().load_checkpoint(checkpoint_path, weights_only)

    @classmethod
    def register_strategies(cls, strategy_registry: Any) -> None:
        """Register nothing: select it by ``class_path`` (the inherited method would re-bind ``deepspeed*``)."""


class CPUDeepSpeedStrategy(TransformersDeepSpeedStrategy):
    """DeepSpeed ZeRO (stage 1-3) on CPU processes that talk through gloo.

    Takes every argument of ``pytorch_lightning.strategies.DeepSpeedStrategy`` (``stage``,
    ``config``, ``timeout``, ...). The accelerator must be ``cpu``; offloading is refused because on
    CPU there is nowhere to offload to. Precision ``32-true`` is the tested setting (``bf16-mixed``
    runs where the CPU supports bf16).
    """

    strategy_name = "deepspeed_cpu"

    def _check_cpu_config(self) -> None:
        assert isinstance(self.config, dict)
        zero = self.config.get("zero_optimization") or {}
        offloaded = [key for key in ("offload_optimizer", "offload_param") if zero.get(key)]
        if offloaded:
            raise ValueError(
                f"CPUDeepSpeedStrategy: zero_optimization.{offloaded[0]} is set, but on CPU the optimizer and "
                "parameters already live in host memory; drop offload_optimizer/offload_parameters (offload is "
                "for GPUs: configs/strategy/deepspeed_zero3_offload.yaml)"
            )
        self.config.setdefault("zero_allow_untested_optimizer", True)

    def setup_environment(self) -> None:
        if not isinstance(self.accelerator, CPUAccelerator):
            name = type(self.accelerator).__name__
            raise ValueError(
                f"CPUDeepSpeedStrategy runs on the CPU accelerator but the trainer uses {name}; set "
                "trainer.accelerator: cpu, or on GPUs use a GPU config such as configs/strategy/deepspeed_zero2.yaml"
            )
        self._check_cpu_config()
        _use_deepspeed_cpu_accelerator()
        DDPStrategy.setup_environment(self)  # skip DeepSpeedStrategy's CUDA-only check

    def setup_distributed(self) -> None:
        # DeepSpeedStrategy also checks that device indices equal local ranks: CPU devices have none.
        reset_seed()
        self.set_world_ranks()
        self._init_deepspeed_distributed()

    def _deepspeed_args(self) -> argparse.Namespace:
        return argparse.Namespace(device_rank=self.local_rank)

    def _setup_model_and_optimizer(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        lr_scheduler: Any = None,
    ) -> tuple[Any, torch.optim.Optimizer]:
        import deepspeed

        model_parameters = filter(lambda p: p.requires_grad, model.parameters())
        engine, deepspeed_optimizer, _, _ = deepspeed.initialize(
            args=self._deepspeed_args(),
            config=self.config,
            model=model,
            model_parameters=model_parameters,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            dist_init_required=False,
        )
        return engine, deepspeed_optimizer

    def _initialize_deepspeed_inference(self, model: torch.nn.Module) -> None:
        import deepspeed
        from pytorch_lightning.strategies.deepspeed import remove_module_hooks

        assert isinstance(self.config, dict)
        inference_config: dict[str, Any] = {"train_micro_batch_size_per_gpu": 1}
        for key in ("fp16", "bf16"):
            if key in self.config:
                inference_config[key] = self.config[key]
        if self.zero_stage_3:
            inference_config["zero_allow_untested_optimizer"] = self.config.get("zero_allow_untested_optimizer", True)
            inference_config["zero_optimization"] = self.config["zero_optimization"]
        remove_module_hooks(model)
        self.model, _, _, _ = deepspeed.initialize(
            args=self._deepspeed_args(),
            config=inference_config,
            model=model,
            optimizer=None,
            lr_scheduler=None,
            model_parameters=[],
            dist_init_required=False,
        )

    @classmethod
    def register_strategies(cls, strategy_registry: Any) -> None:
        """Register only the CPU names (the inherited method would re-bind Lightning's ``deepspeed*``)."""
        for name, init_args in CPU_STRATEGY_NAMES.items():
            if name not in strategy_registry:
                strategy_registry.register(
                    name, cls, description=f"DeepSpeed ZeRO stage {init_args['stage']} on CPU (gloo)", **init_args
                )


CPUDeepSpeedStrategy.register_strategies(StrategyRegistry)


# --- checks before the Trainer is built -------------------------------------------------------------


def _strategy_label(strategy: Any) -> str:
    if isinstance(strategy, str):
        return strategy
    if isinstance(strategy, DeepSpeedStrategy) and isinstance(strategy.config, dict):
        stage = (strategy.config.get("zero_optimization") or {}).get("stage")
        return f"{type(strategy).__name__} (ZeRO stage {stage})" if stage is not None else type(strategy).__name__
    return type(strategy).__name__


def _is_gpu_deepspeed(strategy: Any) -> bool:
    if isinstance(strategy, str):
        return strategy.startswith("deepspeed") and not strategy.startswith("deepspeed_cpu")
    return isinstance(strategy, DeepSpeedStrategy) and not isinstance(strategy, CPUDeepSpeedStrategy)


def _cpu_twin(strategy: Any) -> str:
    stage = 2
    if isinstance(strategy, str):
        stage = 3 if "stage_3" in strategy else 2
    elif isinstance(strategy, DeepSpeedStrategy) and isinstance(strategy.config, dict):
        stage = 3 if (strategy.config.get("zero_optimization") or {}).get("stage") == 3 else 2
    return f"configs/strategy/deepspeed_cpu_zero{stage}.yaml"


def _accelerator_name(accelerator: Any) -> str:
    if accelerator is None:
        return "auto"
    if isinstance(accelerator, str):
        return accelerator.lower()
    return type(accelerator).__name__.replace("Accelerator", "").lower()


def _requested_device_count(devices: Any) -> int | None:
    """How many devices a ``trainer.devices`` value asks for; ``None`` for ``auto``/-1 (all there are)."""
    if devices is None:
        return None
    if isinstance(devices, int):
        return None if devices == -1 else devices
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return None
        if "," in text:
            return len([d for d in text.split(",") if d.strip()])
        return int(text) if text.lstrip("-").isdigit() else None
    if isinstance(devices, list | tuple):
        return len(devices)
    return None


def check_trainer_settings(trainer: Mapping[str, Any]) -> None:
    """Check the ``trainer`` section of a config (instantiated, as LightningCLI has it) against this machine.

    Args:
        trainer: mapping with optional ``strategy`` (name or ``Strategy``), ``accelerator`` (name or
            ``Accelerator``), ``devices`` (int, str or list) and ``num_nodes``.

    Raises:
        ValueError: a GPU DeepSpeed strategy or a GPU accelerator without CUDA, more GPUs than
            exist, or a CPU DeepSpeed strategy with a GPU accelerator — with the fix in the message.

    Warns (``UserWarning``) when more CPU processes than cores are asked for on one node.
    """
    strategy = trainer.get("strategy")
    accelerator = _accelerator_name(trainer.get("accelerator"))
    requested = _requested_device_count(trainer.get("devices"))
    has_cuda = torch.cuda.is_available()
    gpu_accelerator = accelerator in ("gpu", "cuda")

    if strategy is not None and not isinstance(strategy, str | Strategy):
        raise ValueError(f"trainer.strategy must be a name or a Strategy, got {type(strategy).__name__}")
    if _is_gpu_deepspeed(strategy) and not has_cuda:
        raise ValueError(
            f"trainer.strategy {_strategy_label(strategy)} needs CUDA GPUs but this machine has none "
            f"(torch.cuda.is_available() is False); to run DeepSpeed on CPU use --config {_cpu_twin(strategy)} "
            "(the CPU DeepSpeed strategy, gloo)"
        )
    if gpu_accelerator and not has_cuda:
        raise ValueError(
            f"trainer.accelerator is {accelerator!r} but this machine has no CUDA GPU; set --trainer.accelerator cpu"
        )
    is_cpu_deepspeed = isinstance(strategy, CPUDeepSpeedStrategy) or (
        isinstance(strategy, str) and strategy.startswith("deepspeed_cpu")
    )
    if is_cpu_deepspeed and accelerator not in ("cpu", "auto"):
        raise ValueError(
            f"trainer.strategy {_strategy_label(strategy)} runs on CPU but trainer.accelerator is {accelerator!r}; "
            "set --trainer.accelerator cpu, or on GPUs use configs/strategy/deepspeed_zero2.yaml / deepspeed_zero3.yaml"
        )
    runs_on_gpu = gpu_accelerator or (accelerator == "auto" and has_cuda and not is_cpu_deepspeed)
    if runs_on_gpu and requested is not None and requested > torch.cuda.device_count():
        raise ValueError(
            f"trainer.devices asks for {requested} GPUs but this node has {torch.cuda.device_count()}; "
            "set --trainer.devices to at most that (per node) and use trainer.num_nodes for more machines"
        )
    if not runs_on_gpu and requested is not None:
        cores = os.cpu_count() or 1
        if requested > cores:
            warnings.warn(
                f"trainer.devices asks for {requested} CPU processes on a node with {cores} cores; they will "
                "time-share the cores and run slower than fewer processes would",
                UserWarning,
                stacklevel=2,
            )
