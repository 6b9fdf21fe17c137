"""The study config: a base fit config, axes of named config fragments, seeds, and which cells to keep.

A study config is YAML (``configs/study/*.yaml``)::

    name: bios_transfer_small
    base: [configs/quickstart.yaml]            # the fit configs every cell starts from (--config, in order)
    overrides: [--trainer.max_epochs=2]        # fit options for every cell
    seeds: [0, 1, 2]
    seed_overrides: ["--seed_everything={seed}"]   # how a seed enters a cell (the default)
    intrinsic: [--association_test=true]       # evaluate-intrinsic options for every upstream model; omit: none
    axes:
      - name: upstream
        role: upstream                         # upstream | cooccurrence | mitigation | other
        values:
          - {name: from_scratch, from_scratch: true, overrides: [--model.model=null, ...]}
          - {name: minilm}
          - name: cda
            pretrain: {configs: [configs/pretrain/minilm_cda.yaml], overrides: [--trainer.max_steps=100]}
      - name: cooccurrence
        role: cooccurrence
        values:
          - {name: balanced, numeric: 0.5, overrides: [--data.synthetic_bios.female_rate=balanced]}
      - name: mitigation
        role: mitigation
        values:
          - {name: none}
          - {name: reweighting, mitigations: [{name: reweighting, scheme: kamiran_calders}]}
          - {name: scrubbing, configs: [configs/mitigations/scrubbing.yaml]}
    exclude: [{mitigation: reweighting, cooccurrence: balanced}]   # drop the cells matching any rule
    only: []                                                       # if given, keep only cells matching one
    slurm: {timeout_min: 120, gpus_per_node: 1}   # submitit parameters for --executor slurm
    outcome: gaps.tpr_gap_rms_corrected        # the results.csv column the report reads as extrinsic bias (default)
    accuracy: overall.accuracy                 # ... and as accuracy (default)
    threshold: 0.01                            # the practical threshold τ for the outcome in the report (default)

A value is a named fragment: extra ``configs`` (stacked after the base), CLI-style ``overrides``,
``mitigations`` (appended to the run's ``mitigations:`` list, in axis order), and for an upstream arm
``pretrain`` (a ``lightning_bias pretrain`` run whose ``hf_checkpoint`` the fit takes as ``model.model``)
or ``from_scratch: true`` (the same architecture, random init). ``load_study_config`` checks every key
and type and raises one ``ValueError`` naming the file, the place and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROLES = ("upstream", "cooccurrence", "mitigation", "other")
DEFAULT_SEED_OVERRIDES = ("--seed_everything={seed}",)
DEFAULT_OUTCOME = "gaps.tpr_gap_rms_corrected"  # the noise-corrected TPR GAP-RMS of the bias report
DEFAULT_ACCURACY = "overall.accuracy"
DEFAULT_THRESHOLD = 0.01  # one percentage point of GAP-RMS


@dataclass(frozen=True)
class PretrainArm:
    """A ``lightning_bias pretrain`` run an upstream value needs: its configs and overrides."""

    configs: tuple[str, ...]
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class AxisValue:
    """One named value of an axis: the fit fragment it adds, and for an upstream arm its pre-training."""

    name: str
    configs: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    mitigations: tuple[Any, ...] = ()
    numeric: float | None = None
    from_scratch: bool = False
    pretrain: PretrainArm | None = None


@dataclass(frozen=True)
class Axis:
    name: str
    role: str
    values: tuple[AxisValue, ...]


@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study config. ``sha256`` identifies its content (not its formatting)."""

    name: str
    path: Path
    sha256: str
    base: tuple[str, ...]
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    overrides: tuple[str, ...] = ()
    seed_overrides: tuple[str, ...] = DEFAULT_SEED_OVERRIDES
    intrinsic: tuple[str, ...] | None = None
    exclude: tuple[dict[str, str], ...] = ()
    only: tuple[dict[str, str], ...] = ()
    slurm: dict[str, Any] = field(default_factory=dict)
    outcome: str = DEFAULT_OUTCOME
    accuracy: str = DEFAULT_ACCURACY
    threshold: float = DEFAULT_THRESHOLD


