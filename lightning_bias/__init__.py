"""lightning_bias: measure and mitigate social bias in fine-tuned language-model classifiers."""

import lightning_bias.strategies  # noqa: F401  (registers the deepspeed_cpu* strategy names)
from lightning_bias.mitigation import Mitigation

__all__ = ["Mitigation"]
__version__ = "0.1.0"
