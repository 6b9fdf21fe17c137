"""Keep the command line's output to what a user can act on.

A plain ``lightning_bias fit`` used to print, besides its own output: Lightning's tips to install
litlogger and litmodels, torch's deprecation of ``LeafSpec`` (raised inside Lightning), Lightning's
note that the module's ``transfer_batch_to_device`` is used although a data module is given (it is
meant to be: the module's version is the fast path), DeepSpeed's "Setting accelerator to CPU" on
machines without a GPU, under ZeRO-3 torch's deprecation of the collectives DeepSpeed calls (hundreds
of lines) and Lightning's note on sharded checkpoints, and a progress bar per ``datasets`` map and
cast ("Casting the dataset", "tokenizing") and per transformers load or save ("Loading weights",
"Writing model shards"). ``quiet_third_party_noise`` filters exactly those messages, by their text,
so every other warning still shows. ``HF_DATASETS_DISABLE_PROGRESS_BARS=0`` keeps the datasets bars.

Only the command line calls it, for its own process: importing ``lightning_bias`` as a library changes
no warning filter, logger or progress bar. The other noise is fixed where it starts:
``models.classifier_head`` says in one sentence that a new classification head was initialised
instead of transformers' load report, and ``SequenceClassifier`` logs its already-synced metrics
with ``sync_dist`` so that distributed runs do not warn once per metric.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

# (category, start of the message as a regular expression) of the warnings the CLI drops
IGNORED_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    (Warning, r"You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a "
              r"`LightningDataModule`"),
    # DeepSpeed's collectives, deprecated in torch: hundreds per ZeRO-3 run
    (FutureWarning, r"`torch\.distributed\.reduce_scatter_tensor` is deprecated"),
    (FutureWarning, r"`torch\.distributed\.all_gather_into_tensor` is deprecated"),
    # the run's hf_export/ is the single-file model; docs/CLUSTER.md says how to consolidate checkpoints
    (Warning, r"When saving the DeepSpeed Stage 3 checkpoint, each worker will save a shard"),
    # a resumed run or `test` on a checkpoint logs into another version dir by design (README: outputs)
    (Warning, r"The dirpath has changed from .*`best_k_models` won't be reloaded"),
)
# logger name -> start of the log messages the CLI drops
IGNORED_LOG_MESSAGES: dict[str, str] = {
    "pytorch_lightning.utilities.rank_zero": "💡 Tip:",  # litlogger / litmodels advertisements
    "lightning_fabric.utilities.rank_zero": "💡 Tip:",
    "DeepSpeed": "Setting accelerator to CPU",
}
# transformers' bars for reading and writing local weights (downloads keep theirs)
SILENT_TRANSFORMERS_BARS = frozenset({"Loading weights", "Writing model shards"})


class _DropMessagesStartingWith(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def quiet_third_party_noise() -> None:
    """Drop, for this process, the third-party messages listed in this module; nothing else.

    Safe to call more than once (each filter is installed once).
    """
    for category, message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, prefix in IGNORED_LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessagesStartingWith) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(_DropMessagesStartingWith(prefix))
    from transformers.utils import logging as transformers_logging

    if "HF_DATASETS_DISABLE_PROGRESS_BARS" not in os.environ:  # the user's explicit choice wins
        # datasets reads the variable when it is imported; importing it here would cost ~0.5 s of start-up
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
    transformers_logging.set_tqdm_hook(_without_local_weight_bars)


def _without_local_weight_bars(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """transformers' progress-bar factory, with the bars of ``SILENT_TRANSFORMERS_BARS`` disabled."""
    if kwargs.get("desc") in SILENT_TRANSFORMERS_BARS:
        kwargs = {**kwargs, "disable": True}
    return factory(*args, **kwargs)
