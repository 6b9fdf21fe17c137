"""Explicit model settings against a checkpoint's saved hyper-parameters: a conflict is an error, not a silent swap.

With ``--ckpt_path <file>``, LightningCLI re-parses the checkpoint's saved hyper-parameters over the
``model`` settings, so ``--model.model_config.hidden_size 64`` on a hidden-32 checkpoint trains (and
exports) hidden size 32 without a word. ``check_explicit_settings_kept`` compares the model settings as
parsed (before) with those after the checkpoint's were applied: a setting given explicitly — on the
command line or in a config file, i.e. different from the parser's default — that the checkpoint
changed is a ``ValueError`` naming the key and both values. Settings left at their default are still
taken from the checkpoint. A setting given explicitly with its default value cannot be told apart
from one not given, and is taken from the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_LISTED = 3
ABSENT = object()  # a key one side has and the other does not (a nested dict replaced as a whole)


def flatten_settings(settings: Any, prefix: str) -> dict[str, Any]:
    """Nested settings (a jsonargparse ``Namespace`` or dicts) as ``{"model.model_config.hidden_size": 32, ...}``."""
    if hasattr(settings, "as_dict"):
        settings = settings.as_dict()
    if not isinstance(settings, Mapping):
        return {prefix: settings}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        flat.update(flatten_settings(value, f"{prefix}.{key}"))
    return flat


def explicit_conflicts(given: Mapping[str, Any], restored: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """Flat keys that were set explicitly (``given`` differs from ``defaults``) and that the checkpoint changed.

    Args:
        given: the flat settings as parsed, before the checkpoint's hyper-parameters were applied.
        restored: the flat settings after they were applied.
        defaults: the flat defaults of the parser.
    """
    keys = sorted(set(given) | set(restored))
    return [
        key for key in keys
        if given.get(key, ABSENT) != restored.get(key, ABSENT) and given.get(key, ABSENT) != defaults.get(key, ABSENT)
    ]


def _shown(value: Any) -> str:
    return "not set" if value is ABSENT else repr(value)


def check_explicit_settings_kept(ckpt_path: Any, given: Any, restored: Any, defaults: Any, prefix: str = "model") -> None:
    """Raise ``ValueError`` when the checkpoint's hyper-parameters replaced a setting the user gave explicitly.

    Args:
        ckpt_path: the checkpoint, for the message.
        given: the ``model`` settings as parsed (``Namespace`` or dict), before the checkpoint's were applied.
        restored: the ``model`` settings after they were applied.
        defaults: the parser's defaults of the ``model`` settings.
        prefix: the settings' key, for the message (``model``).
    """
    given_flat, restored_flat = flatten_settings(given, prefix), flatten_settings(restored, prefix)
    conflicts = explicit_conflicts(given_flat, restored_flat, flatten_settings(defaults, prefix))
    if not conflicts:
        return
    listed = "; ".join(
        f"{key} is {_shown(given_flat.get(key, ABSENT))} in your settings but "
        f"{_shown(restored_flat.get(key, ABSENT))} in the checkpoint"
        for key in conflicts[:MAX_LISTED]
    )
    more = f" (and {len(conflicts) - MAX_LISTED} more)" if len(conflicts) > MAX_LISTED else ""
    raise ValueError(
        f"--ckpt_path {ckpt_path}: {listed}{more}. A checkpoint resumes with the settings it was saved with; "
        f"drop {'this setting' if len(conflicts) == 1 else 'these settings'} to continue with the checkpoint's, "
        "or start a new run without --ckpt_path to use yours"
    )
