"""``MaskedLanguageModel``: continued masked-LM pre-training (the upstream stage) on any ``AutoModelForMaskedLM``.

Read top to bottom, one ``pretrain`` run is:

1. load the model (hub name, local checkpoint, ``"minilm"``, or a config dict for a tiny random
   model); a checkpoint without a masked-LM head (the packaged MiniLM is a bare encoder) gets a new
   head whose decoder is tied to the input embeddings, with a warning naming the missing weights;
2. ``setup``: with ``head_calibration`` and a new head, fit only the new head to the frozen encoder on
   the corpus before mitigations (``lightning_bias.models.head_calibration``), so that "before"
   reads the pre-trained encoder rather than random head weights;
   ``on_fit_start``: measure intrinsic bias *before* training (every rank, eval mode, no grad);
3. train with AdamW, linear warm-up then linear decay; each step's loss passes through the upstream
   mitigations' ``loss`` hooks;
4. ``on_train_end`` (model still on its devices, DeepSpeed engine alive): measure intrinsic bias
   *after*, write ``hf_checkpoint/`` (consolidated full weights, safetensors, tokenizer; gathered
   under ZeRO-3; rank 0 writes to a temporary directory renamed into place) and
   ``pretrain_report.json`` and ``pretrain_report.md`` into the run directory. Masked-LM measures read
   through a head the checkpoint did not have (calibrated, or trained here from new) are marked as
   probe readings; the head-free measures (association tests, gender probe) read the encoder only.

The checkpoint loads with ``AutoModelForSequenceClassification.from_pretrained(dir)``, so
``lightning_bias fit`` takes it as ``model:``. Weights of the original checkpoint that the
masked-LM class does not use but a classifier does (BERT's pooler) are carried into the export
unchanged, so fine-tuning from the export starts from the same pooler as fine-tuning from the
original model.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from safetensors import safe_open
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING
from transformers.utils import cached_file

from lightning_bias.data.corpus import CorpusDataModule
from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.option_checks import check_number
from lightning_bias.intrinsic.masked_scoring import masked_lm_head
from lightning_bias.intrinsic.suite import (
    HeadOrigin,
    IntrinsicBiasOptions,
    headline_numbers,
    measure_intrinsic_bias,
)
from lightning_bias.mitigation import MitigationPipeline
from lightning_bias.models.classifier_head import load_report_held_back
from lightning_bias.models.export import export_hf
from lightning_bias.models.head_calibration import HeadCalibration, calibrate_head
from lightning_bias.models.optimization import adamw
from lightning_bias.models.pretrained import MINILM_ALIAS, build_config, load_tokenizer, resolve_pretrained
from lightning_bias.reports.artifacts import atomic_write_text, run_dir, write_json_atomic
from lightning_bias.reports.pretrain_report import build_pretrain_report, pretrain_markdown

EXPORT_DIR = "hf_checkpoint"
REPORT_FILE = "pretrain_report.json"
MARKDOWN_REPORT_FILE = "pretrain_report.md"
_RECENT_LOSSES = 20


@dataclass
class LoadedMaskedLM:
    """A masked LM ready to train.

    ``initialised_keys``: weights missing from the checkpoint and freshly initialised (a new
    masked-LM head); ``carried_weights``: checkpoint weights of the base model that the masked-LM
    class does not hold (BERT's pooler), keyed by their name in the masked-LM state dict.
    """

    model: PreTrainedModel
    source: str
    initialised_keys: list[str] = field(default_factory=list)
    carried_weights: dict[str, torch.Tensor] = field(default_factory=dict)


def _require_masked_lm_config(config: Any, name: str) -> None:
    if type(config) not in MODEL_FOR_MASKED_LM_MAPPING:
        raise ValueError(
            f"model {name!r} (model_type {getattr(config, 'model_type', '?')!r}) is not a masked language model: "
            "transformers has no AutoModelForMaskedLM for it. Pre-training and intrinsic bias need an encoder "
            "with a masked-LM objective (BERT, RoBERTa, DistilBERT, ALBERT, DeBERTa, ...)"
        )


def _checkpoint_tensors(source: str, keys: list[str]) -> dict[str, torch.Tensor]:
    """Read ``keys`` from the checkpoint's single ``model.safetensors`` (empty if it has none)."""
    try:
        path = cached_file(source, "model.safetensors", _raise_exceptions_for_missing_entries=False)
    except (OSError, ValueError):
        path = None
    if path is None:
        return {}
    with safe_open(path, framework="pt") as handle:
        present = set(handle.keys())
        return {key: handle.get_tensor(key) for key in keys if key in present}


def _carried_weights(model: PreTrainedModel, source: str, unexpected: list[str]) -> dict[str, torch.Tensor]:
    """Unexpected checkpoint weights that belong to the base model (e.g. the pooler), renamed for export."""
    prefix = model.base_model_prefix
    with torch.device("meta"):
        base_names = set(AutoModel.from_config(model.config).state_dict())
    wanted = {}
    for key in unexpected:
        relative = key[len(prefix) + 1 :] if key.startswith(prefix + ".") else key
        if relative in base_names:
            wanted[key] = f"{prefix}.{relative}"
    tensors = _checkpoint_tensors(source, list(wanted))
    return {wanted[key]: tensor for key, tensor in tensors.items()}


def load_masked_lm(
    name_or_path: str | None = None, model_config: dict[str, Any] | None = None, vocab_size: int | None = None
) -> LoadedMaskedLM:
    """Load (``name_or_path``) or build (``model_config``) an ``AutoModelForMaskedLM``.

    A checkpoint without a masked-LM head gets a freshly initialised one whose decoder is tied to the
    input embeddings; a ``UserWarning`` names the missing weights. ``vocab_size`` (the tokenizer's
    length) sets the vocabulary of a config-dict model and is checked against a loaded one.
    Raises ``ValueError`` for a model that is not a masked LM or whose vocabulary is too small.
    """
    if (name_or_path is None) == (model_config is None):
        raise ValueError("give exactly one of model (name or path) and model_config (dict)")
    if model_config is not None:
        values = dict(model_config)
        if vocab_size is not None:
            values.setdefault("vocab_size", vocab_size)
        config = build_config(values)
        _require_masked_lm_config(config, f"model_config {model_config}")
        loaded = LoadedMaskedLM(AutoModelForMaskedLM.from_config(config), source="model_config")
    else:
        source = resolve_pretrained(name_or_path)
        try:
            config = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise ValueError(f"could not read the config of model {name_or_path!r}: {err}") from err
        _require_masked_lm_config(config, name_or_path)
        with load_report_held_back():  # the warning below names the new head's weights plainly
            model, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True)
        missing = sorted(info["missing_keys"])
        loaded = LoadedMaskedLM(model, source, missing, _carried_weights(model, source, sorted(info["unexpected_keys"])))
        if missing:
            output = model.get_output_embeddings()
            if output is not None and output.weight is not model.get_input_embeddings().weight:
                output.weight = model.get_input_embeddings().weight
            prefix = model.base_model_prefix + "."
            encoder_missing = [k for k in missing if k.startswith(prefix)]
            warnings.warn(
                f"model {name_or_path!r} has no (complete) masked-LM head: {', '.join(missing)} were missing from "
                f"the checkpoint and are newly initialised; the decoder is tied to the input embeddings"
                + (f". Encoder weights missing too ({', '.join(encoder_missing)}): is this the right checkpoint?"
                   if encoder_missing else ""),
                UserWarning,
                stacklevel=2,
            )
    if vocab_size is not None and loaded.model.config.vocab_size < vocab_size:
        raise ValueError(
            f"the model's vocab_size {loaded.model.config.vocab_size} is smaller than the tokenizer's {vocab_size} "
            "tokens; use the model's own tokenizer or raise vocab_size"
        )
    return loaded