class _Reader:
    """Reads one mapping of the study config, naming the file and the place in every error."""

    def __init__(self, path: Path, where: str, mapping: Any, allowed: tuple[str, ...]) -> None:
        self.path, self.where = path, where
        if not isinstance(mapping, dict):
            self.fail(f"expected a mapping, got {type(mapping).__name__} {mapping!r}")
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                self.fail(f"unknown key {key!r}; {hint}")
        self.mapping = mapping

    def fail(self, message: str) -> None:
        raise ValueError(f"study config {self.path}: {self.where}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if key not in self.mapping:
            if required:
                self.fail(f"missing key {key!r}")
            return default
        value = self.mapping[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(f"{key!r} must be a {names}, got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, (list, str), [])
        value = [value] if isinstance(value, str) else value
        if not all(isinstance(item, str) for item in value):
            self.fail(f"{key!r} must be a list of strings, got {value!r}")
        return tuple(value)


def _existing_files(reader: _Reader, key: str, root: Path) -> tuple[str, ...]:
    files = reader.strings(key)
    for name in files:
        if not (root / name).is_file():
            reader.fail(f"{key}: no file {name!r} (paths are relative to the directory `study run` starts in)")
    return files


def _value(path: Path, where: str, raw: Any, root: Path) -> AxisValue:
    reader = _Reader(path, where, raw, ("name", "configs", "overrides", "mitigations", "numeric", "from_scratch",
                                        "pretrain"))
    pretrain = None
    if "pretrain" in raw:
        arm = _Reader(path, f"{where}.pretrain", raw["pretrain"], ("configs", "overrides"))
        pretrain = PretrainArm(_existing_files(arm, "configs", root), arm.strings("overrides"))
        if not pretrain.configs:
            arm.fail("give at least one pretrain config under 'configs'")
    mitigations = reader.get("mitigations", list, [])
    value = AxisValue(
        name=str(reader.get("name", (str, int, float), required=True)),
        configs=_existing_files(reader, "configs", root),
        overrides=reader.strings("overrides"),
        mitigations=tuple(mitigations),
        numeric=None if reader.get("numeric", (int, float)) is None else float(raw["numeric"]),
        from_scratch=reader.get("from_scratch", bool, False),
        pretrain=pretrain,
    )
    if value.from_scratch and value.pretrain:
        reader.fail("a value is either from_scratch or pretrained, not both")
    return value


def _axis(path: Path, index: int, raw: Any, root: Path) -> Axis:
    reader = _Reader(path, f"axes[{index}]", raw, ("name", "role", "values"))
    name = reader.get("name", str, required=True)
    role = reader.get("role", str, "other")
    if role not in ROLES:
        reader.fail(f"role {role!r} is not one of {', '.join(ROLES)}")
    values_raw = reader.get("values", list, required=True)
    if not values_raw:
        reader.fail("'values' is empty; give at least one value")
    values = tuple(_value(path, f"axes[{index}] ({name}).values[{i}]", v, root) for i, v in enumerate(values_raw))
    names = [v.name for v in values]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        reader.fail(f"value names must be unique within an axis; repeated: {', '.join(repeated)}")
    if role != "upstream" and any(v.pretrain or v.from_scratch for v in values):
        reader.fail("'pretrain' and 'from_scratch' belong to the axis with role: upstream")
    return Axis(name, role, values)


def _rules(reader: _Reader, key: str, axes: tuple[Axis, ...]) -> tuple[dict[str, str], ...]:
    rules = reader.get(key, list, [])
    by_name = {axis.name: {v.name for v in axis.values} for axis in axes}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not rule:
            reader.fail(f"{key}[{i}] must be a mapping of axis name to value name, got {rule!r}")
        for axis, value in rule.items():
            if axis not in by_name:
                reader.fail(f"{key}[{i}]: no axis {axis!r}; axes: {', '.join(by_name)}")
            if str(value) not in by_name[axis]:
                reader.fail(f"{key}[{i}]: axis {axis!r} has no value {value!r}; values: {', '.join(sorted(by_name[axis]))}")
    return tuple({str(a): str(v) for a, v in rule.items()} for rule in rules)


def content_sha256(raw: Any) -> str:
    """SHA-256 of a parsed config's content (keys sorted), so that comments and layout do not count."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def load_study_config(path: str | Path, root: str | Path = ".") -> StudyConfig:
    """Parse and validate the study config at ``path``; file paths inside it are relative to ``root``."""
    path, root = Path(path), Path(root)
    if not path.is_file():
        raise FileNotFoundError(f"study config {path} does not exist (the shipped ones are in configs/study/)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    reader = _Reader(path, "top level", raw, ("name", "base", "overrides", "seeds", "seed_overrides", "intrinsic",
                                               "axes", "exclude", "only", "slurm", "outcome", "accuracy", "threshold"))
    axes_raw = reader.get("axes", list, required=True)
    axes = tuple(_axis(path, i, a, root) for i, a in enumerate(axes_raw))
    names = [a.name for a in axes]
    if len(set(names)) != len(names) or not axes:
        reader.fail(f"give at least one axis, each with its own name; got {names}")
    if sum(a.role == "upstream" for a in axes) > 1:
        reader.fail("at most one axis has role: upstream")
    seeds = reader.get("seeds", list, [0])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) < len(seeds):
        reader.fail(f"'seeds' must be a non-empty list of distinct integers, got {seeds!r}")
    seed_overrides = reader.strings("seed_overrides") or DEFAULT_SEED_OVERRIDES
    if not any("{seed}" in o for o in seed_overrides):
        reader.fail("'seed_overrides' must use {seed}, e.g. --seed_everything={seed}")
    base = _existing_files(reader, "base", root)
    if not base:
        reader.fail("'base' must name at least one fit config")
    intrinsic = reader.strings("intrinsic") if "intrinsic" in raw and raw["intrinsic"] is not None else None
    return StudyConfig(
        name=reader.get("name", str, path.stem),
        path=path,
        sha256=content_sha256(raw),
        base=base,
        axes=axes,
        seeds=tuple(seeds),
        overrides=reader.strings("overrides"),
        seed_overrides=seed_overrides,
        intrinsic=intrinsic,
        exclude=_rules(reader, "exclude", axes),
        only=_rules(reader, "only", axes),
        slurm=dict(reader.get("slurm", dict, {})),
        outcome=_column(reader, "outcome", DEFAULT_OUTCOME),
        accuracy=_column(reader, "accuracy", DEFAULT_ACCURACY),
        threshold=_threshold(reader),
    )


def _threshold(reader: _Reader) -> float:
    """The practical threshold τ: a positive number in the outcome's own units."""
    threshold = float(reader.get("threshold", (int, float), DEFAULT_THRESHOLD))
    if not threshold > 0:
        reader.fail(f"threshold must be a positive number in the outcome's units, got {threshold!r}")
    return threshold


def _column(reader: _Reader, key: str, default: str) -> str:
    """A results.csv column name: dotted, as results.csv spells it (``gaps.…``, ``overall.…``, ``evaluations.…``)."""
    column = reader.get(key, str, default)
    if not column.startswith(("gaps.", "overall.", "auc.", "evaluations.", "train.", "intrinsic.")):
        reader.fail(f"{key} {column!r} is not a results.csv column: give a dotted name such as {default!r} or "
                    "'evaluations.identity_templates.fped' (docs/STUDIES.md lists the columns)")
    return column
