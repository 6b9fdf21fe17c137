"""lightning_bias: measure and mitigate social bias in fine-tuned language-model classifiers."""

from lightning_bias.mitigation import Mitigation

__all__ = ["Mitigation"]
__version__ = "0.1.0"
