"""A pre-trained checkpoint loaded as a sequence classifier, with what was initialised said in plain words.

Fine-tuning an encoder checkpoint (MiniLM, a ``pretrain`` result, a hub model) always needs a new
classification head; transformers reports it in a red "LOAD REPORT" table that flags the head as
MISSING, which reads like a fault. ``load_pretrained_classifier`` holds that table back and says
instead, once and on global rank zero: "a new classification head (classifier.weight,
classifier.bias) was initialised for the 16 labels; it is trained by fine-tuning". What the table
would have said beyond the head still comes out, as a warning: encoder weights the checkpoint lacks
or has in another shape start random, and that usually means the wrong checkpoint. Checkpoint
weights the classifier does not use (the masked-LM head of a ``pretrain`` checkpoint) are expected
and not reported.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from transformers import AutoModelForSequenceClassification

if TYPE_CHECKING:
    from transformers import PreTrainedModel

_LOAD_REPORT_LOGGER = "transformers.modeling_utils"  # where transformers logs the report (utils.loading_report)


class _DropLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def load_report_held_back() -> Iterator[None]:
    """Within it, transformers' per-key load report is not logged (the caller says what matters plainly)."""
    logger = logging.getLogger(_LOAD_REPORT_LOGGER)
    report_filter = _DropLoadReport()
    logger.addFilter(report_filter)
    try:
        yield
    finally:
        logger.removeFilter(report_filter)


def load_pretrained_classifier(
    source: str, num_labels: int, id2label: dict[int, str], label2id: dict[str, int]
) -> PreTrainedModel:
    """``AutoModelForSequenceClassification.from_pretrained(source)`` with ``num_labels`` outputs.

    A head of another size in the checkpoint (a classifier fine-tuned on other labels) is replaced,
    as a missing one is; both are announced in one sentence instead of transformers' load report.
    """
    with load_report_held_back():
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=num_labels, id2label=id2label, label2id=label2id,
            ignore_mismatched_sizes=True, output_loading_info=True,
        )
    fresh = set(info["missing_keys"]) | {key for key, *_shapes in info["mismatched_keys"]}
    initialised = [key for key in model.state_dict() if key in fresh]  # in the model's order: weight, then bias
    encoder_prefix = f"{model.base_model_prefix}."
    head = [key for key in initialised if not key.startswith(encoder_prefix)]
    encoder = [key for key in initialised if key.startswith(encoder_prefix)]
    if head:
        rank_zero_info(
            f"a new classification head ({', '.join(head)}) was initialised for the {num_labels} labels; "
            "it is trained by fine-tuning"
        )
    if encoder:
        rank_zero_warn(
            f"{len(encoder)} encoder weight(s) were missing from {source!r} or had another shape, and start "
            f"random: {', '.join(encoder[:5])}{', ...' if len(encoder) > 5 else ''}; is this the checkpoint you meant?"
        )
    return model
