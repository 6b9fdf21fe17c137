"""Finding mitigation plugins by short name through the entry-point group ``lightning_bias.plugins``.

Built-in plugins register there exactly as a third-party package does, in its own
``pyproject.toml``::

    [project.entry-points."lightning_bias.plugins"]
    my_plugin = "my_package.module:MyMitigation"
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from lightning_bias.mitigation import Mitigation

ENTRY_POINT_GROUP = "lightning_bias.plugins"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    stage: str
    description: str
    package: str
    target: str


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_plugins() -> list[str]:
    """Short names of the installed plugins, sorted."""
    return sorted(_entry_points())


def load_plugin(name: str) -> type[Mitigation]:
    """The ``Mitigation`` subclass registered under ``name``."""
    points = _entry_points()
    if name not in points:
        raise ValueError(
            f"unknown mitigation plugin {name!r}; installed plugins: {', '.join(sorted(points)) or '(none)'}. "
            f"Install the package that provides it, or use a class_path under trainer.callbacks"
        )
    cls = points[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Mitigation)):
        raise TypeError(
            f"entry point {name!r} ({points[name].value}) is not a lightning_bias.Mitigation subclass"
        )
    return cls


def build_mitigation(spec: str | dict[str, Any]) -> Mitigation:
    """Instantiate a plugin from a short-name spec.

    ``spec`` is a name (``"reweighting"``) or a mapping with the name under ``name`` and the
    constructor arguments beside it (``{"name": "reweighting", "scheme": "kamiran_calders"}``).
    """
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, dict) and "name" in spec:
        kwargs = dict(spec)
        name = kwargs.pop("name")
    else:
        raise ValueError(
            f"a mitigations entry must be a plugin name or a mapping with a 'name' key, got {spec!r}; "
            "for example: mitigations: [{name: reweighting, scheme: kamiran_calders}]"
        )
    cls = load_plugin(name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"mitigation {name!r}: bad arguments {kwargs}: {err}") from err


def describe_plugins() -> list[PluginInfo]:
    """One ``PluginInfo`` per installed plugin, for ``lightning_bias plugins``."""
    infos = []
    for name, point in sorted(_entry_points().items()):
        package = point.dist.name if point.dist is not None else point.module.split(".")[0]
        try:
            cls = load_plugin(name)
            infos.append(PluginInfo(name, cls.stage, cls.description(), package, point.value))
        except Exception as err:  # a broken third-party plugin must not hide the others
            infos.append(PluginInfo(name, "?", f"failed to load: {err}", package, point.value))
    return infos
