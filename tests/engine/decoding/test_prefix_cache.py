"""The prompt's cache and the beam rows fanned out from it, kept between requests."""

from __future__ import annotations

import torch

from engine.decoding.prefix_cache import KEPT_ROW_SIZES, PromptCache
from engine.models.llama import LlamaConfig, LlamaTransformer


def tiny_cache() -> PromptCache:
    torch.manual_seed(0)
    model = LlamaTransformer(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=64)).eval()
    cache = PromptCache(model, torch.device("cpu"))
    cache.prefill([1, 2, 3, 4], room=8)
    return cache


def test_the_latest_two_sizes_of_beam_rows_are_kept_and_refilled_not_made_again():
    cache = tiny_cache()
    one, five = cache.beam_rows(1), cache.beam_rows(5)
    assert cache.beam_rows(1) is one and cache.beam_rows(5) is five  # branches: one row, then the others
    assert KEPT_ROW_SIZES == 2
    three = cache.beam_rows(3)  # a third size: the least recently used (one row) goes
    assert cache.beam_rows(5) is five and cache.beam_rows(3) is three and cache.beam_rows(1) is not one


def test_beam_rows_read_a_chunk_of_tokens_per_row_as_the_model_would():
    cache = tiny_cache()
    rows = cache.beam_rows(2)
    chunk = torch.tensor([[5, 6], [7, 8]])
    logits = rows.read(chunk)
    with torch.inference_mode():
        expected, _ = cache.model(torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 7, 8]]))
    torch.testing.assert_close(logits, expected[:, -1], atol=1e-5, rtol=1e-5)
    assert rows.cache.length == 6
