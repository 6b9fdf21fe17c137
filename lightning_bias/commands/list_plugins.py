"""``lightning_bias plugins``: what is installed in each entry-point group, as a table."""

from __future__ import annotations

from lightning_bias.mitigation import Evaluation, Mitigation
from lightning_bias.plugin_registry import EVALUATIONS, MITIGATIONS, SOURCES, PluginInfo, describe


def installed() -> dict[str, list[PluginInfo]]:
    """The installed entries of every group, by section title."""
    from lightning_bias.data.sources.base import CorpusSource, Source

    return {
        "mitigations": describe(MITIGATIONS, Mitigation, lambda cls: cls.stage),
        "evaluations": describe(EVALUATIONS, Evaluation, lambda cls: "evaluation"),
        "data sources": describe(SOURCES, Source, lambda cls: "corpus" if issubclass(cls, CorpusSource) else "classification"),
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
