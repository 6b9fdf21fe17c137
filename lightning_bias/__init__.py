"""lightning_bias: measure and mitigate social bias in fine-tuned language-model classifiers.

The public plugin API is importable from here: ``Mitigation`` (changes training) and ``Evaluation``
(measures a trained model). Everything else lives in one package per concern (see docs/ARCHITECTURE.md).
Importing the package itself is cheap: the API is loaded on first use, so ``lightning_bias --help``
does not pay for torch and Lightning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Evaluation", "Mitigation"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lightning_bias import mitigation

        return getattr(mitigation, name)
    raise AttributeError(f"module 'lightning_bias' has no attribute {name!r}")
