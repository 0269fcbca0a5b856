"""Attention-LSTM: cached decoding equals the full forward; rewinding, beams, checkpoints, training."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import engine
from engine.errors import CheckpointError
from engine.loading.checkpoint import load_checkpoint, save_checkpoint
from engine.models.base import CausalLanguageModel, ModelCache
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings
from tests.support.tiny_models import make_attention_lstm

KINDS = ("additive", "dot")
ATOL = 1e-5


def feed(model, tokens: torch.Tensor, cache, chunks: list[int]) -> torch.Tensor:
    pieces, start = [], 0
    for size in chunks:
        logits, cache = model(tokens[:, start : start + size], cache)
        pieces.append(logits)
        start += size
    assert start == tokens.shape[1]
    return torch.cat(pieces, dim=1)


@pytest.mark.parametrize("kind", KINDS)
def test_cached_decoding_in_chunks_equals_full_forward(kind):
    model = make_attention_lstm(kind)
    tokens = torch.randint(0, 60, (3, 70))
    full, _ = model(tokens)
    cache = model.new_cache(3, 4)  # far too small: the buffers must grow
    incremental = feed(model, tokens, cache, [1, 5, 1, 1, 17, 3, 13, 1, 28])
    assert cache.length == 70
    torch.testing.assert_close(incremental, full, atol=ATOL, rtol=0)


def test_interface():
    model = make_attention_lstm()
    assert isinstance(model, CausalLanguageModel)
    assert isinstance(model.new_cache(1, 8), ModelCache)
    assert model.max_context is None and model.vocab_size == 60


@pytest.mark.parametrize("kind", KINDS)
def test_each_step_attends_over_exactly_the_window_before_it(kind):
    attention = make_attention_lstm(kind).attention  # window 5
    outputs = torch.randn(2, 12, 24)
    history = outputs.new_zeros(2, 0, 24)
    mixed = attention(outputs, history)
    too_old, oldest_seen = outputs.clone(), outputs.clone()
    too_old[:, 4] += 1.0  # 6 steps before step 10
    oldest_seen[:, 5] += 1.0  # 5 steps before step 10
    torch.testing.assert_close(attention(too_old, history)[:, 10], mixed[:, 10])
    assert not torch.allclose(attention(oldest_seen, history)[:, 10], mixed[:, 10])
    # The first step has nothing to look at: h* = tanh(W_x h_0) alone.
    torch.testing.assert_close(mixed[:, 0], torch.tanh(attention.mix_output(outputs[:, 0])))


@pytest.mark.parametrize("kind", KINDS)
def test_crop_then_refeed_gives_the_logits_of_a_fresh_run(kind):
    model = make_attention_lstm(kind)
    tokens = torch.randint(0, 60, (2, 60))
    full, _ = model(tokens)
    cache = model.new_cache(2, 16)
    feed(model, tokens[:, :50], cache, [40] + [1] * 10)  # a prefill, then single-token steps
    for target in (49, 47, 41, 37, 33, 32, 20, 3, 0):
        kept = cache.crop(target)
        assert kept <= target
        logits, _ = model(tokens[:, kept:60], cache)
        torch.testing.assert_close(logits, full[:, kept:60], atol=ATOL, rtol=0)
        assert cache.length == 60
        cache.crop(50)
    # Rewinding to a single-token step, the end of a prefill or a multiple of 16 is exact.
    cache = model.new_cache(2, 16)
    feed(model, tokens[:, :50], cache, [40] + [1] * 10)
    assert [cache.crop(n) for n in (48, 45, 40, 39, 32)] == [48, 45, 40, 39, 32]
    assert cache.crop(31) == 16  # older positions fall back to the anchor before them
    assert cache.crop(100) == 16  # cropping past the end keeps everything


def test_reorder_and_repeat_rows_follow_each_beam():
    model = make_attention_lstm("dot")
    prompt = torch.randint(0, 60, (1, 23))
    prompt_cache = model.new_cache(1, 8)
    model(prompt, prompt_cache)
    beams = prompt_cache.repeat_rows(3)
    assert beams.batch_size == 3 and beams.length == 23 and prompt_cache.batch_size == 1
    histories = [prompt[0].tolist() for _ in range(3)]
    generator = torch.Generator().manual_seed(1)
    for step in range(12):
        new = torch.randint(0, 60, (3, 1), generator=generator)
        logits, _ = model(new, beams)
        for row in range(3):
            histories[row].append(int(new[row, 0]))
            expected, _ = model(torch.tensor([histories[row]]))
            torch.testing.assert_close(logits[row, -1], expected[0, -1], atol=ATOL, rtol=0)
        order = torch.tensor([[2, 0, 0], [1, 1, 2], [0, 1, 2]][step % 3])
        beams.reorder(order)
        histories = [list(histories[i]) for i in order.tolist()]
    # After the reshuffles a rewind still restores each row's own past.
    kept = beams.crop(30)
    assert kept == 30
    logits, _ = model(torch.tensor([h[30:] for h in histories]), beams)
    for row in range(3):
        expected, _ = model(torch.tensor([histories[row]]))
        torch.testing.assert_close(logits[row], expected[0, 30:], atol=ATOL, rtol=0)
    # The prompt cache was not disturbed by its copies.
    more = torch.randint(0, 60, (1, 4))
    logits, _ = model(more, prompt_cache)
    expected, _ = model(torch.cat([prompt, more], dim=1))
    torch.testing.assert_close(logits, expected[:, 23:], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_keep_the_logits(tmp_path, tiny_tokenizer, kind):
    model = make_attention_lstm(
        kind, vocab=tiny_tokenizer.vocab_size, n_embd=16, hidden_size=32
    )  # 32 -> 16 projection
    folder = save_checkpoint(tmp_path / "lstm", model, tiny_tokenizer)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "inkling-attention-lstm"
    assert config["attention_kind"] == kind and config["hidden_size"] == 32 and config["eos_token_id"] == 0
    tokens = torch.tensor([tiny_tokenizer.encode(SAMPLE_TEXT[:200])])
    expected, _ = model(tokens)
    loaded = load_checkpoint(folder)
    assert loaded.model.config.attention_kind == kind
    torch.testing.assert_close(loaded.model(tokens)[0], expected, atol=0, rtol=0)
    lm = engine.load(str(folder), device="cpu")
    assert lm.architecture == "Attention-LSTM" and lm.max_context is None
    torch.testing.assert_close(lm.model(tokens)[0], expected, atol=0, rtol=0)
    # Saving again round-trips too (the tied output reuses wte, so nothing is lost or duplicated).
    again = load_checkpoint(save_checkpoint(tmp_path / "again", loaded.model, tiny_tokenizer))
    torch.testing.assert_close(again.model(tokens)[0], expected, atol=0, rtol=0)


def test_bad_attention_lstm_config_is_a_checkpoint_error(tmp_path, tiny_tokenizer):
    folder = save_checkpoint(tmp_path / "lstm", make_attention_lstm(vocab=tiny_tokenizer.vocab_size), tiny_tokenizer)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "attention_kind": "cosine"}))
    with pytest.raises(CheckpointError, match="attention_kind"):
        load_checkpoint(folder)
    config_path.write_text(json.dumps({**config, "hidden_size": 40}))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(folder)


def test_bits_per_byte_equals_the_hand_summed_log_probabilities(tmp_path, tiny_tokenizer):
    model = make_attention_lstm(vocab=tiny_tokenizer.vocab_size)
    lm = engine.load(str(save_checkpoint(tmp_path / "lstm", model, tiny_tokenizer)), device="cpu")
    text = SAMPLE_TEXT * 2  # about 1000 tokens
    ids = [0] + tiny_tokenizer.encode(text)
    assert len(ids) > 512  # more than one of the recurrent scorer's 512-token chunks
    with torch.no_grad():
        logprobs = F.log_softmax(model(torch.tensor([ids]))[0][0], dim=-1)
    nats = -sum(logprobs[i - 1, ids[i]].item() for i in range(1, len(ids)))
    expected = nats / math.log(2) / len(text.encode("utf-8"))
    assert lm.bits_per_byte(text, memory=False) == pytest.approx(expected, rel=1e-5)


def test_training_a_tiny_attention_lstm_lowers_validation_loss(tmp_path, tiny_tokenizer):
    from engine.training.trainer import TrainingError, TrainSettings, train

    data = tmp_path / "books"
    data.mkdir()
    for index in range(8):  # several documents, so the split by document leaves some for validation
        (data / f"book{index}.txt").write_text(SAMPLE_TEXT, encoding="utf-8")
    tokenizer_file = tmp_path / "tokenizer.json"
    tiny_tokenizer.backend.save(str(tokenizer_file))
    settings = TrainSettings(
        data=[str(data)],
        out=str(tmp_path / "out"),
        arch="attention-lstm",
        size="tiny",
        tokenizer=str(tokenizer_file),
        steps=40,
        batch_size=8,
        block_size=32,
        learning_rate=1e-2,
        warmup_steps=5,
        eval_every=1000,
        eval_batches=2,
        validation_fraction=0.3,
        cache_dir=str(tmp_path / "cache"),
        device="cpu",
    )
    result = train(settings)
    assert result.validation_bpb_after < result.validation_bpb_before - 0.5
    trained = load_checkpoint(result.out)
    assert trained.model.model_type == "inkling-attention-lstm"
    assert trained.tokenizer.backend.to_str() == tiny_tokenizer.backend.to_str()
    with pytest.raises(TrainingError, match="--init or --tokenizer"):
        train(
            TrainSettings(
                data=[str(data)],
                out=str(tmp_path / "x"),
                init=str(result.out),
                tokenizer=str(tokenizer_file),
                steps=1,
            )
        )


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_decoding_while_typing_reuses_the_cache_and_matches_a_cold_model(tmp_path, tiny_tokenizer, strategy):
    folder = save_checkpoint(tmp_path / "lstm", make_attention_lstm(vocab=tiny_tokenizer.vocab_size), tiny_tokenizer)
    warm = engine.load(str(folder), device="cpu")
    settings = plain_settings(strategy=strategy, max_new_tokens=6, num_beams=3, num_alternatives=2)
    base = SAMPLE_TEXT[:300]
    # Keystrokes: each prompt shares a long prefix with the one before (the cache rewinds, reads the rest).
    prompts = (base + " The quick bro", base + " The quick brow", base + " The quick brown", base[:250])
    for index, prompt in enumerate(prompts):
        cold = engine.load(str(folder), device="cpu")
        got, expected = warm.complete(prompt, settings), cold.complete(prompt, settings)
        # Same choices; log-probabilities agree up to float rounding (segments of a different length).
        assert [c.token_ids for c in got] == [c.token_ids for c in expected]
        assert [c.logprob for c in got] == pytest.approx([c.logprob for c in expected], abs=1e-4)
        if index:  # after the first prompt most of each one comes from the cache
            assert warm.generator.last_prefill["reused_tokens"] > 50
            assert warm.generator.last_prefill["prefill_tokens"] < 20
