"""``lightning_bias plugins``: what is installed in each entry-point group, as a table.

It answers in well under a second because it imports no plugin (and so not torch) where the class's
own source says what the table needs: the first line of its docstring, a mitigation's literal
``stage = "..."``, an evaluation's or a source's base class by name. An entry whose source does not say
(a stage inherited or computed, a base class of another name, a compiled module) is imported, as is
one whose module cannot be found, which is then listed with its error. A module that is there but
fails when imported (a missing dependency of its own) is listed from its source; the run that uses it
reports the import error.
"""

from __future__ import annotations

from lightning_bias.plugin_registry import (
    EVALUATIONS,
    MITIGATIONS,
    SOURCES,
    ClassSource,
    PluginInfo,
    describe,
)

# lightning_bias.mitigation.STAGES, spelled out: importing that module imports torch
MITIGATION_STAGES = ("downstream", "upstream")
SOURCE_KINDS = {"ClassificationSource": "classification", "CorpusSource": "corpus"}


def _mitigation_base() -> type:
    from lightning_bias.mitigation import Mitigation

    return Mitigation


def _evaluation_base() -> type:
    from lightning_bias.mitigation import Evaluation

    return Evaluation


def _source_base() -> type:
    from lightning_bias.data.sources.base import Source

    return Source


def _source_kind(cls: type) -> str:
    from lightning_bias.data.sources.base import CorpusSource

    return "corpus" if issubclass(cls, CorpusSource) else "classification"


def _stated_stage(source: ClassSource) -> str | None:
    stage = source.literals.get("stage")
    return stage if stage in MITIGATION_STAGES else None


def _stated_evaluation(source: ClassSource) -> str | None:
    # every entry of the evaluations group is one (through an intermediate base too, e.g. IdentityTermEvaluation);
    # a run that builds it checks that it really subclasses Evaluation
    return "evaluation"


def _stated_source_kind(source: ClassSource) -> str | None:
    kinds = {SOURCE_KINDS[name] for name in source.base_names if name in SOURCE_KINDS}
    return kinds.pop() if len(kinds) == 1 else None


def installed() -> dict[str, list[PluginInfo]]:
    """The installed entries of every group, by section title."""
    return {
        "mitigations": describe(MITIGATIONS, _mitigation_base, lambda cls: cls.stage, _stated_stage),
        "evaluations": describe(EVALUATIONS, _evaluation_base, lambda cls: "evaluation", _stated_evaluation),
        "data sources": describe(SOURCES, _source_base, _source_kind, _stated_source_kind),
    }


def print_plugins() -> None:
    """Print one aligned table per group (name, kind: a mitigation's stage or a source's kind, package, description)."""
    for title, infos in installed().items():
        print(f"{title}:")
        if not infos:
            print("  (none installed)")
            continue
        rows = [("name", "kind", "package", "description")] + [
            (i.name, i.kind, i.package, i.description) for i in infos
        ]
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        for row in rows:
            print("  " + "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:3])) + "  " + row[3])
