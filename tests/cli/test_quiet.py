"""The command line prints what a user can act on, and no third-party noise; real warnings still show."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest
from conftest import REPO_ROOT, TINY_MODEL_CONFIG

from lightning_bias.commands import main
from lightning_bias.commands.quiet import quiet_third_party_noise

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
NOISE = [
    "💡 Tip", "litlogger", "litmodels",  # Lightning's advertisements
    "LeafSpec",  # torch's _pytree deprecation, raised inside Lightning
    "transfer_batch_to_device",  # Lightning's note on the module's (intended) fast transfer
    "Setting accelerator to CPU",  # DeepSpeed on a machine without GPU
    "Casting the dataset", "tokenizing", "Map:", "Filter:",  # datasets progress bars
    "Loading weights", "Writing model shards",  # transformers progress bars
    "LOAD REPORT", "MISSING",  # transformers' report on the new classification head
    "sync_dist",  # Lightning's advice for metrics that are synced already
]
NEW_HEAD = ("a new classification head (classifier.weight, classifier.bias) was initialised for the 16 labels; "
            "it is trained by fine-tuning")


class _Collect(logging.Handler):
    """Every record that reaches the loggers it is attached to (filtered records never do)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    """Messages of the loggers that write to the terminal themselves (propagation off): Lightning,
    transformers, DeepSpeed."""
    handler = _Collect()
    names = ["pytorch_lightning", "lightning_fabric", "transformers", "DeepSpeed"]
    for name in names:
        logging.getLogger(name).addHandler(handler)
    yield handler.messages
    for name in names:
        logging.getLogger(name).removeHandler(handler)


@pytest.fixture
def encoder_checkpoint(tmp_path):
    """A tiny BERT encoder saved as a Hugging Face checkpoint: fine-tuning it needs a new head."""
    from transformers import BertConfig, BertModel

    from lightning_bias.models.pretrained import load_tokenizer

    path = tmp_path / "encoder"
    BertModel(BertConfig(**{k: v for k, v in TINY_MODEL_CONFIG.items() if k != "model_type"})).save_pretrained(path)
    load_tokenizer("minilm").save_pretrained(path)
    return path


def test_a_fit_prints_no_noise_and_says_once_that_a_head_is_new(tmp_path, encoder_checkpoint, capfd, caplog, recwarn,
                                                                  logged):
    caplog.set_level(logging.INFO)
    main(["fit", "--config", TINY, f"--model.model={encoder_checkpoint}", "--model.model_config=null",
          "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400", f"--trainer.default_root_dir={tmp_path}"])
    out, err = capfd.readouterr()
    seen = "\n".join([out, err, caplog.text, *logged, *(str(w.message) for w in recwarn)])
    assert [noise for noise in NOISE if noise in seen] == []
    assert sum(message == NEW_HEAD for message in logged) == 1, logged
    assert "global batch 32 = 32 per device × 1 process × 1 gradient accumulation step; learning rate 0.01" in logged
    assert "train: step 9/9 (epoch 1/1)" in err  # plain progress lines: stderr is not a terminal here


def test_the_filters_drop_only_the_listed_messages(logged):
    quiet_third_party_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party_noise()  # again, as a second command in the same process would
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a "
                      "`LightningDataModule`. It will use the implementation from `LightningModule` instance.",
                      stacklevel=1)
        warnings.warn("a real deprecation", FutureWarning, stacklevel=1)
        warnings.warn("You have overridden `transfer_batch_to_device` in both `LightningModule` and "
                      "`LightningDataModule`.", stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "a real deprecation",
        "You have overridden `transfer_batch_to_device` in both `LightningModule` and `LightningDataModule`.",
    ]
    logging.getLogger("pytorch_lightning.utilities.rank_zero").warning("💡 Tip: For seamless cloud logging ...")
    logging.getLogger("pytorch_lightning.utilities.rank_zero").warning("GPU available: False, used: False")
    logging.getLogger("DeepSpeed").warning("Setting accelerator to CPU. If you have GPU or other accelerator, ...")
    logging.getLogger("DeepSpeed").warning("Setting ds_accelerator to cpu (auto detect)")
    assert logged == ["GPU available: False, used: False", "Setting ds_accelerator to cpu (auto detect)"]


def test_importing_the_library_changes_no_filter():
    code = (
        "import logging, warnings\n"
        "before = list(warnings.filters)\n"
        "import lightning_bias.commands.lightning_cli, lightning_bias.models.classifier\n"
        "from lightning_bias.commands.quiet import IGNORED_LOG_MESSAGES, IGNORED_WARNINGS\n"
        "patterns = {message for _, message in IGNORED_WARNINGS}\n"
        "assert not [f for f in warnings.filters if f[1] is not None and f[1].pattern in patterns], warnings.filters\n"
        "assert not any(logging.getLogger(name).filters for name in IGNORED_LOG_MESSAGES)\n"
        "import datasets\n"
        "assert datasets.is_progress_bar_enabled()\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.multiprocess
def test_a_distributed_fit_does_not_ask_for_sync_dist(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
           "LIGHTNING_BIAS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "lightning_bias", "fit", "--config", TINY, "--trainer.devices=2",
         "--trainer.strategy=ddp", "--trainer.max_epochs=1", "--data.synthetic_bios.num_examples=400",
         "--data.batch_size=16", f"--trainer.default_root_dir={tmp_path}"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "sync_dist" not in output
    assert output.count("global batch 32 = 16 per device × 2 processes × 1 gradient accumulation step") == 1
