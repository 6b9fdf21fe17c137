"""The public plugin API: ``Mitigation`` and ``Evaluation``, and the ``MitigationPipeline`` that runs mitigations.

Both kinds of plugin are Lightning ``Callback`` subclasses (any ordinary callback hook works) that
share a ``Plugin`` base: a one-line ``description`` (the first docstring line, which
``lightning_bias plugins`` prints) and ``report_section(split)``, whose mapping the framework puts
into the bias report of that split under the plugin's ``report_name``.

A **mitigation** changes what a model learns, through hooks that the framework calls at fixed points
of a run (every hook is optional; the defaults change nothing). ``MitigationPipeline`` calls them for
``fit`` (``stage = "downstream"``) and ``pretrain`` (``stage = "upstream"``) alike:

1. ``transform(table, split)`` for every split, right after loading and before tokenization, in the
   order the mitigations are listed; each receives the previous one's output;
2. ``sample_weights(table)`` on the transformed train table; the weights of several mitigations
   multiply, and the training loss becomes the weighted mean of per-example losses;
3. ``sampler(table, num_replicas, rank, seed)`` on the transformed train table; at most one
   mitigation may supply a sampler, which then replaces the training sampler under every strategy;
4. ``loss(outputs, batch, loss)`` on every training step, after weighting, in listed order.

Upstream (masked-LM pre-training) runs accept ``transform`` and ``loss`` only: their rows are token
blocks, not corpus lines, so per-row weights and samplers have nothing to act on.

An **evaluation** measures without changing training (counterfactual flip rate, identity-term test
sets...). It is listed under ``evaluations:`` and reports through ``report_section``.

Tables are ``datasets.Dataset`` objects: downstream tables have at least the columns ``text`` (str),
``label`` (int) and ``group`` (int), upstream (masked-LM corpus) tables have ``text``. A transform must
be deterministic given its seed and must not empty the table. Label and group names, sizes and the
measured train co-occurrence are on ``trainer.datamodule.info`` (a ``lightning_bias.data.DatasetInfo``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pytorch_lightning import Callback

if TYPE_CHECKING:
    import datasets
    from torch.utils.data import Sampler

Split = Literal["train", "val", "test", "predict"]
Stage = Literal["upstream", "downstream"]
STAGES: tuple[str, ...] = ("upstream", "downstream")


class Plugin(Callback):
    """What every plugin has: a description, a name in the bias report, an optional report section, and
    ``init_arguments``: the arguments it was constructed with, defaults filled in (the bias report records
    them, so that a run's reports say how each plugin was set up)."""

    report_name: ClassVar[str] = ""  # default: the class name in snake case (GroupDRO -> group_dro)
    init_arguments: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Plugin:
        plugin = super().__new__(cls)
        plugin.init_arguments = {}
        try:
            bound = inspect.signature(cls.__init__).bind(plugin, *args, **kwargs)
        except TypeError:  # copy and pickle create without arguments, then restore the recorded ones
            return plugin
        bound.apply_defaults()
        for parameter in list(bound.signature.parameters.values())[1:]:  # after self
            value = bound.arguments[parameter.name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                plugin.init_arguments.update(value)
            elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                plugin.init_arguments.update({parameter.name: list(value)} if value else {})
            else:
                plugin.init_arguments[parameter.name] = value
        return plugin

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("report_name"):
            cls.report_name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()

    def report_section(self, split: str) -> Mapping[str, Any] | None:
        """A JSON-able mapping for the bias report of ``split`` (``val`` or ``test``), or ``None`` for nothing."""
        return None

    @classmethod
    def description(cls) -> str:
        """The first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class Mitigation(Plugin):
    """Base class of every bias mitigation, built-in or third-party.

    Subclasses set ``stage`` to ``"upstream"`` (acts on masked-LM pre-training, used by
    ``lightning_bias pretrain``) or ``"downstream"`` (acts on fine-tuning, used by
    ``lightning_bias fit``), and override the hooks they need.
    """

    stage: ClassVar[str] = "downstream"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.stage not in STAGES:
            raise TypeError(f"{cls.__qualname__}.stage must be one of {STAGES}, got {cls.stage!r}")

    def transform(self, table: datasets.Dataset, split: Split) -> datasets.Dataset:
        """Return the table for ``split``, changed or not (default: unchanged)."""
        return table

    def sample_weights(self, table: datasets.Dataset) -> Sequence[float] | torch.Tensor | None:
        """Per-row loss weights for the train table, or ``None`` for no opinion."""
        return None

    def sampler(self, table: datasets.Dataset, num_replicas: int, rank: int, seed: int) -> Sampler[int] | None:
        """A training sampler over the train table for this rank, or ``None``."""
        return None

    def loss(self, outputs: Any, batch: dict[str, Any], loss: torch.Tensor) -> torch.Tensor:
        """Change the training loss of one step (default: unchanged)."""
        return loss


class Evaluation(Plugin):
    """Base class of every evaluation: measures a trained model (at validation or test end), trains nothing.

    Override Lightning hooks such as ``on_validation_epoch_end`` / ``on_test_epoch_end`` to measure, and
    ``report_section`` to put the result into the bias report.
    """


def _overrides(plugin: Mitigation, hook: str) -> bool:
    return getattr(type(plugin), hook) is not getattr(Mitigation, hook)


def plugins_of(callbacks: Sequence[Any]) -> list[Plugin]:
    """The plugins (mitigations and evaluations) among ``callbacks``, in order."""
    return [callback for callback in callbacks if isinstance(callback, Plugin)]


def report_sections(callbacks: Sequence[Any], split: str) -> dict[str, Any]:
    """Every plugin's ``report_section(split)`` under its ``report_name`` (a repeated name gets ``_2``, ``_3``...),
    those of evaluations gathered under ``evaluations`` (``evaluations.<report_name>`` in the bias report)."""
    sections: dict[str, Any] = {}
    evaluations: dict[str, Any] = {}
    for plugin in plugins_of(callbacks):
        section = plugin.report_section(split)
        if section is None:
            continue
        into = evaluations if isinstance(plugin, Evaluation) else sections
        key, n = plugin.report_name, 1
        while key in into:
            n += 1
            key = f"{plugin.report_name}_{n}"
        into[key] = dict(section)
    if evaluations:
        sections["evaluations"] = evaluations
    return sections


_WRONG_STAGE_ADVICE = {
    "downstream": "they act on masked-LM pre-training: run them with `lightning_bias pretrain` and give its "
    "checkpoint to fit as model.model",
    "upstream": "they act on fine-tuning: move them to the config of `lightning_bias fit`",
}


class MitigationPipeline:
    """The mitigations of one run, in listed order, checked against the run's stage, with every hook's rule.

    Args:
        mitigations: the run's mitigations in the order they were listed.
        stage: ``"downstream"`` for fine-tuning, ``"upstream"`` for masked-LM pre-training.

    Raises ``ValueError`` for a mitigation of the other stage, for several mitigations that supply a
    sampler, and for an upstream mitigation that supplies weights or a sampler.
    """

    def __init__(self, mitigations: Sequence[Mitigation], stage: Stage) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        wrong = [m for m in mitigations if m.stage != stage]
        if wrong:
            names = ", ".join(f"{type(m).__name__} (stage {m.stage!r})" for m in wrong)
            raise ValueError(f"{stage} run given mitigation(s) of another stage: {names}; {_WRONG_STAGE_ADVICE[stage]}")
        self.stage = stage
        self.mitigations = list(mitigations)
        self._transforming = [m for m in self.mitigations if _overrides(m, "transform")]
        self._weighting = [m for m in self.mitigations if _overrides(m, "sample_weights")]
        self._loss_hooks = [m for m in self.mitigations if _overrides(m, "loss")]
        supplying = [m for m in self.mitigations if _overrides(m, "sampler")]
        if stage == "upstream" and (self._weighting or supplying):
            names = ", ".join(type(m).__name__ for m in [*self._weighting, *supplying])
            raise ValueError(
                f"mitigation(s) {names} supply sample weights or a sampler, which masked-LM pre-training does not "
                "support (its rows are token blocks, not corpus lines)"
            )
        if len(supplying) > 1:
            names = ", ".join(type(m).__name__ for m in supplying)
            raise ValueError(
                f"several mitigations supply a training sampler ({names}); only one may — "
                "drop one of them or use a reweighting scheme instead of a second sampler"
            )
        self.sampler_provider: Mitigation | None = supplying[0] if supplying else None

    @classmethod
    def from_callbacks(cls, callbacks: Sequence[Any], stage: Stage) -> MitigationPipeline:
        """The pipeline of the mitigations among a trainer's ``callbacks``."""
        return cls([c for c in callbacks if isinstance(c, Mitigation)], stage)

    def transform(
        self,
        table: datasets.Dataset,
        split: Split,
        after_each: Callable[[Mitigation, datasets.Dataset, datasets.Dataset], None] | None = None,
    ) -> datasets.Dataset:
        """``table`` through every mitigation's ``transform`` in order; ``after_each(mitigation, before, after)``
        is called after each one that has a transform (to check or record the result)."""
        import datasets

        for mitigation in self._transforming:
            result = mitigation.transform(table, split)
            if not isinstance(result, datasets.Dataset):
                raise ValueError(
                    f"mitigation {type(mitigation).__name__}.transform must return a datasets.Dataset, "
                    f"got {type(result).__name__}"
                )
            if after_each is not None:
                after_each(mitigation, table, result)
            table = result
        return table

    def sample_weights(self, table: datasets.Dataset) -> np.ndarray | None:
        """The product of the mitigations' per-row weights of the train ``table`` (``float64``), or ``None``."""
        weights = None
        for mitigation in self._weighting:
            given = mitigation.sample_weights(table)
            if given is None:
                continue
            name = type(mitigation).__name__
            array = np.asarray(given.detach().cpu() if isinstance(given, torch.Tensor) else given, dtype=np.float64)
            if array.ndim != 1 or len(array) != len(table):
                raise ValueError(
                    f"mitigation {name}: sample_weights gave shape {array.shape}; expected ({len(table)},), "
                    "one weight per row of the transformed train table"
                )
            bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
            if len(bad):
                raise ValueError(
                    f"mitigation {name}: sample weight at row {bad[0]} is {array[bad[0]]}; weights must be "
                    "finite and non-negative"
                )
            weights = array if weights is None else weights * array
        if weights is not None and not weights.sum() > 0:
            raise ValueError("the combined sample weights are all zero; no row would contribute to the loss")
        return weights

    def sampler(self, table: datasets.Dataset, num_replicas: int, rank: int, seed: int) -> Sampler[int] | None:
        """The one supplied training sampler for this rank, or ``None`` when no mitigation supplies one."""
        if self.sampler_provider is None:
            return None
        return self.sampler_provider.sampler(table, num_replicas, rank, seed)

    def loss(self, outputs: Any, batch: dict[str, Any], loss: torch.Tensor) -> torch.Tensor:
        """The step's loss through every mitigation's ``loss`` hook, in order."""
        for mitigation in self._loss_hooks:
            loss = mitigation.loss(outputs, batch, loss)
        return loss
