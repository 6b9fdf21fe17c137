"""Loading one split of a Hugging Face dataset, with an error that says when the hub cannot be reached.

Offline (``HF_HUB_OFFLINE=1``, or no network) and without the dataset in the local cache, ``datasets``
raises a ``ConnectionError`` deep in its loader; the user needs to know which dataset, why, and how to
train on local files instead.
"""

from __future__ import annotations

from lightning_bias.data.tables import Table


def load_hub_split(name: str, config: str | None, split: str, option: str, local_alternative: str) -> Table:
    """``datasets.load_dataset(name, config, split=split)``; ``ValueError`` when the hub is unreachable.

    Args:
        name, config, split: the dataset, its configuration and the split to read.
        option: the option that names the dataset, e.g. ``data.hub_dataset``.
        local_alternative: how to point the run at local files instead, e.g.
            ``"set `source: files` with `data.files: {train: path/to/train.csv}`"``.
    """
    import datasets  # pandas and pyarrow: only when a dataset is read (lightning_bias.data.tables)

    try:
        return datasets.load_dataset(name, config, split=split)
    except ConnectionError as err:
        if datasets.config.HF_HUB_OFFLINE or "OfflineModeIsEnabled" in str(err):
            why = "this machine is offline (HF_HUB_OFFLINE=1) and the dataset is not in the local cache"
        else:
            why = f"the Hugging Face hub is unreachable (no network?) and the dataset is not in the local cache ({err})"
        raise ValueError(
            f"{option}: cannot load the Hugging Face dataset {name!r}: {why}. To train on local files, "
            f"{local_alternative}; or run once with network access to cache the dataset"
        ) from err
