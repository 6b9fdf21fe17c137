"""``SequenceClassifier``: fine-tune any Hugging Face sequence classifier with fairness metrics.

Read top to bottom, one run is: build the model once the data's labels are known
(``configure_model``); train on the weighted mean of per-example losses, passed through the
mitigations' ``loss`` hooks; at each validation epoch log group-fairness metrics synced once
across ranks; at the end of fit export a Hugging Face checkpoint and write the bias report of
the validation split; at the end of ``validate`` and ``test`` write the report of that split (the
``fit`` command tests right after fitting when the data has a test split). Every report also
records its provenance (``models.report_provenance``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

from lightning_bias.data.batching import BatchKeys
from lightning_bias.data.dataset_info import DatasetInfo
from lightning_bias.data.option_checks import check_number
from lightning_bias.metrics import FairnessMetrics
from lightning_bias.mitigation import MitigationPipeline, plugins_of, report_sections
from lightning_bias.models.classifier_head import load_pretrained_classifier
from lightning_bias.models.export import export_hf
from lightning_bias.models.optimization import adamw
from lightning_bias.models.pretrained import MINILM_ALIAS, build_config, load_tokenizer, resolve_pretrained
from lightning_bias.models.report_provenance import evaluation_distribution, plugin_record, run_provenance
from lightning_bias.reports.artifacts import atomic_write_text, run_dir
from lightning_bias.reports.bias_report import format_markdown, write_bias_report
from lightning_bias.reports.wandb_report import log_bias_report
from lightning_bias.training.checkpoint_compatibility import check_checkpoint_compatible
from lightning_bias.training.threads import runtime_record

HF_EXPORT_DIR = "hf_export"


class SequenceClassifier(pl.LightningModule):
    """A text classifier on ``AutoModelForSequenceClassification``.

    Args:
        model: hub name, local checkpoint directory, or ``"minilm"`` (the packaged pre-trained MiniLM).
        model_config: instead of ``model``, a config dict for a randomly initialised model, e.g.
            ``{"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, ...}``.
        tokenizer: where the tokenizer comes from (default: ``model``, or ``"minilm"`` with ``model_config``).
        num_labels: number of classes; by default taken from the data module.
        learning_rate, weight_decay, warmup_ratio: AdamW with linear warm-up then linear decay.
        auc_thresholds: bins for score-based (AUC) fairness metrics on binary tasks; ``None`` disables them.
        min_support: group x class cells with fewer true examples are flagged in the bias report.
        export_hf: write a Hugging Face checkpoint (``hf_export/``) at the end of fit.
        compile: compile the network with ``torch.compile`` (in place: checkpoints and the export keep
            their keys). The first steps pay the compile time; see benchmarks/README.md for when it pays off.
    """

    def __init__(
        self,
        model: str | None = None,
        model_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        num_labels: int | None = None,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        auc_thresholds: int | None = None,
        min_support: int = 10,
        export_hf: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if (model is None) == (model_config is None):
            raise ValueError("SequenceClassifier: give exactly one of model (name or path) and model_config (dict)")
        check_number("model.learning_rate", learning_rate, above=0)
        check_number("model.weight_decay", weight_decay, at_least=0)
        check_number("model.warmup_ratio", warmup_ratio, at_least=0, below=1)
        check_number("model.num_labels", num_labels, at_least=2, integer=True, optional=True)
        check_number("model.auc_thresholds", auc_thresholds, at_least=2, integer=True, optional=True)
        self.save_hyperparameters()
        self.model_source = resolve_pretrained(model) if model is not None else None
        self.tokenizer = load_tokenizer(tokenizer or model or MINILM_ALIAS)
        self.net: torch.nn.Module | None = None
        self.label_names: list[str] = []
        self.group_names: list[str] = []
        self.val_metrics: FairnessMetrics | None = None
        self.test_metrics: FairnessMetrics | None = None
        self.last_val_report: dict[str, Any] | None = None
        self.dataset_info: DatasetInfo | None = None
        self.pipeline = MitigationPipeline([], "downstream")
        self._predictions: list[dict[str, Any]] = []
        self.report_path: Path | None = None  # the last bias report written (global rank 0)
        self.predictions_path: Path | None = None  # this rank's predictions file

    # --- building -------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        info = DatasetInfo.of(self.trainer)
        num_labels = self.hparams.num_labels
        if num_labels is not None and num_labels != info.num_labels:
            raise ValueError(
                f"model.num_labels is {num_labels} but the data has {info.num_labels} labels {list(info.label_names)}; "
                "drop model.num_labels (it is taken from the data) or fix the data"
            )
        self.dataset_info = info
        self.label_names, self.group_names = list(info.label_names), list(info.group_names)
        self.pipeline = MitigationPipeline.from_callbacks(self.trainer.callbacks, "downstream")
        if self.val_metrics is None:
            kwargs = {"group_names": self.group_names, "class_names": self.label_names,
                      "min_support": self.hparams.min_support}
            if self.hparams.auc_thresholds and len(self.label_names) == 2:
                kwargs.update(thresholds=self.hparams.auc_thresholds, from_logits=True)
            self.val_metrics = FairnessMetrics(len(self.label_names), len(self.group_names), **kwargs)
            self.test_metrics = FairnessMetrics(len(self.label_names), len(self.group_names), **kwargs)

    def configure_model(self) -> None:
        if self.net is not None:
            return
        num_labels = len(self.label_names)
        id2label = dict(enumerate(self.label_names))
        label2id = {name: i for i, name in id2label.items()}
        if self.model_source is not None:
            self.net = load_pretrained_classifier(self.model_source, num_labels, id2label, label2id)
        else:
            config = build_config(
                self.hparams.model_config, num_labels=num_labels, id2label=id2label, label2id=label2id
            )
            if config.vocab_size < len(self.tokenizer):
                raise ValueError(
                    f"model_config.vocab_size {config.vocab_size} is smaller than the tokenizer's "
                    f"{len(self.tokenizer)} tokens; raise it or choose another tokenizer"
                )
            self.net = AutoModelForSequenceClassification.from_config(config)
        self.net.train()  # from_pretrained returns eval mode, and Lightning keeps submodule modes as they are
        if self.hparams.get("compile", False):  # absent from the hyper-parameters of older checkpoints
            self.net.compile()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_compatible(self, checkpoint, self.trainer.ckpt_path, strict=self.strict_loading)

    # --- training -------------------------------------------------------------------------------

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=input_ids, attention_mask=attention_mask).logits

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # a flat dict of tensors is the common case; skip Lightning's generic (slow) collection walk
        if isinstance(batch, dict) and all(isinstance(v, torch.Tensor) for v in batch.values()):
            return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch[BatchKeys.INPUT_IDS], batch[BatchKeys.ATTENTION_MASK])
        per_example = F.cross_entropy(logits.float(), batch[BatchKeys.LABELS], reduction="none")
        weights = batch.get(BatchKeys.WEIGHTS)
        if weights is None:
            loss = per_example.mean()
        else:
            loss = (per_example * weights).sum() / weights.sum().clamp_min(torch.finfo(per_example.dtype).tiny)
        loss = self.pipeline.loss({"logits": logits, "per_example_loss": per_example}, batch, loss)
        if self._logs_train_loss(batch_idx):
            self.log("train/loss", loss, prog_bar=True, batch_size=len(per_example))
        return loss

    def _logs_train_loss(self, batch_idx: int) -> bool:
        """Whether this step logs ``train/loss``: on the steps the loggers write (every ``trainer.log_every_n_steps``),
        and on the epoch's first batch (so the value exists from the start for a bar or a checkpoint monitor) and
        its last (so the progress line at an epoch's end shows that epoch's last loss).

        ``self.log`` costs 0.5-1.3 ms a step on a CPU (benchmarks/README.md, "Where a step's time goes"); a value
        logged on the other steps would never be written, only shown by a progress bar until the next one.
        """
        trainer = self.trainer
        every = trainer.log_every_n_steps
        edge = batch_idx == 0 or batch_idx + 1 == trainer.num_training_batches
        return edge or (every > 0 and (trainer.global_step + 1) % every == 0)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = adamw(self, self.hparams.learning_rate, self.hparams.weight_decay, self.device)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * self.hparams.warmup_ratio), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- evaluation -----------------------------------------------------------------------------

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch[BatchKeys.INPUT_IDS], batch[BatchKeys.ATTENTION_MASK])
        self.val_metrics.update(logits, batch[BatchKeys.LABELS], batch[BatchKeys.GROUPS])
        loss = F.cross_entropy(logits.float(), batch[BatchKeys.LABELS])
        self.log("val/loss", loss, sync_dist=True, batch_size=len(logits))

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        report = self.val_metrics.report()
        self.val_metrics.reset()
        if self.trainer.sanity_checking:
            return
        # the metric synced its counts, so every rank holds the same values: a max over ranks returns them
        # exactly, and syncing spares each run Lightning's per-key "use sync_dist=True" warnings
        self.log_dict({f"val/{k}": v for k, v in values.items()}, sync_dist=True, reduce_fx="max")
        self.last_val_report = report
        if self.trainer.state.fn == TrainerFn.VALIDATING:  # `lightning_bias validate`: report now
            self._write_report("val", report)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch[BatchKeys.INPUT_IDS], batch[BatchKeys.ATTENTION_MASK])
        self.test_metrics.update(logits, batch[BatchKeys.LABELS], batch[BatchKeys.GROUPS])

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        report = self.test_metrics.report()
        self.test_metrics.reset()
        self.log_dict({f"test/{k}": v for k, v in values.items()}, sync_dist=True, reduce_fx="max")  # as val/
        self._write_report("test", report)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        probs = self(batch[BatchKeys.INPUT_IDS], batch[BatchKeys.ATTENTION_MASK]).float().softmax(-1)
        out = {"pred": probs.argmax(-1), "probs": probs, "label": batch[BatchKeys.LABELS], "group": batch[BatchKeys.GROUPS]}
        self._predictions.append({k: v.cpu() for k, v in out.items()})
        return out

    def on_predict_epoch_end(self) -> None:
        """Write ``predictions.jsonl`` (one per rank when several) into the run dir."""
        directory = run_dir(self.trainer)
        directory.mkdir(parents=True, exist_ok=True)
        suffix = f".rank{self.global_rank}" if self.trainer.world_size > 1 else ""
        lines = []
        for chunk in self._predictions:
            for pred, probs, label, group in zip(chunk["pred"], chunk["probs"], chunk["label"], chunk["group"],
                                                 strict=True):
                lines.append(json.dumps({
                    "pred": self.label_names[int(pred)], "label": self.label_names[int(label)],
                    "group": self.group_names[int(group)], "probs": [round(float(p), 6) for p in probs],
                }))
        self.predictions_path = atomic_write_text(
            directory / f"predictions{suffix}.jsonl", "\n".join(lines) + ("\n" if lines else "")
        )
        self._predictions.clear()

    # --- end of fit -----------------------------------------------------------------------------

    def on_fit_end(self) -> None:
        if self.hparams.export_hf:
            path = export_hf(self.trainer.strategy, self.net, self.tokenizer, run_dir(self.trainer) / HF_EXPORT_DIR)
            rank_zero_info(f"Hugging Face export: {path}")
        if self.last_val_report is None:
            rank_zero_warn("no validation epoch ran, so no bias report was written; enable validation to get one")
            return
        self._write_report("val", self.last_val_report)

    def _write_report(self, split: str, metrics_report: dict[str, Any]) -> None:
        report = {
            "split": split,
            **metrics_report,
            "train_cooccurrence": dict(self.dataset_info.train_cooccurrence or {}),
            "evaluation_distribution": evaluation_distribution(self.dataset_info, split),
            "mitigations": [plugin_record(m) for m in self.pipeline.mitigations],
            "provenance": run_provenance(self.dataset_info, plugins_of(self.trainer.callbacks)),
            "model": self.hparams.model or "model_config",
            "runtime": runtime_record(self.trainer.num_devices, self.trainer.world_size),
            **report_sections(self.trainer.callbacks, split),
        }
        directory = run_dir(self.trainer)
        if self.trainer.is_global_zero:
            path = self.report_path = write_bias_report(report, directory)
            written = json.loads(path.read_text())
            print(format_markdown(written))
            log_bias_report(self.trainer.loggers, written, directory, self.trainer.global_step)  # WandbLogger's run
            rank_zero_info(f"bias report: {path}")
