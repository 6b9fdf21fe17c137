"""The pre-training report, ``pretrain_report.json``: what one ``lightning_bias pretrain`` run did and measured.

The report (``build_pretrain_report``) is the record a study aggregates: which model and corpus,
how big the corpus was before and after each upstream mitigation, which mitigations ran with
which arguments, steps and losses, and the intrinsic bias before and after training with the
change between them. Values are plain JSON (NaN and infinities become ``null``). ``pretrain_markdown``
renders it for people; masked-LM readings through a head the checkpoint did not have are marked as
probe readings in both (``intrinsic.masked_lm_readings`` and the notes).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lightning_bias.intrinsic.suite import headline_numbers
from lightning_bias.mitigation import Mitigation
from lightning_bias.reports.artifacts import json_safe
from lightning_bias.reports.intrinsic_markdown import intrinsic_markdown

REPORT_VERSION = 1


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
            "masked-LM measures before training read the pre-trained encoder through that head: they are probe "
            "readings, not the scores of a language model"
        )
    elif initialised_keys:
        notes.append(
            "the checkpoint had no masked-LM head; a new head (decoder tied to the input embeddings) was "
            "initialised, so the intrinsic bias measured before training reflects a random head (set "
            "model.head_calibration to fit the head to the encoder first)"
        )
    readings = {
        when: result["masked_lm_head"]["readings"]
        for when, result in (("before", intrinsic_before), ("after", intrinsic_after))
        if result and "masked_lm_head" in result
    }
    notes += [f"intrinsic {when}: {result['masked_lm_head']['note']}"
              for when, result in (("before", intrinsic_before), ("after", intrinsic_after))
              if result and "masked_lm_head" in result and result["masked_lm_head"]["readings"] != "model"]
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
                "masked_lm_readings": readings,
                "before": intrinsic_before,
                "after": intrinsic_after,
                "change": intrinsic_change(intrinsic_before, intrinsic_after),
            },
            "checkpoint": checkpoint_dir,
            "notes": notes,
        }
    )


def pretrain_markdown(report: Mapping[str, Any]) -> str:
    """``pretrain_report.md``: the model, the corpus sizes, the losses and the intrinsic bias before and after."""
    corpus = report.get("corpus") or {}
    training = report["training"]
    lines = [
        "# Pre-training report",
        "",
        f"- model: {report['model']['source']} (tokenizer {report['model']['tokenizer']})",
        f"- mitigations: {', '.join(m['name'] for m in report['mitigations']) or 'none'}",
        f"- corpus: {corpus.get('train_lines', '?')} training lines, {corpus.get('train_tokens', '?')} tokens",
        f"- steps: {training['global_steps']}; loss {training['initial_loss']} -> {training['final_loss']}",
        "",
    ]
    lines += [f"**Note:** {note}" for note in report["notes"]]
    if report["notes"]:
        lines.append("")
    intrinsic = report["intrinsic"]
    for when in ("before", "after"):
        if intrinsic.get(when):
            lines += [f"## Intrinsic bias {when} training", "", *intrinsic_markdown(intrinsic[when])]
    change = intrinsic.get("change")
    if change:
        lines += ["## Change (after - before)", "", "| number | change |", "|---|---|"]
        lines += [f"| {key} | {'n/a' if value is None else format(value, '+.4f')} |" for key, value in change.items()]
    return "\n".join(lines).rstrip() + "\n"
