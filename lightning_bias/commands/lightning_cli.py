"""The training verbs on LightningCLI: ``fit | validate | test | predict`` and ``pretrain``.

``BiasCLI`` is LightningCLI plus what every lightning_bias run gets: short-name ``mitigations:`` and
``evaluations:`` lists (entry-point groups ``lightning_bias.plugins`` / ``lightning_bias.evaluations``),
a CSV logger that is always on (its version dir is the run directory), a check of the strategy against
the machine, a dead-rank watchdog, and exact resume (RNG and data position); progress as a live bar in a
terminal and plain lines in a log file, the global batch said at the start, and no third-party noise
(``commands.quiet``); ``last.ckpt`` written atomically by default, ``--ckpt_path`` checked (``last``
resolved or an error; a file's checksum verified and its saved model settings refused where they
contradict explicit ones), and ``test``/``predict`` on a checkpoint writing into its run directory.
"""

from __future__ import annotations

import netrc
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pytorch_lightning import Trainer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger, Logger
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.model_helpers import is_overridden

from lightning_bias.commands.config_errors import OneLineErrors
from lightning_bias.commands.quiet import quiet_third_party_noise
from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.step_progress import show_data_step_progress
from lightning_bias.mitigation import Evaluation, Mitigation
from lightning_bias.plugin_registry import EVALUATIONS, MITIGATIONS, build_from_spec
from lightning_bias.training.checkpoint_checksums import verify_checkpoint
from lightning_bias.training.checkpoint_hparams import check_explicit_settings_kept
from lightning_bias.training.checkpointing import (
    is_deepspeed_strategy,
    resolve_ckpt_path,
    run_dir_of_checkpoint,
    use_atomic_checkpoint_io,
    with_last_checkpoint,
)
from lightning_bias.training.exact_resume import ExactResume
from lightning_bias.training.global_batch import GlobalBatchLog
from lightning_bias.training.progress import with_progress
from lightning_bias.training.rank_watchdog import with_rank_watchdog
from lightning_bias.training.run_directory import CommandCSVLogger, RemoveUnusedRunDir, wandb_under_root_dir
from lightning_bias.training.strategies import check_trainer_settings
from lightning_bias.training.threads import apply_thread_choice

TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": "runs",
    "use_distributed_sampler": False,  # the data modules shard data themselves (exact evaluation, plugin samplers)
}
PLUGIN_LISTS: dict[str, tuple[str, type]] = {
    "mitigations": (MITIGATIONS, Mitigation),
    "evaluations": (EVALUATIONS, Evaluation),
}


def _with_csv_logger(logger: Any, default_csv: CSVLogger) -> list[Logger]:
    """The configured loggers with a CSV logger first (``default_csv`` if none is), whose dir is the run dir."""
    if logger in (None, True, False):
        configured: list[Logger] = []
    elif isinstance(logger, list | tuple):
        configured = list(logger)
    else:
        configured = [logger]
    csv = [lg for lg in configured if isinstance(lg, CSVLogger)]
    others = [lg for lg in configured if not isinstance(lg, CSVLogger)]
    return (csv or [default_csv]) + others


class BiasArgumentParser(OneLineErrors, LightningArgumentParser):
    """LightningCLI's parser, whose mistakes are one line with exit code 2 (``commands.config_errors``)."""


