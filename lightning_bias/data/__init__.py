"""Data: sources (a registry), the synthetic bios testbed, the classification and corpus data modules,
``DatasetInfo`` (what a data module tells the model and the plugins), samplers, batching."""

from lightning_bias.data.dataset_info import DatasetInfo

__all__ = ["DatasetInfo"]
