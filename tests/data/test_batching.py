"""PaddingCollator: rows padded to the longest of their batch, with the mask, labels, groups and weights."""

from __future__ import annotations

import torch

from lightning_bias.data.batching import BatchKeys, PaddingCollator


def test_rows_are_padded_to_the_longest_with_a_mask_over_their_own_tokens():
    rows = [{"input_ids": [101, 7, 102], "label": 1, "group": 0},
            {"input_ids": [101, 102], "label": 0, "group": 1},
            {"input_ids": [101, 5, 6, 8, 102], "label": 2, "group": 1}]
    batch = PaddingCollator(pad_token_id=0)(rows)
    assert batch[BatchKeys.INPUT_IDS].tolist() == [[101, 7, 102, 0, 0], [101, 102, 0, 0, 0], [101, 5, 6, 8, 102]]
    assert batch[BatchKeys.ATTENTION_MASK].tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert batch[BatchKeys.LABELS].tolist() == [1, 0, 2] and batch[BatchKeys.GROUPS].tolist() == [0, 1, 1]
    assert all(batch[k].dtype == torch.long for k in (BatchKeys.INPUT_IDS, BatchKeys.ATTENTION_MASK, BatchKeys.LABELS))
    assert BatchKeys.WEIGHTS not in batch


def test_weights_travel_as_float_and_a_pad_id_other_than_zero_is_used():
    rows = [{"input_ids": [3], "label": 0, "group": 0, "weight": 0.5},
            {"input_ids": [3, 4], "label": 1, "group": 0, "weight": 2.0}]
    batch = PaddingCollator(pad_token_id=9)(rows)
    assert batch[BatchKeys.INPUT_IDS].tolist() == [[3, 9], [3, 4]]
    assert batch[BatchKeys.WEIGHTS].dtype == torch.float32 and batch[BatchKeys.WEIGHTS].tolist() == [0.5, 2.0]
