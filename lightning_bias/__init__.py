"""lightning_bias: measure and mitigate social bias in fine-tuned language-model classifiers."""

__version__ = "0.1.0"
