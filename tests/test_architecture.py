"""The package's dependencies point one way (docs/ARCHITECTURE.md): a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "lightning_bias"
# what each top-level package or module may import from lightning_bias (besides itself)
ALLOWED: dict[str, set[str]] = {
    "metrics": set(),
    "counterfactual": set(),
    "training": set(),
    "mitigation": set(),
    "plugin_registry": set(),
    "data": {"mitigation", "plugin_registry", "metrics", "counterfactual"},
    "intrinsic": {"data"},
    "reports": {"intrinsic", "mitigation", "metrics"},
    "models": {"metrics", "data", "intrinsic", "mitigation", "reports", "training"},
    "study": {"reports", "metrics"},
    "commands": {"data", "intrinsic", "metrics", "mitigation", "models", "plugin_registry", "reports", "study",
                 "training"},
    "__init__": {"mitigation"},
    "__main__": {"commands"},
}


def _imports(path: Path) -> set[str]:
    """The top-level lightning_bias packages/modules that ``path`` imports (lazily or not)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "lightning_bias":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    layer = _layer(path)
    assert layer in ALLOWED, f"new top-level module {layer!r}: add it to ALLOWED and docs/ARCHITECTURE.md"
    upward = _imports(path) - ALLOWED[layer] - {layer}
    assert not upward, f"{path.relative_to(REPO_ROOT)} ({layer}) imports {sorted(upward)}, above it"


def test_no_loose_modules_beside_the_packages():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "mitigation.py", "plugin_registry.py"]
