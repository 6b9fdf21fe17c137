"""A tiny 'contextual' encoder whose geometry a test chooses, to plant an association and find it again."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class PlantedEncoder(nn.Module):
    """Hidden state of a token = its embedding + the mean embedding of its sentence (so context leaks in)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.embeddings = nn.Embedding.from_pretrained(table)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        states = self.embeddings(input_ids)
        mask = attention_mask.unsqueeze(-1).float()
        context = (states * mask).sum(dim=1) / mask.sum(dim=1)
        return (states + context.unsqueeze(1),)


def planted_encoder(tokenizer, plant: dict[str, float], noise: float = 0.05) -> PlantedEncoder:
    """Random small embeddings (dim 16, seeded) plus ``weight`` on dimension 0 of every token of each
    ``{phrase: weight}`` of ``plant`` (a token in several phrases gets the sum)."""
    generator = torch.Generator().manual_seed(0)
    table = noise * torch.randn(len(tokenizer), 16, generator=generator)
    for phrase, weight in plant.items():
        for token in _tokens(tokenizer, [phrase]):
            table[token, 0] += weight
    return PlantedEncoder(table).eval()


def _tokens(tokenizer, phrases: Iterable[str]) -> set[int]:
    return {t for phrase in phrases for t in tokenizer(phrase, add_special_tokens=False)["input_ids"]}
