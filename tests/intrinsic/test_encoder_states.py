"""Pooled hidden states: the mean over the attention mask or over a span, whatever the batch, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL_CONFIG
from transformers import AutoModel, AutoModelForMaskedLM

from lightning_bias.intrinsic.encoder_states import sentence_embeddings, span_embeddings
from lightning_bias.models.pretrained import build_config, load_tokenizer

TEXTS = ["She works as a nurse.", "After finishing school, my brother became an interior designer."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def masked_lm():
    torch.manual_seed(0)
    return AutoModelForMaskedLM.from_config(build_config(dict(TINY_MODEL_CONFIG))).eval()


def _hidden(model, tokenizer, text):
    with torch.no_grad():
        return model.bert(**tokenizer(text, return_tensors="pt"))[0][0].double().numpy()


def test_sentence_embeddings_are_the_mean_hidden_state_of_each_sentence_alone(tokenizer, masked_lm):
    pooled = sentence_embeddings(masked_lm, tokenizer, TEXTS, batch_size=2)  # padded together
    for row, text in enumerate(TEXTS):
        np.testing.assert_allclose(pooled[row], _hidden(masked_lm, tokenizer, text).mean(axis=0), atol=1e-5)
    bare = AutoModel.from_config(masked_lm.config)
    bare.load_state_dict(masked_lm.bert.state_dict(), strict=False)
    np.testing.assert_allclose(sentence_embeddings(bare.eval(), tokenizer, TEXTS), pooled, atol=1e-6)


def test_span_embeddings_average_the_tokens_of_the_span(tokenizer, masked_lm):
    spans = [(TEXTS[0].index("nurse"), TEXTS[0].index("nurse") + 5),
             (TEXTS[1].index("interior"), len(TEXTS[1]) - 1)]
    pooled = span_embeddings(masked_lm, tokenizer, TEXTS, spans, batch_size=2)
    for row, (text, (start, end)) in enumerate(zip(TEXTS, spans, strict=True)):
        offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
        positions = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        assert len(positions) == (1 if row == 0 else 2)  # "nurse"; "interior designer"
        np.testing.assert_allclose(pooled[row], _hidden(masked_lm, tokenizer, text)[positions].mean(axis=0), atol=1e-5)


def test_encoder_state_errors(tokenizer, masked_lm):
    with pytest.raises(ValueError, match="covers no token"):
        span_embeddings(masked_lm, tokenizer, ["A nurse."], [(20, 25)])
    with pytest.raises(ValueError, match="got 1 texts but 2 spans"):
        span_embeddings(masked_lm, tokenizer, ["A nurse."], [(2, 7), (0, 1)])
    with pytest.raises(ValueError, match="no texts to embed"):
        sentence_embeddings(masked_lm, tokenizer, [])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        sentence_embeddings(masked_lm, tokenizer, TEXTS, batch_size=0)
