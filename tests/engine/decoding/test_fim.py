"""Fill-in-the-middle: training rows in prefix-suffix-middle order, the decoding prompt that reads the text after
the cursor, and bits/byte of a passage between its neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine
from engine.decoding.fim import (
    FIM_TOKENS,
    IGNORE_INDEX,
    SUFFIX_CHARS,
    fim_prompt,
    fim_rows,
    fim_suffix_ids,
    fim_token_ids,
    suffix_head,
    suffix_token_limit,
)
from engine.decoding.settings import DecodingSettings
from engine.loading.checkpoint import save_checkpoint
from engine.training.bpe import train_bpe_tokenizer
from engine.training.model_sizes import build_new_model
from tests.support.samples import SAMPLE_TEXT

PRE, SUF, MID = 1, 2, 3


@pytest.fixture(scope="module")
def fim_tokenizer():
    return train_bpe_tokenizer([SAMPLE_TEXT], vocab_size=400, fim=True)


@pytest.fixture
def fim_model(tmp_path, fim_tokenizer):
    torch.manual_seed(0)
    model = build_new_model("qwen3", "tiny", fim_tokenizer.vocab_size, 0)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(25)  # sharper than random init, so decoding is not a coin toss
    return engine.load(str(save_checkpoint(tmp_path / "fim", model, fim_tokenizer)), device="cpu")


def test_fim_tokenizer_declares_the_three_tokens_after_end_of_text(fim_tokenizer, tiny_tokenizer):
    assert fim_token_ids(fim_tokenizer) == (PRE, SUF, MID)
    assert [fim_tokenizer.token_id(t) for t in FIM_TOKENS] == [PRE, SUF, MID]
    assert fim_tokenizer.token_id("<|endoftext|>") == 0
    assert fim_token_ids(tiny_tokenizer) is None  # a plain tokenizer: models keep left-to-right prompts


def test_fim_rows_are_prefix_suffix_middle_with_the_markers_unscored():
    rows = np.arange(10, 10 + 2 * 13).reshape(2, 13)
    inputs, targets = fim_rows(rows, 1.0, (PRE, SUF, MID), np.random.default_rng(0))
    assert inputs.shape == targets.shape == (2, 12)
    for r in range(2):
        full = np.concatenate((inputs[r], targets[r][-1:] if targets[r][-1] != IGNORE_INDEX else [MID]))
        assert full[0] == PRE
        suf, mid = int(np.flatnonzero(full == SUF)[0]), int(np.flatnonzero(full == MID)[0])
        prefix, suffix, middle = full[1:suf], full[suf + 1 : mid], full[mid + 1 :]
        # the three pieces put back in order are the first 10 tokens of the row, nothing lost or repeated
        assert np.array_equal(np.concatenate((prefix, middle, suffix)), rows[r, :10])
        assert set(targets[r][targets[r] != IGNORE_INDEX]) <= set(full[1:]) - {SUF, MID}
        assert (targets[r] == IGNORE_INDEX).sum() == 2  # the ends of prefix and suffix are not the model's to guess


def test_fim_rate_zero_leaves_rows_alone_and_half_changes_about_half():
    rows = np.arange(64 * 20).reshape(64, 20) + 10
    inputs, targets = fim_rows(rows, 0.0, (PRE, SUF, MID), np.random.default_rng(0))
    assert np.array_equal(inputs, rows[:, :-1]) and np.array_equal(targets, rows[:, 1:])
    inputs, _ = fim_rows(rows, 0.5, (PRE, SUF, MID), np.random.default_rng(0))
    assert 16 < (inputs[:, 0] == PRE).sum() < 48


def test_decoding_with_text_after_the_cursor_reads_it_in_a_fim_prompt(fim_model):
    generator = fim_model.generator
    settings = DecodingSettings(strategy="greedy", max_new_tokens=8)
    plain = generator.prepare("The dog sleeps in the", settings, "")
    framed = generator.prepare("The dog sleeps in the", settings, " sun, and the fox runs.")
    suffix_ids = fim_model.tokenizer.encode(" sun, and the fox runs.")
    assert framed.tokens == fim_prompt(plain.tokens, suffix_ids, (PRE, SUF, MID))
    # whitespace alone after the cursor is no suffix worth reading
    assert generator.prepare("The dog sleeps in the", settings, "\n\n").tokens == plain.tokens


def test_decoding_and_scoring_read_the_same_start_of_a_long_text_after(fim_model):
    after = " sun, and the fox runs." * 40
    assert len(after) > SUFFIX_CHARS and suffix_head(after) == after[:SUFFIX_CHARS]
    settings = DecodingSettings(strategy="greedy", max_new_tokens=8)
    generator = fim_model.generator
    assert generator.prepare("The dog sleeps in the", settings, after).tokens == \
        generator.prepare("The dog sleeps in the", settings, suffix_head(after)).tokens
    text = " sleeps in the warm sun"
    assert fim_model.bits_per_byte(text, before="The dog", after=after) == \
        pytest.approx(fim_model.bits_per_byte(text, before="The dog", after=suffix_head(after)))


def test_the_suffix_keeps_a_share_of_the_token_budget():
    encode = lambda text: list(range(len(text)))  # one token per character
    assert suffix_token_limit(40) == 10 and suffix_token_limit(1) == 1
    assert fim_suffix_ids(encode, "x" * 1000, 40) == list(range(10))
    assert fim_suffix_ids(encode, "x" * 1000, 10_000) == list(range(SUFFIX_CHARS))


def test_fim_markers_are_never_generated(fim_model):
    with torch.no_grad():  # make the markers the model's favourite next tokens
        fim_model.model.lm_head.weight[PRE:MID + 1] = fim_model.model.model.embed_tokens.weight.mean(0) * 0 + 5
    for suffix in ("", " and the fox runs."):
        completion = fim_model.complete("The dog", DecodingSettings(strategy="greedy", max_new_tokens=6),
                                        suffix=suffix)[0]
        assert not set(completion.token_ids) & {PRE, SUF, MID}


def test_left_to_right_models_ignore_the_text_after(tiny_gpt2):
    settings = DecodingSettings(strategy="greedy", max_new_tokens=4)
    assert tiny_gpt2.generator.prepare("The dog", settings, " runs.").tokens == \
        tiny_gpt2.generator.prepare("The dog", settings, "").tokens
    text = "sleeps in the warm sun"
    assert tiny_gpt2.bits_per_byte(text, after=" and the fox") == pytest.approx(tiny_gpt2.bits_per_byte(text))


def test_bits_per_byte_between_before_and_after(fim_model):
    text = " sleeps in the warm sun"
    alone = fim_model.bits_per_byte(text)
    assert fim_model.bits_per_byte(text, before="", after="") == alone
    with_before = fim_model.bits_per_byte(text, before="The dog")
    ids = fim_model.tokenizer.encode(text)
    scores = fim_model.token_logprobs([0, *fim_model.tokenizer.encode("The dog"), *ids])
    expected = -sum(scores[-len(ids):]) / np.log(2) / len(text.encode())
    assert with_before == pytest.approx(expected)
    framed = fim_model.bits_per_byte(text, before="The dog", after=", and the fox runs.")
    context = fim_prompt([0, *fim_model.tokenizer.encode("The dog")],
                         fim_model.tokenizer.encode(", and the fox runs."), (PRE, SUF, MID))
    scores = fim_model.token_logprobs(context + ids)
    assert framed == pytest.approx(-sum(scores[-len(ids):]) / np.log(2) / len(text.encode()))
    assert framed != pytest.approx(with_before)
