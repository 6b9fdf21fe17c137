"""The ``lightning_bias`` command line.

Verbs:

- ``fit | validate | test | predict --config x.yaml`` — fine-tuning runs on LightningCLI
  (``SequenceClassifier`` + ``BiasDataModule``), with ``--print_config`` and command-line overrides;
- ``pretrain --config x.yaml`` — masked-LM continued pre-training (``MaskedLanguageModel`` +
  ``CorpusDataModule``) with upstream mitigations, same Trainer, strategies and loggers;
- ``evaluate-intrinsic --model PATH_OR_NAME`` — intrinsic bias of any masked LM, no training;
- ``plugins`` — the installed mitigation plugins.

Every output of a run goes under ``trainer.default_root_dir`` (the CSV logger's version dir).
A CSV logger is always on; wandb runs offline when there is no account configured.
``ValueError`` from bad input is printed as one line (set ``LIGHTNING_BIAS_DEBUG=1`` for the
traceback).
"""

from __future__ import annotations

import netrc
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from pytorch_lightning import Trainer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger, Logger

from lightning_bias.exact_resume import ExactResume
from lightning_bias.plugin_registry import build_mitigation, describe_plugins
from lightning_bias.rank_watchdog import with_rank_watchdog
from lightning_bias.strategies import check_trainer_settings

TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": "runs",
    "use_distributed_sampler": False,  # BiasDataModule shards data itself (exact evaluation, plugin samplers)
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
    """LightningCLI with a short-name ``mitigations:`` list, an always-on CSV logger, a check of the
    strategy against the machine, a dead-rank watchdog and exact resume (RNG and data position)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--mitigations",
            type=list[str | dict[str, Any]],
            default=[],
            help="Mitigation plugins by short name, applied in order, e.g. "
            "[{name: reweighting, scheme: kamiran_calders}]. See `lightning_bias plugins`.",
        )

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        by_name = [build_mitigation(spec) for spec in (self._get(self.config_init, "mitigations", default=[]) or [])]
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


def _wandb_offline_without_account() -> None:
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


def run_pretrain_cli(args: Sequence[str]) -> BiasCLI:
    """``lightning_bias pretrain``: masked-LM continued pre-training with upstream mitigations."""
    from lightning_bias.data.corpus import CorpusDataModule
    from lightning_bias.models.masked_lm import MaskedLanguageModel

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    return BiasCLI(
        MaskedLanguageModel,
        CorpusDataModule,
        args=["fit", *args],
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False, "prog": "lightning_bias pretrain"},
    )


def evaluate_intrinsic_command(
    model: str,
    crows_pairs: str | None = None,
    stereoset: str | None = None,
    bias_type: str | None = None,
    max_pairs: int | None = None,
    batch_size: int = 64,
    log_probability: bool = True,
    calibration_corpus: str | None = None,
    calibration_batches: int = 60,
    calibration_max_epochs: int = 10,
    output: str | None = None,
) -> None:
    """Score the intrinsic bias of a masked LM without training; print JSON, optionally write it to ``output``.

    Args:
        model: hub name, local checkpoint directory (e.g. a pretrain run's hf_checkpoint) or "minilm".
        crows_pairs: CrowS-Pairs CSV to score (pseudo-log-likelihood stereotype score).
        stereoset: StereoSet intrasentence file to score.
        bias_type: only pairs of this bias type (e.g. "gender").
        max_pairs: score at most this many pairs per benchmark.
        batch_size: masked queries per forward pass.
        log_probability: compute the log-probability bias score on occupation templates.
        calibration_corpus: for a model without a masked-LM head (e.g. "minilm"): general text on which a
            new head is fitted to the frozen encoder before scoring.
        calibration_batches: batches of the calibration corpus encoded for that fit.
        calibration_max_epochs: most passes of the head over them (it stops when held-out loss stops falling).
        output: JSON file to write (atomically).
    """
    import json
    from pathlib import Path

    from lightning_bias.intrinsic.evaluate import evaluate_intrinsic
    from lightning_bias.models.head_calibration import HeadCalibration
    from lightning_bias.report import atomic_write_text

    result = evaluate_intrinsic(
        model, crows_pairs=crows_pairs, stereoset=stereoset, bias_type=bias_type, max_pairs=max_pairs,
        batch_size=batch_size, log_probability=log_probability, calibration_corpus=calibration_corpus,
        head_calibration=HeadCalibration(batches=calibration_batches, max_epochs=calibration_max_epochs),
    )
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if output:
        atomic_write_text(Path(output), text + "\n")


def print_plugins() -> None:
    infos = describe_plugins()
    if not infos:
        print("no mitigation plugins installed")
        return
    rows = [("name", "stage", "package", "description")] + [(i.name, i.stage, i.package, i.description) for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:3])) + "  " + row[3])


USAGE = """usage: lightning_bias {fit,validate,test,predict} --config CONFIG.yaml [overrides]
       lightning_bias pretrain --config configs/pretrain/NAME.yaml [overrides]
       lightning_bias evaluate-intrinsic --model PATH_OR_NAME [--crows_pairs CSV] [--stereoset FILE]
                                    [--calibration_corpus TEXT] [--output JSON]
       lightning_bias plugins

Run `lightning_bias fit --help` for the options of a verb."""


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    _wandb_offline_without_account()
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    verb, rest = args[0], args[1:]
    try:
        if verb == "plugins":
            print_plugins()
        elif verb in ("fit", "validate", "test", "predict"):
            run_fit_cli([verb, *rest])
        elif verb == "pretrain":
            run_pretrain_cli(rest)
        elif verb == "evaluate-intrinsic":
            from jsonargparse import auto_cli

            auto_cli(evaluate_intrinsic_command, args=rest, as_positional=False)
        else:
            print(f"lightning_bias: error: unknown command {verb!r}\n{USAGE}", file=sys.stderr)
            sys.exit(2)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("LIGHTNING_BIAS_DEBUG"):
            raise
        print(f"lightning_bias: error: {err}\n(set LIGHTNING_BIAS_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
