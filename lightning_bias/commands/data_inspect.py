"""``lightning_bias data inspect --config x.yaml [--output DIR] [--after-mitigations] [overrides]``.

What a fit config's data is, before any training: per split its rows, label x group counts with
P(group | label) and P(label | group), token lengths with the configured tokenizer, empty and duplicate
texts, and texts shared between splits (``data.inspection``), as rich tables in the terminal. With
``--output DIR`` also ``DIR/data_inspection.json`` and ``DIR/cooccurrence_heatmap.png`` (written
atomically). ``--after-mitigations`` inspects the tables after the ``mitigations:`` transforms (and any
mitigation under ``trainer.callbacks``), so a user sees what the plugins did to the data.

The config is read exactly as ``fit`` reads it (``BiasCLI``: the same keys, overrides, plugin lists and
one-line errors); only the data module and the model's tokenizer are built — no Trainer, no model weights.
The ``predict`` split, a copy of ``test``, is not shown.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.cli import LightningArgumentParser

from lightning_bias.commands.lightning_cli import TRAINER_DEFAULTS, BiasArgumentParser, BiasCLI
from lightning_bias.commands.quiet import quiet_third_party_noise
from lightning_bias.mitigation import Mitigation, MitigationPipeline
from lightning_bias.plugin_registry import MITIGATIONS, build_from_spec

JSON_NAME = "data_inspection.json"
HEATMAP_NAME = "cooccurrence_heatmap.png"
INSPECTED_SPLITS = ("train", "val", "test")


class InspectionCLI(BiasCLI):
    """``BiasCLI``'s parser with ``--output`` and ``--after-mitigations``; builds the data module, the model
    (its tokenizer: weights load only in ``configure_model``) and the mitigations, and no Trainer."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_argument("--output", type=str | None, default=None,
                            help=f"Also write {JSON_NAME} and {HEATMAP_NAME} into this directory.")
        parser.add_argument("--after-mitigations", action="store_true",
                            help="Inspect the tables after the mitigations' transforms (default: as loaded).")

    def instantiate_classes(self) -> None:
        self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule = self.config_init["data"]
        self.model = self.config_init["model"]
        configured = self.config_init["trainer"].get("callbacks") or []
        if not isinstance(configured, list):
            configured = [configured]
        by_name = [build_from_spec(MITIGATIONS, spec, Mitigation) for spec in self.config_init.get("mitigations") or []]
        self.mitigations = [*by_name, *(c for c in configured if isinstance(c, Mitigation))]


def inspect_config(args: Sequence[str]) -> dict[str, Any]:
    """Parse a fit command line (``--config x.yaml`` plus overrides, ``--output``, ``--after-mitigations``),
    inspect its data, print the tables; returns the inspection (what the JSON holds)."""
    from lightning_bias.data.datamodule import BiasDataModule
    from lightning_bias.data.inspection import inspect_splits
    from lightning_bias.data.step_progress import show_data_step_progress
    from lightning_bias.models.classifier import SequenceClassifier
    from lightning_bias.models.report_provenance import plugin_record

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    quiet_third_party_noise()
    show_data_step_progress("live" if sys.stderr.isatty() else "lines")
    cli = InspectionCLI(
        SequenceClassifier, BiasDataModule, args=list(args), run=False, trainer_defaults=TRAINER_DEFAULTS,
        parser_kwargs={"default_env": False, "prog": "lightning_bias data inspect"},
        parser_class=BiasArgumentParser, save_config_callback=None,
    )
    after = bool(cli.config.get("after_mitigations"))
    datamodule = cli.datamodule
    pipeline = MitigationPipeline(cli.mitigations if after else [], datamodule.stage)
    loaded, rows_before = datamodule.load_transformed(pipeline)
    tables = {split: loaded.tables[split] for split in INSPECTED_SPLITS if split in loaded.tables}
    inspection = inspect_splits(tables, loaded.label_names, loaded.group_names, cli.model.tokenizer,
                                datamodule.max_length)
    inspection.update({
        "after_mitigations": after,
        "mitigations": [plugin_record(m) for m in pipeline.mitigations],
        "rows_before_mitigations": {split: rows_before[split] for split in tables},
        "source": datamodule.source_record,
    })
    print_inspection(inspection)
    output = cli.config.get("output")
    if output:
        written = write_inspection(inspection, Path(output))
        print("\n".join(f"written: {path}" for path in written))
    return inspection


def write_inspection(inspection: dict[str, Any], directory: Path) -> list[Path]:
    """``data_inspection.json`` and the co-occurrence heat map into ``directory``, atomically."""
    from lightning_bias.reports.artifacts import write_json_atomic
    from lightning_bias.reports.figures import cooccurrence_heatmap, save_png

    return [write_json_atomic(directory / JSON_NAME, inspection),
            save_png(cooccurrence_heatmap(inspection), directory / HEATMAP_NAME)]


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_inspection(inspection: dict[str, Any]) -> None:
    """The inspection as rich tables on standard output (plain text where it is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a log file: no terminal width to fit, keep each table row on one line
        console = Console(width=160)
    splits = inspection["splits"]
    state = "after the mitigations" if inspection["after_mitigations"] else "as loaded, before any mitigation"
    console.print(f"Data {state}; tokens counted by {inspection['tokenizer']} (max_length "
                  f"{inspection['max_length']})")
    overview = Table(title="Rows, texts and token lengths per split")
    for column in ("split", "rows", "empty", "dup. rows", "dup. texts (several labels)", "tokens p50/p95/max",
                   "over max_length"):
        overview.add_column(column, justify="left" if column == "split" else "right")
    for split, stats in splits.items():
        lengths, duplicates = stats["token_lengths"], stats["duplicates"]
        overview.add_row(split, f"{stats['rows']:,}", f"{stats['empty_texts']:,}", f"{duplicates['rows']:,}",
                         f"{duplicates['texts']:,} ({duplicates['texts_with_several_labels']:,})",
                         f"{lengths['p50']}/{lengths['p95']}/{lengths['max']}",
                         f"{lengths['over_max_length']:,} ({_rate(lengths['over_max_length_share'])})")
    console.print(overview)
    groups = inspection["group_names"]
    for split, stats in splits.items():
        table = Table(title=f"{split}: rows (P(group | label) / P(label | group))")
        table.add_column("label")
        table.add_column("rows", justify="right")
        for group in groups:
            table.add_column(group, justify="right")
        for label in inspection["label_names"]:
            cells = [f"{stats['counts'][label][g]:,} ({_rate(stats['p_group_given_label'][label][g])} / "
                     f"{_rate(stats['p_label_given_group'][g][label])})" for g in groups]
            table.add_row(label, f"{stats['label_counts'][label]:,}", *cells)
        table.add_section()
        table.add_row("all", f"{stats['rows']:,}", *(f"{stats['group_counts'][g]:,}" for g in groups))
        console.print(table)
    shared = Table(title="Texts shared between splits (surrounding whitespace ignored)")
    for column in ("splits", "distinct texts", "rows"):
        shared.add_column(column, justify="left" if column == "splits" else "right")
    for entry in inspection["shared_texts"]:
        shared.add_row(" & ".join(entry["splits"]), f"{entry['texts']:,}",
                       ", ".join(f"{split} {rows:,}" for split, rows in entry["rows"].items()))
    console.print(shared)
