"""Our GPT2Transformer against transformers' GPT2LMHeadModel, and its KV cache against full forwards."""

from __future__ import annotations

import pytest
import torch

from engine.loading.families import FAMILIES
from engine.models.gpt2 import GPT2Config, GPT2Transformer

transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4

# (n_layer, n_embd, n_head, n_positions, vocab_size, n_inner, layer_norm_epsilon): small but all different
SHAPES = [
    pytest.param(1, 16, 2, 32, 97, None, 1e-5, id="1-layer-16-wide-2-heads"),
    pytest.param(2, 32, 4, 64, 300, None, 1e-5, id="2-layers-32-wide-4-heads"),
    pytest.param(3, 48, 6, 40, 211, 80, 1e-3, id="3-layers-48-wide-6-heads-n_inner-80"),
    pytest.param(2, 24, 1, 20, 50, None, 1e-5, id="2-layers-single-head"),
]


def _random_pair(n_layer, n_embd, n_head, n_positions, vocab_size, n_inner, eps, seed=0):
    """A transformers GPT-2 with every weight randomised (biases and LayerNorms too), and ours with its weights."""
    torch.manual_seed(seed)
    hf_config = transformers.GPT2Config(
        vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        n_inner=n_inner, layer_norm_epsilon=eps, bos_token_id=0, eos_token_id=0,
    )
    reference = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():
        for param in reference.parameters():
            param.add_(torch.randn_like(param) * 0.2)  # HF init zeroes biases and sets LayerNorms to 1
    ours = FAMILIES["gpt2"].build(hf_config.to_dict()).eval()
    ours.load_state_dict(FAMILIES["gpt2"].import_state(reference.state_dict(), ours))
    return reference, ours


