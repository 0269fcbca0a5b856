"""The prompt's cache and the beam rows fanned out from it, kept between requests."""

from __future__ import annotations

import torch

from engine.decoding.prefix_cache import KEPT_ROW_SIZES, PromptCache
from engine.models.hidden_states import FinalHiddenStates
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


def test_a_prompt_already_read_is_answered_without_a_forward():
    cache = tiny_cache()
    with torch.inference_mode():
        expected, _ = cache.model(torch.tensor([[1, 2, 3, 4]]))
    logits, reused, read = cache.prefill([1, 2, 3, 4], room=8)
    assert (reused, read) == (4, 0)
    torch.testing.assert_close(logits, expected[:, -1], atol=1e-5, rtol=1e-5)
    logits.fill_(0.0)  # what decoding does with its logits never reaches the next request
    again, _, read = cache.prefill([1, 2, 3, 4], room=8)
    assert read == 0
    torch.testing.assert_close(again, expected[:, -1], atol=1e-5, rtol=1e-5)
    cache.feed(torch.tensor([[5]]), 5)  # the cache moves on: the prompt's last token is read again
    _, reused, read = cache.prefill([1, 2, 3, 4], room=8)
    assert (reused, read) == (3, 1)


def test_the_hidden_states_behind_a_prompt_come_back_with_its_logits():
    cache = tiny_cache()  # read before any states were recorded
    cache.states = FinalHiddenStates(cache.model)
    _, _, read = cache.prefill([1, 2, 3, 4], room=8)
    assert read == 1 and cache.states.latest is not None  # read again, to record them
    cache.prefill([1, 2, 3, 5], room=8)
    prompt_states = cache.states.latest
    with torch.inference_mode():
        cache.model(torch.tensor([[7, 8, 9]]))  # another forward (the memory's catch-up) records its own
    assert cache.states.latest is not prompt_states
    _, _, read = cache.prefill([1, 2, 3, 5], room=8)
    assert read == 0 and cache.states.latest is prompt_states
