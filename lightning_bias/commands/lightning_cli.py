"""The training verbs on LightningCLI: ``fit | validate | test | predict`` and ``pretrain``.

``BiasCLI`` is LightningCLI plus what every lightning_bias run gets: short-name ``mitigations:`` and
``evaluations:`` lists (entry-point groups ``lightning_bias.plugins`` / ``lightning_bias.evaluations``),
a CSV logger that is always on (its version dir is the run directory), a check of the strategy against
the machine, a dead-rank watchdog, and exact resume (RNG and data position).
"""

from __future__ import annotations

import netrc
import os
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from pytorch_lightning import Trainer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger, Logger

from lightning_bias.mitigation import Evaluation, Mitigation
from lightning_bias.plugin_registry import EVALUATIONS, MITIGATIONS, build_from_spec
from lightning_bias.training.exact_resume import ExactResume
from lightning_bias.training.rank_watchdog import with_rank_watchdog
from lightning_bias.training.strategies import check_trainer_settings

TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": "runs",
    "use_distributed_sampler": False,  # the data modules shard data themselves (exact evaluation, plugin samplers)
}
PLUGIN_LISTS: dict[str, tuple[str, type]] = {
    "mitigations": (MITIGATIONS, Mitigation),
    "evaluations": (EVALUATIONS, Evaluation),
}


def _with_csv_logger(logger: Any, root_dir: str) -> list[Logger]:
    """The configured loggers with a CSV logger first, so every run has one and its dir is the run dir."""
    if logger in (None, True, False):
        configured: list[Logger] = []
    elif isinstance(logger, list | tuple):
        configured = list(logger)
    else:
        configured = [logger]
    csv = [lg for lg in configured if isinstance(lg, CSVLogger)]
    others = [lg for lg in configured if not isinstance(lg, CSVLogger)]
    return (csv or [CSVLogger(root_dir, name="lightning_logs")]) + others


class BiasCLI(LightningCLI):
    """LightningCLI with short-name plugin lists, an always-on CSV logger, a check of the strategy against
    the machine, a dead-rank watchdog and exact resume."""

    plugin_lists: ClassVar[tuple[str, ...]] = ("mitigations", "evaluations")

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        examples = {
            "mitigations": "[{name: reweighting, scheme: kamiran_calders}]",
            "evaluations": "[{name: counterfactual_evaluation, attribute: gender}]",
        }
        for key in self.plugin_lists:
            parser.add_argument(
                f"--{key}",
                type=list[str | dict[str, Any]],
                default=[],
                help=f"{key.capitalize()} by short name, applied in order, e.g. {examples[key]}. "
                "See `lightning_bias plugins`.",
            )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        by_name = [
            build_from_spec(PLUGIN_LISTS[key][0], spec, PLUGIN_LISTS[key][1])
            for key in self.plugin_lists
            for spec in (self._get(self.config_init, key, default=[]) or [])
        ]
        configured = trainer_config.get("callbacks") or []
        if not isinstance(configured, list):
            configured = [configured]
        check_trainer_settings(trainer_config)
        callbacks = with_rank_watchdog([*by_name, *configured])
        if not any(isinstance(c, ExactResume) for c in callbacks):
            callbacks.append(ExactResume())
        kwargs["callbacks"] = callbacks
        kwargs["logger"] = _with_csv_logger(trainer_config.get("logger"), trainer_config.get("default_root_dir"))
        return super().instantiate_trainer(**kwargs)


class PretrainCLI(BiasCLI):
    """``BiasCLI`` for masked-LM pre-training: mitigations only (evaluations measure classifiers)."""

    plugin_lists = ("mitigations",)


def wandb_offline_without_account() -> None:
    """Never prompt for a wandb login: with no key configured, log offline."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return
    try:
        has_login = netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        has_login = False
    if not has_login:
        os.environ["WANDB_MODE"] = "offline"


def run_fit_cli(args: Sequence[str]) -> BiasCLI:
    """Run a ``fit | validate | test | predict`` command; the programmatic twin of the console script."""
    from lightning_bias.data.datamodule import BiasDataModule
    from lightning_bias.models.classifier import SequenceClassifier

    # the console script hands its own argv over as `args`; Lightning would warn about both being set
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    return BiasCLI(
        SequenceClassifier,
        BiasDataModule,
        args=list(args),
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
    )


def run_pretrain_cli(args: Sequence[str]) -> PretrainCLI:
    """``lightning_bias pretrain``: masked-LM continued pre-training with upstream mitigations."""
    from lightning_bias.data.corpus import CorpusDataModule
    from lightning_bias.models.masked_lm import MaskedLanguageModel

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    return PretrainCLI(
        MaskedLanguageModel,
        CorpusDataModule,
        args=["fit", *args],
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False, "prog": "lightning_bias pretrain"},
    )
