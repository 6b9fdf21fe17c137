"""How a bias report's numbers were made, recorded in the report itself so that reports aggregate
without their config files: the run's seeds, the data source and its options, the train size before
and after the mitigations, every plugin with its constructor arguments, and the distribution of the
evaluated split (measured, and as the source declares it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.mitigation import Evaluation, Mitigation, Plugin


def global_seed() -> int | None:
    """The seed of ``seed_everything`` (``seed_everything:`` of the config), ``None`` when none was set.

    Lightning's ``seed_everything`` records it in ``PL_GLOBAL_SEED`` for the processes it launches.
    """
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else None


def plugin_record(plugin: Plugin) -> dict[str, Any]:
    """A plugin as the report lists it: its class, its stage (mitigations) and its constructor arguments."""
    record: dict[str, Any] = {"class": f"{type(plugin).__module__}.{type(plugin).__qualname__}"}
    if isinstance(plugin, Mitigation):
        record["stage"] = plugin.stage
    record["arguments"] = dict(getattr(plugin, "init_arguments", {}))
    return record


def plugin_seeds(plugins: Sequence[Plugin]) -> dict[str, Any]:
    """The ``seed`` argument of every plugin that takes one, under its ``report_name`` (a repeated name gets
    ``_2``, ``_3``..., as its report section does)."""
    seeds: dict[str, Any] = {}
    names: dict[str, int] = {}
    for plugin in plugins:
        names[plugin.report_name] = names.get(plugin.report_name, 0) + 1
        arguments = getattr(plugin, "init_arguments", {})
        if "seed" in arguments:
            n = names[plugin.report_name]
            seeds[plugin.report_name if n == 1 else f"{plugin.report_name}_{n}"] = arguments["seed"]
    return seeds


def run_provenance(info: DatasetInfo, plugins: Sequence[Plugin]) -> dict[str, Any]:
    """The report's ``provenance``: ``seeds`` (``global``, the data module's ``data``/``split``/``source`` and
    ``plugins``), ``source`` (name and options), ``train_size`` (rows ``before_mitigation`` and
    ``after_mitigation``) and ``evaluations`` (each with its arguments; the mitigations are the report's own
    ``mitigations`` list)."""
    return {
        "seeds": {"global": global_seed(), **info.seeds, "plugins": plugin_seeds(plugins)},
        "source": dict(info.source),
        "train_size": {
            "before_mitigation": info.sizes_before_mitigation.get("train"),
            "after_mitigation": info.sizes.get("train"),
        },
        "evaluations": [plugin_record(p) for p in plugins if isinstance(p, Evaluation)],
    }


def evaluation_distribution(info: DatasetInfo, split: str) -> dict[str, Any]:
    """The report's ``evaluation_distribution``: the evaluated split's rows, group shares and P(group | label)
    as measured, and ``declared``, the source's own setting of that split (``None`` when it declares none)."""
    measured = info.cooccurrence.get(split) or {}
    return {
        "split": split,
        "declared": info.declared_distribution.get(split),
        "num_rows": measured.get("num_rows"),
        "group_shares": measured.get("group_shares"),
        "p_group_given_label": measured.get("p_group_given_label"),
    }