class MaskedLanguageModel(pl.LightningModule):
    """Masked-LM (continued) pre-training with intrinsic bias before/after and a Hugging Face export.

    Args:
        model: hub name, local checkpoint directory, or ``"minilm"`` (the packaged pre-trained MiniLM).
        model_config: instead of ``model``, a config dict for a randomly initialised model, e.g.
            ``{"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, ...}`` (``vocab_size``
            defaults to the tokenizer's length).
        tokenizer: where the tokenizer comes from (default: ``model``, or ``"minilm"`` with ``model_config``).
        learning_rate, weight_decay, adam_epsilon: AdamW (no decay on biases and norm weights).
        warmup_steps, warmup_ratio: linear warm-up over max(warmup_steps, warmup_ratio * total steps),
            then linear decay to 0.
        intrinsic: the intrinsic bias measures run before and after training (default: the head-free
            association tests and gender probe, and the log-probability bias on the occupation templates);
            ``measure_intrinsic: false`` skips them.
        measure_intrinsic: run the intrinsic measures at all.
        export_dir: name of the Hugging Face checkpoint directory inside the run directory; ``null``
            disables the export.
        head_calibration: when the checkpoint has no masked-LM head, first fit the new head alone (encoder
            and embeddings frozen) on the corpus before mitigations, so the "before" intrinsic bias
            is the encoder's; ``null`` measures "before" through the random head. Ignored (with a
            message) for a checkpoint with its own head and when resuming.
        sparse_prediction: run the vocabulary projection only on the masked positions (the same loss;
            about half the compute of a MiniLM step, most of a tiny model's). The upstream mitigations'
            ``loss`` hooks then see ``outputs.logits`` of shape ``[masked tokens, vocab]``.
    """

    def __init__(
        self,
        model: str | None = None,
        model_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        adam_epsilon: float = 1e-8,
        warmup_steps: int = 0,
        warmup_ratio: float = 0.0,
        intrinsic: IntrinsicBiasOptions | None = None,
        measure_intrinsic: bool = True,
        export_dir: str | None = EXPORT_DIR,
        sparse_prediction: bool = True,
        head_calibration: HeadCalibration | None = None,
    ) -> None:
        super().__init__()
        check_number("model.learning_rate", learning_rate, above=0)
        check_number("model.weight_decay", weight_decay, at_least=0)
        check_number("model.adam_epsilon", adam_epsilon, above=0)
        check_number("model.warmup_steps", warmup_steps, at_least=0, integer=True)
        check_number("model.warmup_ratio", warmup_ratio, at_least=0, below=1)
        self.save_hyperparameters()
        self.tokenizer: PreTrainedTokenizerBase = load_tokenizer(tokenizer or model or MINILM_ALIAS)
        if self.tokenizer.mask_token is None:
            raise ValueError(f"the tokenizer of {tokenizer or model!r} has no mask token; it cannot train a masked LM")
        loaded = load_masked_lm(model, model_config, vocab_size=len(self.tokenizer))
        # from_pretrained returns a model in eval mode, and Lightning keeps each submodule's mode: without
        # this, continued pre-training of a loaded checkpoint would silently run without dropout.
        self.net: PreTrainedModel = loaded.model.train()
        self.model_source = loaded.source
        self.initialised_keys = loaded.initialised_keys
        self.carried_weights = loaded.carried_weights
        self.head_calibration = head_calibration
        if head_calibration is not None:
            head_calibration.validate()
        self.head_calibration_report: dict[str, Any] | None = None
        self.intrinsic_options = intrinsic or IntrinsicBiasOptions()
        if measure_intrinsic:
            self.intrinsic_options.validate()
        self.intrinsic_before: dict[str, Any] | None = None
        self.intrinsic_after: dict[str, Any] | None = None
        self.initial_loss: float | None = None
        self.report: dict[str, Any] | None = None
        self.export_path: Path | None = None
        self.report_path: Path | None = None
        self._first_loss: torch.Tensor | None = None
        self._recent_losses: deque[torch.Tensor] = deque(maxlen=_RECENT_LOSSES)
        self.pipeline = MitigationPipeline([], "upstream")

    # --- training -------------------------------------------------------------------------------

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Vocabulary logits ``[batch, length, vocab]``."""
        return self.net(input_ids=input_ids, attention_mask=attention_mask).logits

    def prediction_head(self) -> torch.nn.Module | None:
        """The masked-LM head when it is one module beside the encoder (BERT ``cls``, RoBERTa ``lm_head``...)."""
        return masked_lm_head(self.net)

    def masked_lm_step(self, batch: dict[str, torch.Tensor]) -> MaskedLMOutput:
        """The masked-LM loss of a batch; with ``sparse_prediction`` the vocabulary projection runs on the
        masked positions only (``logits`` then has shape ``[masked tokens, vocab]``), the same loss for less work."""
        head = self.prediction_head() if self.hparams.sparse_prediction else None
        if head is None:
            return self.net(**batch)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = self.net.base_model(**inputs)[0]
        labels = batch["labels"]
        chosen = labels != -100
        logits = head(hidden[chosen])
        if logits.shape[0] == 0:  # nothing masked: a zero loss that still touches every weight
            return MaskedLMOutput(loss=logits.sum() * 0.0 + hidden.sum() * 0.0, logits=logits)
        return MaskedLMOutput(loss=F.cross_entropy(logits.float(), labels[chosen]), logits=logits)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        outputs = self.masked_lm_step(batch)
        loss = outputs.loss
        loss = self.pipeline.loss(outputs, batch, loss)
        if self._first_loss is None:
            self._first_loss = loss.detach()
        self._recent_losses.append(loss.detach())
        self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = self.masked_lm_step(batch).loss
        masked = int((batch["labels"] != -100).sum())
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=max(masked, 1))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = adamw(
            self.net, self.hparams.learning_rate, self.hparams.weight_decay, self.device, self.hparams.adam_epsilon
        )
        total = int(self.trainer.estimated_stepping_batches)
        warmup = max(self.hparams.warmup_steps, int(self.hparams.warmup_ratio * total))
        scheduler = get_linear_schedule_with_warmup(optimizer, min(warmup, total), max(total, 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- before and after -----------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Fit a new head to the frozen encoder (``head_calibration``) before the strategy wraps the model."""
        options = self.head_calibration
        if stage != "fit" or options is None or options.batches == 0 or self.head_calibration_report is not None:
            return
        if self.trainer.ckpt_path is not None:
            return  # resuming: the checkpoint holds the calibrated head and the "before" numbers
        if not self.initialised_keys:
            rank_zero_info("head calibration skipped: the checkpoint has its own masked-LM head")
            return
        datamodule = self.trainer.datamodule
        if not isinstance(datamodule, CorpusDataModule):
            raise ValueError(
                "model.head_calibration needs the pre-training data module (CorpusDataModule) to supply "
                f"the calibration corpus, got {type(datamodule).__name__}"
            )
        loader = datamodule.calibration_dataloader(options.batch_size, options.seed)
        rank_zero_info(
            f"fitting the new masked-LM head to the frozen encoder: {options.batches} batches, at most {options.max_epochs} epochs"
        )
        report = calibrate_head(self.net, self.initialised_keys, loader, options, self.trainer.strategy.root_device)
        report["corpus_sequences"] = len(loader.dataset)
        self.head_calibration_report = report
        rank_zero_info(
            f"head calibration: held-out loss {report['initial_loss']:.3f} -> {report['final_loss']:.3f} "
            f"(epoch {report['best_epoch']} of {report['epochs_run']}) in {report['seconds']} s"
        )

    def on_fit_start(self) -> None:
        self.pipeline = MitigationPipeline.from_callbacks(self.trainer.callbacks, "upstream")
        if self.hparams.measure_intrinsic and self.intrinsic_before is None:
            self.intrinsic_before = measure_intrinsic_bias(
                self.net, self.tokenizer, self.intrinsic_options, head=self._head_origin(trained=False)
            )
            self._log_intrinsic("before", self.intrinsic_before)

    def on_train_end(self) -> None:
        if self.hparams.measure_intrinsic:
            self.intrinsic_after = measure_intrinsic_bias(
                self.net, self.tokenizer, self.intrinsic_options, head=self._head_origin(trained=True)
            )
            self._log_intrinsic("after", self.intrinsic_after)
        directory = run_dir(self.trainer)
        if self.hparams.export_dir:
            self.export_path = export_hf(
                self.trainer.strategy, self.net, self.tokenizer, directory / self.hparams.export_dir, self.carried_weights
            )
            rank_zero_info(f"Hugging Face checkpoint: {self.export_path}")
        training = self._training_summary()
        if self.trainer.is_global_zero:
            self.report = build_pretrain_report(
                model=self.hparams.model or "model_config",
                model_config=self.hparams.model_config,
                tokenizer=self.hparams.tokenizer or self.hparams.model or MINILM_ALIAS,
                initialised_keys=self.initialised_keys,
                carried_weights=sorted(self.carried_weights),
                head_calibration=self.head_calibration_report,
                corpus=dict(DatasetInfo.of(self.trainer).source),
                training=training,
                mitigations=self.pipeline.mitigations,
                intrinsic_options=self.intrinsic_options.to_dict() if self.hparams.measure_intrinsic else None,
                intrinsic_before=self.intrinsic_before,
                intrinsic_after=self.intrinsic_after,
                checkpoint_dir=str(self.export_path) if self.export_path else None,
                strategy=type(self.trainer.strategy).__name__,
                world_size=self.trainer.world_size,
            )
            self.report_path = write_json_atomic(directory / REPORT_FILE, self.report)
            atomic_write_text(directory / MARKDOWN_REPORT_FILE, pretrain_markdown(self.report))
            rank_zero_info(f"pre-training report: {self.report_path} (and {MARKDOWN_REPORT_FILE})")
        self.trainer.strategy.barrier("pretrain-report")

    def _head_origin(self, trained: bool) -> HeadOrigin:
        """Where the masked-LM head the measures read came from: the checkpoint's own, or a new one that is a
        probe (calibrated, or trained here from new) or random weights (before training, uncalibrated)."""
        if not self.initialised_keys:
            return "own"
        if trained:
            return "trained_from_new"
        return "calibrated" if self.head_calibration_report is not None else "random"

    def _training_summary(self) -> dict[str, Any]:
        """Losses averaged over ranks (a collective), steps and optimiser settings."""
        strategy = self.trainer.strategy
        device = self.device
        first = self._first_loss if self._first_loss is not None else torch.tensor(float("nan"))
        recent = torch.stack(list(self._recent_losses)).mean() if self._recent_losses else torch.tensor(float("nan"))
        first = strategy.reduce(first.float().to(device), reduce_op="mean")
        recent = strategy.reduce(recent.float().to(device), reduce_op="mean")
        if self.initial_loss is None:
            self.initial_loss = float(first)
        metrics = self.trainer.callback_metrics
        return {
            "global_steps": int(self.trainer.global_step),
            "initial_loss": self.initial_loss,
            "final_loss": float(recent),
            "final_loss_window": len(self._recent_losses),
            "val_loss": float(metrics["val_loss"]) if "val_loss" in metrics else None,
            "learning_rate": self.hparams.learning_rate,
            "weight_decay": self.hparams.weight_decay,
            "warmup_steps": self.hparams.warmup_steps,
            "warmup_ratio": self.hparams.warmup_ratio,
        }

    def _log_intrinsic(self, when: str, result: dict[str, Any]) -> None:
        numbers = {f"intrinsic_{when}/{k}": v for k, v in headline_numbers(result).items()}
        for logger in self.loggers:
            logger.log_metrics(numbers, step=self.trainer.global_step)
        rank_zero_info(f"intrinsic bias {when} training: {numbers}")

    # --- resuming -------------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        first = self._first_loss
        checkpoint["lightning_bias_pretrain"] = {
            "intrinsic_before": self.intrinsic_before,
            "head_calibration": self.head_calibration_report,
            "initial_loss": self.initial_loss if self.initial_loss is not None else (
                float(first) if first is not None else None),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("lightning_bias_pretrain", {})
        self.intrinsic_before = saved.get("intrinsic_before", self.intrinsic_before)
        self.head_calibration_report = saved.get("head_calibration", self.head_calibration_report)
        self.initial_loss = saved.get("initial_loss", self.initial_loss)
