"""``lightning_bias plugins``: every entry-point group listed, with kinds, packages and descriptions."""

from __future__ import annotations

from importlib.metadata import EntryPoint

from lightning_bias import plugin_registry
from lightning_bias.commands import main


def _rows(text: str) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
            sections[current] = []
        else:
            sections[current].append(line.split())
    return sections


def test_lists_mitigations_evaluations_and_sources(capsys):
    main(["plugins"])
    sections = _rows(capsys.readouterr().out)
    assert list(sections) == ["mitigations", "evaluations", "data sources"]
    kinds = {section: {row[0]: row[1] for row in rows[1:]} for section, rows in sections.items()}
    assert kinds["mitigations"]["reweighting"] == "downstream" and kinds["mitigations"]["dapt"] == "upstream"
    assert kinds["evaluations"] == {name: "evaluation" for name in
                                    ("counterfactual_evaluation", "identity_templates", "wiki_toxicity_test")}
    assert kinds["data sources"]["synthetic_bios"] == "classification"
    assert kinds["data sources"]["text_files"] == "corpus"


def test_a_broken_entry_is_listed_with_its_error(monkeypatch, capsys):
    real = plugin_registry.entry_points

    def with_broken(group: str):
        found = list(real(group=group))
        if group == plugin_registry.MITIGATIONS:
            found.append(EntryPoint("broken", "no_such_module_xyz:Thing", group))
        return found

    monkeypatch.setattr(plugin_registry, "entry_points", with_broken)
    main(["plugins"])
    out = capsys.readouterr().out
    broken = next(line for line in out.splitlines() if line.strip().startswith("broken"))
    assert "failed to load" in broken and "no_such_module_xyz" in broken
    assert "reweighting" in out  # the others are still listed
