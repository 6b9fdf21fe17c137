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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
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


def describe(group: str, base: type, kind: Callable[[type], str]) -> list[PluginInfo]:
    """One ``PluginInfo`` per entry of ``group``, its ``kind`` given by ``kind(cls)``; an entry that fails to
    load is listed with the reason."""
    infos = []
    for name, point in sorted(_entry_points(group).items()):
        package = point.dist.name if point.dist is not None else point.module.split(".")[0]
        try:
            cls = load_entry(group, name, base)
            doc = (cls.__doc__ or "").strip()
            infos.append(PluginInfo(group, name, kind(cls), doc.splitlines()[0] if doc else "", package, point.value))
        except Exception as err:  # a broken third-party plugin must not hide the others
            infos.append(PluginInfo(group, name, "?", f"failed to load: {err}", package, point.value))
    return infos
