"""Run the docstring examples of lightning_bias.metrics, so ``pytest tests/`` covers them too."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lightning_bias.metrics

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(lightning_bias.metrics.__path__, prefix="lightning_bias.metrics.")
)


def test_every_public_metric_class_has_an_example() -> None:
    from torchmetrics import Metric

    for name in lightning_bias.metrics.__all__:
        item = getattr(lightning_bias.metrics, name)
        if isinstance(item, type) and issubclass(item, Metric):
            assert item.__doc__ and ">>>" in item.__doc__, f"{name} has no runnable example"


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {module_name}"
