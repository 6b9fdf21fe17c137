"""What a pre-training run writes besides the model: ``pretrain_report.json``, and writing files atomically.

The report (``build_pretrain_report``) is the record a study aggregates: which model and corpus,
how big the corpus was before and after each upstream mitigation, which mitigations ran with
which arguments, steps and losses, and the intrinsic bias before and after training with the
change between them. Values are plain JSON (NaN and infinities become ``null``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning_bias.mitigation import Mitigation

REPORT_VERSION = 1


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: NaN/inf -> None, tuples -> lists, paths and other objects -> str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return json_safe(value.item())
    return str(value)


def _reportable(value: Any) -> bool:
    """Plain data, or an object with a short description (not a callable or a large structure)."""
    if callable(value):
        return False
    if value is None or isinstance(value, bool | int | float | str | Mapping | Sequence | set | frozenset):
        return True
    return len(str(value)) <= 200


def describe_mitigation(mitigation: Mitigation) -> dict[str, Any]:
    """Name, class path, stage, constructor arguments and other public state of a mitigation.

    Arguments are the constructor parameters the object keeps under the same attribute name;
    ``state`` holds its remaining public attributes (counts it recorded while running, say).
    """
    cls = type(mitigation)
    parameters = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    public = {k: v for k, v in vars(mitigation).items() if not k.startswith("_") and _reportable(v)}
    return {
        "name": cls.__name__,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "stage": mitigation.stage,
        "args": json_safe({p: public[p] for p in parameters if p in public}),
        "state": json_safe({k: v for k, v in public.items() if k not in parameters}),
    }


def intrinsic_change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, float] | None:
    """after - before for every headline number both results have."""
    if not before or not after:
        return None
    from lightning_bias.intrinsic.suite import headline_numbers

    first, last = headline_numbers(dict(before)), headline_numbers(dict(after))
    return {k: last[k] - first[k] for k in first if k in last}


def build_pretrain_report(
    *,
    model: str,
    model_config: Mapping[str, Any] | None,
    tokenizer: str,
    initialised_keys: Sequence[str],
    carried_weights: Sequence[str],
    head_calibration: Mapping[str, Any] | None,
    corpus: Mapping[str, Any] | None,
    training: Mapping[str, Any],
    mitigations: Sequence[Mitigation],
    intrinsic_options: Mapping[str, Any] | None,
    intrinsic_before: Mapping[str, Any] | None,
    intrinsic_after: Mapping[str, Any] | None,
    checkpoint_dir: str | None,
    strategy: str,
    world_size: int,
) -> dict[str, Any]:
    """The ``pretrain_report.json`` payload (see the module docstring), JSON-safe."""
    notes = []
    if initialised_keys and head_calibration:
        notes.append(
            "the checkpoint had no masked-LM head; a new head (decoder tied to the input embeddings) was "
            f"initialised and fitted to the frozen encoder ({head_calibration['steps']} steps over "
            f"{head_calibration['masked_positions']} masked positions of the corpus before mitigations), so the "
            "intrinsic bias measured before training reads the pre-trained encoder"
        )
    elif initialised_keys:
        notes.append(
            "the checkpoint had no masked-LM head; a new head (decoder tied to the input embeddings) was "
            "initialised, so the intrinsic bias measured before training reflects a random head (set "
            "model.head_calibration to fit the head to the encoder first)"
        )
    return json_safe(
        {
            "kind": "pretrain",
            "version": REPORT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": {
                "source": model,
                "config": model_config,
                "tokenizer": tokenizer,
                "initialised_head_weights": list(initialised_keys),
                "carried_weights": list(carried_weights),
                "head_calibration": head_calibration,
            },
            "corpus": corpus,
            "mitigations": [describe_mitigation(m) for m in mitigations],
            "training": {**training, "strategy": strategy, "world_size": world_size},
            "intrinsic": {
                "options": intrinsic_options,
                "before": intrinsic_before,
                "after": intrinsic_after,
                "change": intrinsic_change(intrinsic_before, intrinsic_after),
            },
            "checkpoint": checkpoint_dir,
            "notes": notes,
        }
    )


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented strict JSON to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(json_safe(payload), stream, indent=2, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; on success it replaces ``target`` by rename.

    An interrupted write leaves ``target`` as it was (the old content, or nothing).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging.", dir=target.parent))
    try:
        yield staging
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