class BiasCLI(LightningCLI):
    """LightningCLI with short-name plugin lists, an always-on CSV logger, a check of the strategy against
    the machine, a dead-rank watchdog and exact resume."""

    plugin_lists: ClassVar[tuple[str, ...]] = ("mitigations", "evaluations")

    def __init__(self, *args: Any, verb: str | None = None, **kwargs: Any) -> None:
        self.verb = verb  # build only this verb's parser: each of the four costs ~0.1 s of start-up
        super().__init__(*args, **kwargs)

    def subcommands(self) -> dict[str, set[str]]:  # an instance method here, a staticmethod in LightningCLI
        every = LightningCLI.subcommands()
        return every if self.verb is None else {self.verb: every[self.verb]}

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

    def _parse_ckpt_path(self) -> None:
        # Lightning re-parses a checkpoint file's saved hyper-parameters over the model settings: verify the
        # file's checksum before it is read, and refuse a swap of a setting the user gave explicitly
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        verify_checkpoint(ckpt_path)
        given = self.config[subcommand]["model"].clone()
        super()._parse_ckpt_path()
        defaults = self._subcommand_parsers[subcommand].get_defaults()["model"]
        check_explicit_settings_kept(ckpt_path, given, self.config[subcommand]["model"], defaults)

    def before_instantiate_classes(self) -> None:
        # before any torch work; Lightning's ranks re-run this command line, so each one passes here
        apply_thread_choice(self._get(self.config, "trainer", default={}))

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
        callbacks = [*with_last_checkpoint(callbacks, trainer_config.get("enable_checkpointing")), RemoveUnusedRunDir()]
        # a live bar in a terminal, plain lines in a log file (training.progress)
        callbacks = [*with_progress(callbacks, trainer_config.get("enable_progress_bar"), sys.stderr.isatty()),
                     GlobalBatchLog()]
        if trainer_config.get("enable_progress_bar") is not False:  # data steps (tokenizing, CDA) too
            show_data_step_progress("live" if sys.stderr.isatty() else "lines")
        kwargs["callbacks"] = callbacks
        kwargs["logger"] = self._loggers_beside_checkpoint(trainer_config, callbacks)
        wandb_under_root_dir(kwargs["logger"], trainer_config.get("default_root_dir"))
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except MisconfigurationException as err:  # Lightning's own check of a trainer option, e.g. max_epochs
            raise ValueError(f"trainer: {err}") from err
        use_atomic_checkpoint_io(trainer.strategy)
        return trainer

    def _loggers_beside_checkpoint(self, trainer_config: dict[str, Any], callbacks: list[Any]) -> list[Logger]:
        """The command's loggers, with ``--ckpt_path`` checked and ``last`` resolved for the command to run with.

        ``test`` and ``predict`` on a checkpoint inside a run directory write into that directory, their
        own config, metrics and hparams named for the command (``config_test.yaml``, ``metrics_test.csv``)
        beside the fit's; every other command writes into a new ``lightning_logs/version_N``.
        """
        default_csv = CSVLogger(trainer_config.get("default_root_dir"), name="lightning_logs")
        loggers = _with_csv_logger(trainer_config.get("logger"), default_csv)
        ckpt_path = resolve_ckpt_path(
            self._get(self.config_init, "ckpt_path"), callbacks, loggers[0].root_dir,
            deepspeed=is_deepspeed_strategy(trainer_config.get("strategy")),
        )
        self.config_init[self.subcommand]["ckpt_path"] = ckpt_path
        checkpoint_run_dir = run_dir_of_checkpoint(ckpt_path) if self.subcommand in ("test", "predict") else None
        if checkpoint_run_dir is not None and loggers[0] is default_csv:
            loggers[0] = CommandCSVLogger(checkpoint_run_dir, self.subcommand)
            self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": f"config_{self.subcommand}.yaml"}
        return loggers

    def after_fit(self) -> None:
        # a fit whose data has a test split reports on it too: bias_report_test.json beside bias_report.json
        testable = is_overridden("test_step", self.model) and DatasetInfo.of(self.trainer).sizes.get("test")
        if testable and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)  # the report has the numbers

    def after_test(self) -> None:
        # the last line of the command: where its outputs are (Lightning's results table comes before it)
        if self.trainer.is_global_zero:
            print(f"bias report: {self.model.report_path}")

    def after_predict(self) -> None:
        if self.trainer.is_global_zero:
            per_rank = ", one file per rank beside it" if self.trainer.world_size > 1 else ""
            print(f"predictions: {self.model.predictions_path}{per_rank}")


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
    quiet_third_party_noise()
    return BiasCLI(
        SequenceClassifier,
        BiasDataModule,
        args=list(args),
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
        parser_class=BiasArgumentParser,
        verb=args[0] if args and args[0] in LightningCLI.subcommands() else None,
    )


def run_pretrain_cli(args: Sequence[str]) -> PretrainCLI:
    """``lightning_bias pretrain``: masked-LM continued pre-training with upstream mitigations."""
    from lightning_bias.data.corpus import CorpusDataModule
    from lightning_bias.models.masked_lm import MaskedLanguageModel

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    quiet_third_party_noise()
    return PretrainCLI(
        MaskedLanguageModel,
        CorpusDataModule,
        args=["fit", *args],
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False, "prog": "lightning_bias pretrain"},
        parser_class=BiasArgumentParser,
        verb="fit",
    )
