"""What each command imports before it answers (the times themselves: ``benchmarks/bench_startup.py``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest
from conftest import REPO_ROOT

from lightning_bias import plugin_registry
from lightning_bias.commands import list_plugins
from lightning_bias.plugin_registry import EVALUATIONS, MITIGATIONS, SOURCES, describe


def _modules_loaded_by(args: list[str], modules: list[str]) -> dict[str, bool]:
    """Run ``lightning_bias ARGS`` in a fresh interpreter; which of ``modules`` it imported."""
    script = textwrap.dedent(f"""
        import sys
        from lightning_bias.commands import main
        try:
            main({args!r})
        except SystemExit:
            pass
        print({{m: m in sys.modules for m in {modules!r}}})
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_help_and_plugins_import_neither_torch_nor_lightning():
    for args in (["--help"], ["plugins"]):
        loaded = _modules_loaded_by(args, ["torch", "pytorch_lightning", "datasets", "transformers"])
        assert not any(loaded.values()), (args, loaded)


def test_print_config_imports_no_data_or_deepspeed_stack():
    loaded = _modules_loaded_by(
        ["fit", "--config", "configs/tiny.yaml", "--print_config"], ["datasets", "pandas", "deepspeed"]
    )
    assert not any(loaded.values()), loaded


# per group: the base class (imported lazily), the kind of an imported class, the kind as its source states it
GROUPS = {
    MITIGATIONS: (list_plugins._mitigation_base, lambda cls: cls.stage, list_plugins._stated_stage),
    EVALUATIONS: (list_plugins._evaluation_base, lambda cls: "evaluation", list_plugins._stated_evaluation),
    SOURCES: (list_plugins._source_base, list_plugins._source_kind, list_plugins._stated_source_kind),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_reading_the_source_lists_what_importing_lists(group):
    base, kind, stated = GROUPS[group]
    read = describe(group, base, kind, stated)
    imported = describe(group, base, kind, lambda source: None)  # trusts no source: imports every entry
    assert read == imported
    assert read and all(info.kind != "?" for info in read)


def test_an_entry_whose_source_does_not_state_its_stage_is_imported(tmp_path, monkeypatch):
    (tmp_path / "inheriting_plugin.py").write_text(
        textwrap.dedent('''
        from lightning_bias_plugins.downstream.reweighting import Reweighting


        class TunedReweighting(Reweighting):
            """Reweighting with other defaults."""
    ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    real = plugin_registry.entry_points

    def with_inheriting(group: str):
        found = list(real(group=group))
        if group == MITIGATIONS:
            found.append(EntryPoint("tuned", "inheriting_plugin:TunedReweighting", group))
        return found

    monkeypatch.setattr(plugin_registry, "entry_points", with_inheriting)
    (tuned,) = [i for i in list_plugins.installed()["mitigations"] if i.name == "tuned"]
    assert (tuned.kind, tuned.description) == ("downstream", "Reweighting with other defaults.")
    assert "inheriting_plugin" in sys.modules  # the stage is inherited: only importing can tell
