"""The ``lightning_bias`` command line: every verb, in one place.

- ``fit | validate | test | predict --config x.yaml`` — fine-tuning runs on LightningCLI
  (``SequenceClassifier`` + ``BiasDataModule``), with ``--print_config`` and command-line overrides;
- ``pretrain --config x.yaml`` — masked-LM continued pre-training (``MaskedLanguageModel`` +
  ``CorpusDataModule``) with upstream mitigations, same Trainer, strategies and loggers;
- ``evaluate-intrinsic --model PATH_OR_NAME`` — intrinsic bias of any masked LM, no training; its
  options are the parameters of ``evaluate_intrinsic``;
- ``plugins`` — the installed mitigations, evaluations and data sources;
- ``data inspect --config x.yaml`` — what a fit config's data is (counts, co-occurrence, token lengths,
  duplicates, overlap between splits), before or after the mitigations' transforms; no training.
- ``study run | status | report`` — a resumable grid of runs and its report (``commands.study``).

This layer is the only one that wires data, models, training and reports together. Every output
of a run goes under ``trainer.default_root_dir`` (the CSV logger's version dir). ``ValueError`` and
``FileNotFoundError`` from bad input are printed as one line with exit code 2 (set
``LIGHTNING_BIAS_DEBUG=1`` for the traceback).

Each verb imports only what it needs, when it runs: ``--help`` and ``plugins`` import neither torch nor
Lightning (``benchmarks/bench_startup.py`` times them). Every verb that runs a model first chooses
torch's threads per process unless the environment does (``training.threads``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

USAGE = """usage: lightning_bias {fit,validate,test,predict} --config CONFIG.yaml [overrides]
       lightning_bias pretrain --config configs/pretrain/NAME.yaml [overrides]
       lightning_bias evaluate-intrinsic --model PATH_OR_NAME [--crows_pairs CSV] [--stereoset FILE]
                                    [--calibration_corpus TEXT] [--output JSON]
       lightning_bias plugins
       lightning_bias data inspect --config CONFIG.yaml [--output DIR] [--after-mitigations] [overrides]
       lightning_bias study {run,status,report} ...   (run --config configs/study/NAME.yaml; status|report --dir DIR)

Run `lightning_bias fit --help` (or any verb with --help) for its options."""


def _evaluate_intrinsic_verb(args: Sequence[str]) -> None:
    from jsonargparse import auto_cli

    from lightning_bias.commands.config_errors import OneLineErrors
    from lightning_bias.commands.evaluate_intrinsic import evaluate_intrinsic
    from lightning_bias.training.threads import apply_thread_choice

    if not {"-h", "--help"} & set(args):
        apply_thread_choice({"devices": 1})  # one process, no Trainer
    result = auto_cli(evaluate_intrinsic, args=list(args), as_positional=False, parser_class=OneLineErrors)
    print(json.dumps(result, indent=2, default=float))


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    verb, rest = args[0], args[1:]
    try:
        if verb == "plugins":
            from lightning_bias.commands.list_plugins import print_plugins

            print_plugins()
        elif verb in ("fit", "validate", "test", "predict", "pretrain"):
            from lightning_bias.commands.lightning_cli import (
                run_fit_cli,
                run_pretrain_cli,
                wandb_offline_without_account,
            )

            wandb_offline_without_account()
            if verb == "pretrain":
                run_pretrain_cli(rest)
            else:
                run_fit_cli([verb, *rest])
        elif verb == "evaluate-intrinsic":
            _evaluate_intrinsic_verb(rest)
        elif verb == "data" and rest[:1] == ["inspect"]:
            from lightning_bias.commands.data_inspect import inspect_config

            inspect_config(rest[1:])
        elif verb == "study":
            from lightning_bias.commands.study import study_verb

            study_verb(rest)
        else:
            print(f"lightning_bias: error: unknown command {verb!r}\n{USAGE}", file=sys.stderr)
            sys.exit(2)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("LIGHTNING_BIAS_DEBUG"):
            raise
        from lightning_bias.commands.config_errors import constructor_error

        print(f"lightning_bias: error: {constructor_error(err)}\n(set LIGHTNING_BIAS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        sys.exit(2)
