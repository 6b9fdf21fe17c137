"""What a data source is: the base classes every source subclasses, and building one by its registered name.

Sources are found through the entry-point group ``lightning_bias.sources`` (built-ins through the same
door as a third party) and named in YAML by ``data.source``. There are two kinds:

- ``ClassificationSource`` (read by ``BiasDataModule``): ``load()`` returns ``LabelledSplits``, one table per
  split with the columns ``text`` (str), ``label`` (int, 0..C-1) and ``group`` (int, 0..G-1), plus the label
  and group names. ``train`` is required; a missing ``val`` or ``test`` split is cut from ``train`` by the
  data module (seeded, stratified by label and group).
- ``CorpusSource`` (read by ``CorpusDataModule``): ``read()`` returns ``CorpusText``, one table with the single
  column ``text`` (non-blank lines or records), plus statistics of the read.

A source's options are its constructor parameters. The data module passes those of its own options whose
names match a parameter (``files``, ``columns``, ``path``...) and, for options of the source's own,
the mapping ``data.source_options``. Adding a source is therefore one file and one entry point::

    # my_package/toxic_comments.py
    class ToxicCommentsSource(ClassificationSource):
        \"\"\"Comments labelled toxic or not, with the identity they mention.\"\"\"

        def __init__(self, path: str, columns: ColumnMapping | None = None, threshold: float = 0.5) -> None: ...

        def load(self) -> LabelledSplits: ...

    # my_package's pyproject.toml
    [project.entry-points."lightning_bias.sources"]
    toxic_comments = "my_package.toxic_comments:ToxicCommentsSource"

    # the run's config: `columns` comes from data.columns, the rest from data.source_options
    data: {source: toxic_comments, columns: {text: comment}, source_options: {path: comments.csv, threshold: 0.7}}
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lightning_bias.plugin_registry import SOURCES, available, load_entry

if TYPE_CHECKING:
    import datasets


@dataclass
class LabelledSplits:
    """Classification tables per split (columns ``text``, ``label``, ``group``) with the names of the ids.

    ``label_names[i]`` names label id ``i``; ``group_names[j]`` names group id ``j`` (``female|black`` for
    intersectional groups). Every split shares the same id spaces.
    """

    tables: dict[str, datasets.Dataset]
    label_names: list[str]
    group_names: list[str]


@dataclass
class CorpusText:
    """A corpus as one table with the single column ``text`` (one row per non-blank line or record).

    ``stats`` describes the read, e.g. ``{"raw_lines": 2891, "blank_lines_dropped": 1020}``; it goes into the
    pre-training report as it is.
    """

    table: datasets.Dataset
    stats: dict[str, int] = field(default_factory=dict)


class Source:
    """Base of every data source; subclass ``ClassificationSource`` or ``CorpusSource``, not this.

    The first line of a source's docstring is its description; its constructor parameters are its options.
    A constructor validates its options (``ValueError`` naming the ``data.`` key to fix) and reads nothing:
    the data module builds its source when it is constructed and reads it in ``setup``.
    """


class ClassificationSource(Source, ABC):
    """Base of the sources of ``BiasDataModule``: classification rows with a protected attribute."""

    @abstractmethod
    def load(self) -> LabelledSplits:
        """Every split the source has, encoded to ``text``, ``label``, ``group``; ``train`` must be among them.

        Raises ``ValueError`` for bad rows, naming the file (or dataset), the row and the column.
        """

    def declared_distribution(self) -> Mapping[str, Mapping[str, Any]]:
        """The distribution the source declares for each split it generates, by split name (e.g.
        ``{"test": {"female_rate": 0.5}}``); empty for data that is what it is (files, hub datasets).

        The bias report states it beside the distribution measured on the evaluated split.
        """
        return {}


class CorpusSource(Source, ABC):
    """Base of the sources of ``CorpusDataModule``: plain text for masked-language-model training."""

    @abstractmethod
    def read(self) -> CorpusText:
        """The corpus as a ``text`` table without blank rows, and statistics of the read.

        Raises ``ValueError`` for a missing file or dataset, a missing text field, or a corpus without text.
        """


SourceKind = TypeVar("SourceKind", bound=Source)


def installed_sources(kind: type[Source]) -> list[str]:
    """Names of the installed sources of ``kind`` (``ClassificationSource`` or ``CorpusSource``), sorted."""
    names = []
    for name in available(SOURCES):
        try:
            cls = load_entry(SOURCES, name, Source)
        except Exception:  # a broken third-party source must not hide the others; naming it shows its error
            continue
        if issubclass(cls, kind):
            names.append(name)
    return names


def source_class(name: str, kind: type[SourceKind]) -> type[SourceKind]:
    """The source class registered as ``name``; ``ValueError`` listing the installed sources of ``kind``
    when there is none of that name or kind."""
    if name not in available(SOURCES):
        raise ValueError(
            f"unknown data source {name!r} (data.source); installed {kind.__name__}s: "
            f"{', '.join(installed_sources(kind)) or '(none)'}. A package provides a source by registering "
            f"it under the entry-point group {SOURCES!r}"
        )
    cls = load_entry(SOURCES, name, Source)
    if not issubclass(cls, kind):
        raise ValueError(
            f"data source {name!r} is a {_kind_of(cls)}, but this data module reads {kind.__name__}s: "
            f"{', '.join(installed_sources(kind)) or '(none installed)'}"
        )
    return cls


def _kind_of(cls: type[Source]) -> str:
    for kind in (ClassificationSource, CorpusSource):
        if issubclass(cls, kind):
            return kind.__name__
    return cls.__name__


def build_source(
    name: str, kind: type[SourceKind], offered: Mapping[str, Any], source_options: Mapping[str, Any]
) -> tuple[SourceKind, dict[str, Any]]:
    """Construct the source registered as ``name`` from a data module's options.

    Args:
        name: the registered name (``data.source``).
        kind: ``ClassificationSource`` or ``CorpusSource``, whichever the data module reads.
        offered: the data module's own options by name; the source receives those named like its parameters.
        source_options: ``data.source_options``, the source's other parameters.

    Returns the source and its record for ``DatasetInfo.source``: ``{"name": name, <option>: <value>...}``
    with dataclass options as plain mappings. Raises ``ValueError`` for a key of ``source_options`` that is
    not a parameter of the source (listing those that are), or that is an option of the data module, and
    for a parameter without a default that no option supplies.
    """
    cls = source_class(name, kind)
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = {n: p for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    clashing = sorted(set(source_options) & set(offered))
    if clashing:
        raise ValueError(
            f"data.source_options: {clashing} are options of the data module itself; set them as "
            f"{', '.join(f'data.{key}' for key in clashing)} instead"
        )
    own = [n for n in named if n not in offered]
    unknown = sorted(set(source_options) - set(own))
    if unknown and not takes_any:
        raise ValueError(
            f"data.source_options: data source {name!r} has no option(s) {unknown}; "
            f"it accepts {own or 'none (all its options are data module options)'}"
        )
    kwargs = {n: offered[n] for n in named if n in offered}
    kwargs.update(source_options)
    missing = [n for n, p in named.items() if p.default is p.empty and n not in kwargs]
    if missing:
        raise ValueError(f"data source {name!r} needs the option(s) {missing}; set them under data.source_options")
    record = {"name": name, **{key: _plain(value) for key, value in kwargs.items()}}
    return cls(**kwargs), record


def _plain(value: Any) -> Any:
    """Dataclass options as mappings, so that the record is plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
