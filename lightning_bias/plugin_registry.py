"""Finding plugins by short name through entry-point groups; built-ins register exactly as a third party does.

Three groups, each with the base class its entries must subclass:

- ``lightning_bias.plugins``: mitigations (``lightning_bias.Mitigation``), the ``mitigations:`` list;
- ``lightning_bias.evaluations``: evaluations (``lightning_bias.Evaluation``), the ``evaluations:`` list;
- ``lightning_bias.sources``: data sources (``lightning_bias.data.sources.Source``), ``data.source``.

A package registers in its own ``pyproject.toml``::

    [project.entry-points."lightning_bias.plugins"]
    my_plugin = "my_package.module:MyMitigation"

This module knows the group names only; whoever looks an entry up passes the base class, so the
registry imports nothing of the framework and every layer may use it.

Listing what is installed (``describe``) reads each entry's class from its module's source where it
can (``read_class_source``), so that ``lightning_bias plugins`` answers without importing torch.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar

MITIGATIONS = "lightning_bias.plugins"
EVALUATIONS = "lightning_bias.evaluations"
SOURCES = "lightning_bias.sources"
GROUPS = {MITIGATIONS: "mitigation plugin", EVALUATIONS: "evaluation", SOURCES: "data source"}
ARTICLES = {MITIGATIONS: "a", EVALUATIONS: "an", SOURCES: "a"}

T = TypeVar("T")


@dataclass(frozen=True)
class PluginInfo:
    """One installed entry, as ``lightning_bias plugins`` lists it."""

    group: str
    name: str
    kind: str
    description: str
    package: str
    target: str


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> list[str]:
    """Short names registered in ``group``, sorted."""
    return sorted(_entry_points(group))


def load_entry(group: str, name: str, base: type[T]) -> type[T]:
    """The class registered under ``name`` in ``group``; it must subclass ``base``."""
    points = _entry_points(group)
    what = GROUPS.get(group, group)
    if name not in points:
        elsewhere = [other for other in GROUPS if other != group and name in _entry_points(other)]
        if elsewhere:
            raise ValueError(
                f"{name!r} is not a {what} but {ARTICLES[elsewhere[0]]} {GROUPS[elsewhere[0]]} (entry-point group {elsewhere[0]!r}); "
                f"list it where that kind belongs (e.g. `evaluations:` for an evaluation, `mitigations:` for a "
                "mitigation, `data.source` for a data source)"
            )
        raise ValueError(
            f"unknown {what} {name!r}; installed: {', '.join(sorted(points)) or '(none)'}. Install the package "
            f"that provides it (it registers under the entry-point group {group!r}), or use a class_path"
        )
    cls = points[name].load()
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"entry point {name!r} ({points[name].value}) is not a {base.__module__}.{base.__name__} subclass")
    return cls


def build_from_spec(group: str, spec: str | dict[str, Any], base: type[T]) -> T:
    """Instantiate an entry from a short-name spec of a YAML list (``mitigations:``, ``evaluations:``).

    ``spec`` is a name (``"reweighting"``) or a mapping with the name under ``name`` and the
    constructor arguments beside it (``{"name": "reweighting", "scheme": "kamiran_calders"}``).
    """
    what = GROUPS.get(group, group)
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict) and "name" in spec:
        kwargs = dict(spec)
        name = kwargs.pop("name")
    else:
        raise ValueError(
            f"a {what} entry must be a name or a mapping with a 'name' key, got {spec!r}; "
            "for example: mitigations: [{name: reweighting, scheme: kamiran_calders}]"
        )
    cls = load_entry(group, name, base)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"{what} {name!r}: bad arguments {kwargs}: {err}") from err


@dataclass(frozen=True)
class ClassSource:
    """A registered class as its module's source states it, read without importing the module."""

    name: str
    base_names: tuple[str, ...]  # each base as written, its last dotted part: ("ClassificationSource",)
    description: str  # the first line of the class's docstring
    literals: dict[str, str] = field(default_factory=dict)  # class attributes assigned a string literal


def _module_file(module: str) -> Path | None:
    """The ``.py`` file of ``module`` found without running any package ``__init__`` on the way
    (``importlib.util.find_spec`` of a submodule imports its parents, and a plugin package's
    ``__init__`` may import torch)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    for depth in range(len(rest)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        name = ".".join([top, *rest[: depth + 1]])
        spec = PathFinder.find_spec(name, list(spec.submodule_search_locations))
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def read_class_source(point: EntryPoint) -> ClassSource | None:
    """The class an entry point names, read from its module's source; ``None`` when that cannot be
    done without importing (a compiled or missing module, an attribute that is not a top-level class
    of that module), and the caller imports the entry instead."""
    module, _, attribute = point.value.partition(":")
    if not attribute or "." in attribute or "[" in attribute:
        return None
    try:
        path = _module_file(module.strip())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) if path is not None else None
    except (ImportError, OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    found = [node for node in (tree.body if tree else []) if isinstance(node, ast.ClassDef) and node.name == attribute.strip()]
    if not found:
        return None
    cls = found[-1]
    base_names = tuple(
        base.attr if isinstance(base, ast.Attribute) else base.id
        for base in cls.bases
        if isinstance(base, ast.Attribute | ast.Name)
    )
    literals = {}
    for statement in cls.body:
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        else:
            continue
        if isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str):
            literals.update({target.id: statement.value.value for target in targets if isinstance(target, ast.Name)})
    doc = (ast.get_docstring(cls) or "").strip()
    return ClassSource(cls.name, base_names, doc.splitlines()[0] if doc else "", literals)


def describe(
    group: str,
    base: Callable[[], type],
    kind: Callable[[type], str],
    kind_from_source: Callable[[ClassSource], str | None],
) -> list[PluginInfo]:
    """One ``PluginInfo`` per entry of ``group``; an entry that fails to load is listed with the reason.

    Args:
        group: the entry-point group.
        base: returns the base class every entry must subclass; called only when an entry is imported.
        kind: an imported entry's kind (a mitigation's stage, a source's kind).
        kind_from_source: the kind as the class's source states it, ``None`` when the source does not
            say; then the entry is imported. Listing the installed plugins thus imports none of them
            (nor torch) where every class states its kind in its own body.
    """
    infos = []
    for name, point in sorted(_entry_points(group).items()):
        package = point.dist.name if point.dist is not None else point.module.split(".")[0]
        source = read_class_source(point)
        source_kind = kind_from_source(source) if source is not None else None
        if source is not None and source_kind is not None:
            infos.append(PluginInfo(group, name, source_kind, source.description, package, point.value))
            continue
        try:
            cls = load_entry(group, name, base())
            doc = (cls.__doc__ or "").strip()
            infos.append(PluginInfo(group, name, kind(cls), doc.splitlines()[0] if doc else "", package, point.value))
        except Exception as err:  # a broken third-party plugin must not hide the others
            infos.append(PluginInfo(group, name, "?", f"failed to load: {err}", package, point.value))
    return infos