def _hf_logits(reference, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return reference(tokens).logits


@pytest.mark.parametrize(("n_layer", "n_embd", "n_head", "n_positions", "vocab", "n_inner", "eps"), SHAPES)
def test_full_forward_matches_transformers(n_layer, n_embd, n_head, n_positions, vocab, n_inner, eps):
    reference, ours = _random_pair(n_layer, n_embd, n_head, n_positions, vocab, n_inner, eps)
    tokens = torch.randint(0, vocab, (3, n_positions))  # the whole context, batch of 3
    expected = _hf_logits(reference, tokens)
    with torch.no_grad():
        logits, cache = ours(tokens)
    assert cache is None
    assert logits.shape == (3, n_positions, vocab)
    assert expected.abs().max() > 1.0  # the randomised weights give logits worth comparing
    torch.testing.assert_close(logits, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(("n_layer", "n_embd", "n_head", "n_positions", "vocab", "n_inner", "eps"), SHAPES)
def test_cached_incremental_forward_matches_transformers(n_layer, n_embd, n_head, n_positions, vocab, n_inner, eps):
    reference, ours = _random_pair(n_layer, n_embd, n_head, n_positions, vocab, n_inner, eps, seed=1)
    tokens = torch.randint(0, vocab, (2, n_positions))
    expected = _hf_logits(reference, tokens)
    chunks = [1, 4, 1, 1, 7, 2]
    chunks.append(n_positions - sum(chunks))  # the rest, up to the full context
    cache = ours.new_cache(batch_size=2, capacity=n_positions)
    pieces, start = [], 0
    with torch.no_grad():
        for size in chunks:
            logits, cache = ours(tokens[:, start : start + size], cache)
            pieces.append(logits)
            start += size
            assert cache.length == start
    torch.testing.assert_close(torch.cat(pieces, dim=1), expected, atol=TOLERANCE, rtol=0)


def _tiny(seed=0, n_positions=32, vocab=61) -> GPT2Transformer:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=32, n_layer=2, n_head=4)
    model = GPT2Transformer(config).eval()
    with torch.no_grad():
        model.wte.weight.mul_(20)  # sharper predictions, so a wrong cache row shows up clearly
    return model


def _full(model: GPT2Transformer, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(tokens)[0]


def _feed(model: GPT2Transformer, tokens: torch.Tensor, cache) -> torch.Tensor:
    with torch.no_grad():
        return model(tokens, cache)[0]


def test_single_token_decoding_equals_full_forward_with_batch_of_four():
    model = _tiny()
    tokens = torch.randint(0, 61, (4, 20))
    expected = _full(model, tokens)
    cache = model.new_cache(4, 32)
    prompt = _feed(model, tokens[:, :5], cache)
    steps = [_feed(model, tokens[:, t : t + 1], cache) for t in range(5, 20)]
    torch.testing.assert_close(torch.cat([prompt, *steps], dim=1), expected, atol=TOLERANCE, rtol=0)
    # Rows are independent: each row of the batch equals that row run alone.
    for row in range(4):
        torch.testing.assert_close(expected[row : row + 1], _full(model, tokens[row : row + 1]), atol=TOLERANCE,
                                   rtol=0)


def test_crop_rewinds_so_new_tokens_continue_the_kept_prefix():
    model = _tiny()
    tokens = torch.randint(0, 61, (2, 12))
    other = torch.randint(0, 61, (2, 5))
    cache = model.new_cache(2, 32)
    _feed(model, tokens, cache)
    assert cache.crop(7) == 7
    assert cache.length == 7
    logits = _feed(model, other, cache)
    expected = _full(model, torch.cat([tokens[:, :7], other], dim=1))[:, 7:]
    torch.testing.assert_close(logits, expected, atol=TOLERANCE, rtol=0)


def test_crop_past_the_length_keeps_everything_and_crop_to_zero_starts_over():
    model = _tiny()
    tokens = torch.randint(0, 61, (1, 6))
    cache = model.new_cache(1, 32)
    _feed(model, tokens, cache)
    assert cache.crop(100) == 6
    assert cache.crop(0) == 0
    assert cache.length == 0
    torch.testing.assert_close(_feed(model, tokens, cache), _full(model, tokens), atol=TOLERANCE, rtol=0)


def test_reorder_makes_each_row_continue_the_row_it_was_given():
    model = _tiny()
    prefixes = torch.randint(0, 61, (3, 8))
    nexts = torch.randint(0, 61, (3, 2))
    cache = model.new_cache(3, 32)
    _feed(model, prefixes, cache)
    rows = torch.tensor([2, 0, 0])  # beam search: row 1 dropped, row 0 duplicated, row 2 moved to the front
    cache.reorder(rows)
    assert cache.length == 8
    logits = _feed(model, nexts, cache)
    expected = _full(model, torch.cat([prefixes[rows], nexts], dim=1))[:, 8:]
    torch.testing.assert_close(logits, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("rows", [[1], [0, 2, 2, 1, 0]], ids=["shrink-to-one-row", "grow-to-five-rows"])
def test_reorder_may_change_the_number_of_rows(rows):
    model = _tiny()
    prefixes = torch.randint(0, 61, (3, 6))
    cache = model.new_cache(3, 32)
    _feed(model, prefixes, cache)
    rows = torch.tensor(rows)
    cache.reorder(rows)
    assert cache.batch_size == len(rows)
    nexts = torch.randint(0, 61, (len(rows), 1))
    expected = _full(model, torch.cat([prefixes[rows], nexts], dim=1))[:, 6:]
    torch.testing.assert_close(_feed(model, nexts, cache), expected, atol=TOLERANCE, rtol=0)


def test_repeat_rows_fans_out_row_zero_into_an_independent_cache():
    model = _tiny()
    prompt = torch.randint(0, 61, (1, 9))
    cache = model.new_cache(1, 32)
    prompt_logits = _feed(model, prompt, cache)
    beams = cache.repeat_rows(4)
    assert (beams.batch_size, beams.length) == (4, 9)
    nexts = torch.randint(0, 61, (4, 3))
    expected = _full(model, torch.cat([prompt.expand(4, -1), nexts], dim=1))[:, 9:]
    torch.testing.assert_close(_feed(model, nexts, beams), expected, atol=TOLERANCE, rtol=0)
    # The original cache did not move and still continues its own prompt.
    assert cache.length == 9
    one_more = torch.randint(0, 61, (1, 1))
    torch.testing.assert_close(_feed(model, one_more, cache),
                               _full(model, torch.cat([prompt, one_more], dim=1))[:, 9:], atol=TOLERANCE, rtol=0)
    assert prompt_logits.shape == (1, 9, 61)


def test_a_full_cache_refuses_more_tokens_and_stays_usable():
    model = _tiny()
    tokens = torch.randint(0, 61, (1, 10))
    cache = model.new_cache(1, capacity=8)
    _feed(model, tokens[:, :6], cache)
    with pytest.raises(ValueError, match="KV cache full"):
        _feed(model, tokens[:, 6:9], cache)
    assert cache.length == 6
    torch.testing.assert_close(_feed(model, tokens[:, 6:8], cache), _full(model, tokens[:, :8])[:, 6:],
                               atol=TOLERANCE, rtol=0)


def test_more_tokens_than_the_context_is_a_clear_error():
    model = _tiny(n_positions=16)
    with pytest.raises(ValueError, match="exceeds the model's context of 16"):
        _full(model, torch.zeros(1, 17, dtype=torch.long))
    assert model.new_cache(1, capacity=1000).capacity == 16  # capped at the context


def test_tokens_for_a_different_number_of_rows_than_the_cache_are_refused():
    model = _tiny()
    cache = model.new_cache(3, 32)
    with pytest.raises(ValueError, match="1 rows of tokens for a cache of 3 rows"):
        _feed(model, torch.zeros(1, 4, dtype=torch.long), cache)
    assert cache.length == 0
