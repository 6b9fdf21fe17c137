"""The cells of a study: the grid of axes x seeds, resolved, hashed and linked into a small DAG.

Every fit cell is one ``lightning_bias fit`` run; an upstream value with ``pretrain`` adds one
``pretrain`` cell that every fit cell naming it shares; with ``intrinsic:`` in the study config each
distinct upstream model (a pre-training cell's checkpoint or the ``model.model`` a fit names) gets one
``evaluate-intrinsic`` cell. The DAG: pretrain -> intrinsic, pretrain -> fit; the report reads them all.

A cell's id is the SHA-256 (first 16 hex digits) of its fully resolved config — the config the run
would print with ``--print_config``, less ``trainer.default_root_dir`` (where it writes, not what it
does), with a pre-training checkpoint named by its cell id rather than its path. The resolving itself
(``Resolver``) is given by the CLI layer, which knows the parsers; resolving also validates every cell
(unknown keys, bad values, unknown plugins) before anything runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightning_bias.study.config import Axis, AxisValue, StudyConfig

PRETRAIN, INTRINSIC, FIT = "pretrain", "intrinsic", "fit"
KINDS = (PRETRAIN, INTRINSIC, FIT)
PRETRAIN_REFERENCE = "@pretrain:"  # model.model of a fit cell until its pre-training cell's checkpoint exists

# verb arguments -> the fully resolved config (a mapping), or ValueError naming what is wrong
Resolver = Callable[[Sequence[str]], dict[str, Any]]


@dataclass(frozen=True)
class Cell:
    """One run of the study. ``config`` is the resolved config (fit/pretrain) or the verb's arguments
    (intrinsic); ``model`` is the model an intrinsic cell measures (a path, a name, or a
    ``@pretrain:<id>`` reference)."""

    kind: str
    id: str
    label: str
    config: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    axes: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    intrinsic: str | None = None  # a fit cell's upstream intrinsic cell
    model: str | None = None


def config_id(kind: str, config: dict[str, Any]) -> str:
    """The cell id: a hash of the kind and the resolved config, without where the run writes."""
    identity = copy.deepcopy(config)
    (identity.get("trainer") or {}).pop("default_root_dir", None)
    text = json.dumps({"kind": kind, "config": identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _matches(rule: dict[str, str], axes: dict[str, str]) -> bool:
    return all(axes.get(axis) == value for axis, value in rule.items())


def selected_combinations(study: StudyConfig) -> list[dict[str, AxisValue]]:
    """The product of the axes, less the ``exclude`` matches, restricted to the ``only`` matches."""
    kept = []
    for values in itertools.product(*(axis.values for axis in study.axes)):
        combination = {axis.name: value for axis, value in zip(study.axes, values, strict=True)}
        names = {axis: value.name for axis, value in combination.items()}
        if any(_matches(rule, names) for rule in study.exclude):
            continue
        if study.only and not any(_matches(rule, names) for rule in study.only):
            continue
        kept.append(combination)
    if not kept:
        raise ValueError(f"study config {study.path}: `exclude`/`only` leave no cell; loosen them")
    return kept


def _fragment_args(value: AxisValue) -> list[str]:
    args = [arg for name in value.configs for arg in ("--config", name)]
    args += list(value.overrides)
    args += [f"--mitigations+={json.dumps(spec)}" for spec in value.mitigations]
    return args


def _resolve(resolver: Resolver, verb_args: list[str], where: str) -> dict[str, Any]:
    try:
        return resolver(verb_args)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err


def _pretrain_cells(study: StudyConfig, resolve_pretrain: Resolver) -> dict[str, Cell]:
    """One pre-training cell per upstream value that names one, keyed by the value's name."""
    cells = {}
    for axis in study.axes:
        for value in axis.values:
            if value.pretrain is None:
                continue
            args = [arg for name in value.pretrain.configs for arg in ("--config", name)] + list(value.pretrain.overrides)
            config = _resolve(resolve_pretrain, args, f"study config {study.path}: {axis.name}={value.name} (pretrain)")
            cells[value.name] = Cell(PRETRAIN, config_id(PRETRAIN, config), f"pretrain {axis.name}={value.name}", config)
    return cells


def _fit_args(study: StudyConfig, combination: dict[str, AxisValue], seed: int, pretrain: Cell | None) -> list[str]:
    args = [arg for name in study.base for arg in ("--config", name)] + list(study.overrides)
    for value in combination.values():
        args += _fragment_args(value)
    args += [template.format(seed=seed) for template in study.seed_overrides]
    if pretrain is not None:
        args.append(f"--model.model={PRETRAIN_REFERENCE}{pretrain.id}")
    return args


def _intrinsic_cell(study: StudyConfig, model: str, pretrain: Cell | None) -> Cell:
    args = list(study.intrinsic or ())
    config = {"model": model, "arguments": args}
    label = f"intrinsic {pretrain.label.removeprefix('pretrain ') if pretrain else model}"
    return Cell(INTRINSIC, config_id(INTRINSIC, config), label, config,
                depends_on=(pretrain.id,) if pretrain else (), model=model)


def plan_cells(study: StudyConfig, resolve_fit: Resolver, resolve_pretrain: Resolver) -> list[Cell]:
    """Every cell of ``study``, dependencies first. Raises ``ValueError`` (naming the cell) for a config that
    does not resolve, and for two cells that resolve to the same config."""
    pretrain_cells = _pretrain_cells(study, resolve_pretrain)
    upstream = next((axis for axis in study.axes if axis.role == "upstream"), None)
    intrinsic_cells: dict[str, Cell] = {}
    fit_cells: dict[str, Cell] = {}
    for combination in selected_combinations(study):
        names = {axis: value.name for axis, value in combination.items()}
        arm = combination[upstream.name] if upstream else None
        pretrain = pretrain_cells.get(arm.name) if arm and arm.pretrain else None
        for seed in study.seeds:
            label = ", ".join(f"{axis}={value}" for axis, value in names.items()) + f", seed {seed}"
            config = _resolve(resolve_fit, _fit_args(study, combination, seed, pretrain), f"study config {study.path}: cell {label}")
            model = (config.get("model") or {}).get("model")
            intrinsic = None
            if study.intrinsic is not None and model and not (arm and arm.from_scratch):
                intrinsic = intrinsic_cells.setdefault(model, _intrinsic_cell(study, model, pretrain))
            cell = Cell(FIT, config_id(FIT, config), label, config, depends_on=(pretrain.id,) if pretrain else (),
                        axes=names, seed=seed, intrinsic=intrinsic.id if intrinsic else None)
            if cell.id in fit_cells:
                raise ValueError(
                    f"study config {study.path}: cells {fit_cells[cell.id].label!r} and {label!r} resolve to the same "
                    f"config (id {cell.id}); make their axis values differ in what they set, or drop one"
                )
            fit_cells[cell.id] = cell
    return [*pretrain_cells.values(), *intrinsic_cells.values(), *fit_cells.values()]


def axes_description(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """The axes as ``study.json`` records them (name, role, values with their numeric level and from_scratch)."""
    return [{"name": axis.name, "role": axis.role,
             "values": [{"name": v.name, "numeric": v.numeric, "from_scratch": v.from_scratch} for v in axis.values]}
            for axis in axes]
