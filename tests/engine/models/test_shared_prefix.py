"""Attention that reads a prompt shared by every beam row once: the same numbers as plain SDPA, used by beams."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models import gpt2, shared_prefix
from engine.models.shared_prefix import attend_with_shared_prefix, worth_sharing
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings


@pytest.mark.parametrize(("heads", "kv_heads"), [(4, 4), (6, 2)])
def test_matches_attention_over_every_rows_own_copy(heads, kv_heads):
    torch.manual_seed(0)
    rows, shared, span, dim = 3, 70, 75, 16
    keys = torch.randn(1, kv_heads, span, dim).repeat(rows, 1, 1, 1)
    values = torch.randn(1, kv_heads, span, dim).repeat(rows, 1, 1, 1)
    keys[:, :, shared:], values[:, :, shared:] = torch.randn(2, rows, kv_heads, span - shared, dim)
    q = torch.randn(rows, heads, 1, dim)
    groups = heads // kv_heads
    expected = F.scaled_dot_product_attention(q, keys.repeat_interleave(groups, 1), values.repeat_interleave(groups, 1))
    got = attend_with_shared_prefix(q, keys, values, shared)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)


def test_only_several_single_query_rows_without_a_mask_over_a_long_shared_part_qualify():
    mask = torch.ones(1, 80, dtype=torch.bool)
    assert worth_sharing(4, 1, 80, None)
    assert not worth_sharing(1, 1, 80, None)  # one row: nothing is read twice
    assert not worth_sharing(4, 5, 80, None)  # a chunk of the prompt: SDPA's causal path
    assert not worth_sharing(4, 1, 80, mask)
    assert not worth_sharing(4, 1, shared_prefix.MIN_SHARED - 1, None)


def test_beam_search_reads_the_shared_prompt_once_and_returns_what_plain_attention_does(tiny_gpt2, monkeypatch):
    calls = []

    def counted(*args):
        calls.append(args[3])
        return attend_with_shared_prefix(*args)

    monkeypatch.setattr(gpt2, "attend_with_shared_prefix", counted)
    settings = plain_settings(strategy="beam", num_beams=4, num_alternatives=4, max_new_tokens=8)
    prompt = SAMPLE_TEXT * 2
    shared = [c.text for c in tiny_gpt2.complete(prompt, settings)]
    assert calls and min(calls) >= shared_prefix.MIN_SHARED
    tiny_gpt2.generator.forget()
    monkeypatch.setattr(shared_prefix, "MIN_SHARED", 10**9)
    calls.clear()
    plain = [c.text for c in tiny_gpt2.complete(prompt, settings)]
    assert not calls
    assert shared == plain
