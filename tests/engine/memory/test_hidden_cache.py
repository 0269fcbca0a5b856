"""The continuous cache: its mixture by hand, no peeking in scoring, the document's states kept in step with edits,
decoding and ``bits_per_byte`` drawing from it, the weights' file and their fitting."""

from __future__ import annotations

import json
import math

import pytest
import torch

from engine.memory import CacheWeights, HiddenStateCache, MixtureWeights
from engine.memory.fitting import collect_cache_samples, fit_cache_on_texts, fit_cache_weights
from engine.memory.hidden_cache import SIMILARITY_EDGES
from engine.models.hidden_states import FinalHiddenStates
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings

EVERYWHERE = CacheWeights.by_similarity(tuple(0.5 for _ in SIMILARITY_EDGES), theta=2.0)
TRUSTED = CacheWeights.by_similarity(tuple(0.97 for _ in SIMILARITY_EDGES), theta=20.0)


def unit(*values: float) -> torch.Tensor:
    v = torch.tensor(values, dtype=torch.float32)
    return v / v.norm()


def test_the_mixture_matches_a_hand_computation():
    cache = HiddenStateCache(dtype=torch.float32)
    cache.extend(torch.stack([unit(1, 0), unit(0, 1), unit(1, 1)]), [2, 3, 2])
    logprobs = torch.log_softmax(torch.tensor([[0.5, 0.1, -0.3, 0.2, 0.0]]), dim=-1)
    query = unit(1, 0.2)
    mixed = cache.mix(logprobs, query.unsqueeze(0), EVERYWHERE)
    similarity = torch.stack([unit(1, 0), unit(0, 1), unit(1, 1)]) @ query
    kernel = torch.exp(2.0 * (similarity - 1))
    p_cache = torch.zeros(5)
    p_cache[2] = kernel[0] + kernel[2]
    p_cache[3] = kernel[1]
    p_cache /= p_cache.sum()
    expected = 0.5 * logprobs[0].exp() + 0.5 * p_cache
    assert torch.allclose(mixed[0].exp(), expected, atol=1e-6)
    assert mixed[0].exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_bfloat16_keys_mix_within_a_small_tolerance_of_float32_ones():
    torch.manual_seed(0)
    states, followers = torch.randn(600, 256), torch.randint(0, 50, (600,)).tolist()
    queries = states[-4:] + 0.3 * torch.randn(4, 256)  # alike, not equal: similarities across the buckets
    logprobs = torch.log_softmax(torch.randn(4, 50), dim=-1)
    mixed = {}
    for dtype in (torch.float32, torch.bfloat16):
        cache = HiddenStateCache(dtype=dtype)
        cache.extend(states, followers)
        mixed[dtype] = cache.mix(logprobs, queries, TRUSTED).exp()
    assert not torch.allclose(mixed[torch.float32], logprobs.exp(), atol=1e-2)  # the cache did change the rows
    assert torch.allclose(mixed[torch.bfloat16], mixed[torch.float32], atol=2e-3)


def test_followers_outside_the_scores_vocabulary_get_no_mass():
    cache = HiddenStateCache(dtype=torch.float32)
    cache.extend(torch.stack([unit(1, 0), unit(1, 0.1), unit(0, 1)]), [7, 1, 2])  # 7: no column in 5 scores
    logprobs = torch.log_softmax(torch.tensor([[0.5, 0.1, -0.3, 0.2, 0.0]]), dim=-1)
    mixed = cache.mix(logprobs, unit(1, 0).unsqueeze(0), EVERYWHERE)
    similarity = torch.stack([unit(1, 0.1), unit(0, 1)]) @ unit(1, 0)
    kernel = torch.exp(2.0 * (similarity - 1))
    p_cache = torch.zeros(5)
    p_cache[1], p_cache[2] = kernel[0], kernel[1]
    expected = 0.5 * logprobs[0].exp() + 0.5 * p_cache / p_cache.sum()
    assert torch.allclose(mixed[0].exp(), expected, atol=1e-6)


def test_tokens_the_scores_forbid_stay_impossible_and_rows_sum_to_one():
    cache = HiddenStateCache()
    cache.extend(torch.stack([unit(1, 0), unit(0.9, 0.1)]), [1, 4])
    # Token 4 is ruled out (token healing, say), as decoding's normalised scores have it.
    logprobs = torch.log_softmax(torch.tensor([[0.5, 0.1, -0.3, 0.2, -math.inf]]), dim=-1)
    mixed = cache.mix(logprobs, unit(1, 0).unsqueeze(0), EVERYWHERE)
    assert mixed[0, 4].item() == -math.inf
    assert mixed[0].exp().sum().item() == pytest.approx(1.0, abs=1e-6)
    # The cache's only allowed follower ruled out too: the row is unchanged.
    everything_forbidden = torch.log_softmax(torch.tensor([[0.5, -math.inf, -0.3, 0.2, -math.inf]]), dim=-1)
    assert torch.equal(cache.mix(everything_forbidden, unit(1, 0).unsqueeze(0), EVERYWHERE), everything_forbidden)


def test_an_empty_cache_or_zero_weights_change_nothing():
    logprobs = torch.log_softmax(torch.randn(2, 6), dim=-1)
    assert cache_mix(HiddenStateCache(), logprobs, EVERYWHERE) is logprobs
    full = HiddenStateCache()
    full.extend(torch.randn(4, 3), [1, 2, 3, 4])
    off = CacheWeights.by_similarity(tuple(0.0 for _ in SIMILARITY_EDGES))
    assert cache_mix(full, logprobs, off) is logprobs


def cache_mix(cache: HiddenStateCache, logprobs: torch.Tensor, weights: CacheWeights) -> torch.Tensor:
    return cache.mix(logprobs, torch.randn(logprobs.shape[0], 3), weights)


def test_scoring_online_sees_only_the_pairs_before_each_row():
    torch.manual_seed(0)
    states, followers = torch.randn(6, 4), [1, 2, 1, 3, 2, 1]
    logprobs = torch.log_softmax(torch.randn(6, 5), dim=-1)
    together = HiddenStateCache().mix_online(logprobs, states, followers, EVERYWHERE)
    one_by_one, rows = HiddenStateCache(), []
    for r in range(6):  # the cache as it stood before row r, by plain extends
        rows.append(one_by_one.mix(logprobs[r : r + 1], states[r : r + 1], EVERYWHERE))
        one_by_one.extend(states[r : r + 1], followers[r : r + 1])
    assert torch.allclose(together, torch.cat(rows), atol=1e-6)
    assert torch.equal(together[0], logprobs[0])  # nothing before the first row


def test_the_cap_keeps_the_newest_pairs_and_truncate_counts_from_the_start():
    cache = HiddenStateCache(max_positions=4)
    cache.extend(torch.eye(6), [0, 1, 2, 3, 4, 5])
    assert (cache.start, cache.end, len(cache)) == (2, 6, 4)
    best = cache.best_similarity(torch.eye(6))
    assert best[:2].tolist() == [0.0, 0.0] and best[2:].tolist() == [1.0] * 4  # rows 0-1 were dropped
    cache.truncate(5)
    assert (cache.start, cache.end) == (2, 5)
    cache.truncate(1)
    assert (cache.start, cache.end, len(cache)) == (0, 0, 0)


def test_the_weights_file_keeps_the_cache_and_refuses_a_broken_one(tmp_path):
    weights = MixtureWeights.constant(0.3).with_cache(EVERYWHERE)
    path = tmp_path / "memory_weights.json"
    weights.save(path)
    loaded = MixtureWeights.load(path)
    assert loaded.cache == EVERYWHERE
    assert MixtureWeights.load(_saved(tmp_path, MixtureWeights.constant(0.3))).cache is None
    data = json.loads(path.read_text())
    data["continuous_cache"]["weights"] = [0.5]  # fewer weights than buckets
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="continuous-cache weights are unreadable"):
        MixtureWeights.load(path)


def _saved(tmp_path, weights: MixtureWeights):
    path = tmp_path / "plain.json"
    weights.save(path)
    return path


# --- with a model --------------------------------------------------------------------------------------------


@pytest.fixture
def caching(tiny_gpt2):
    """The tiny random model with the n-gram memory off and a continuous cache it trusts almost completely, as
    given (weights learned from the document: tests/engine/memory/test_online_weights.py)."""
    tiny_gpt2.memory.weights = MixtureWeights.zeros().with_cache(TRUSTED)
    tiny_gpt2.memory.learning = False
    return tiny_gpt2


def test_the_hidden_states_are_what_the_output_layer_reads(tiny_gpt2):
    ids = [0] + tiny_gpt2.tokenizer.encode(SAMPLE_TEXT[:200])
    states = tiny_gpt2.hidden_states(ids)
    assert states.shape == (len(ids) - 1, tiny_gpt2.model.config.n_embd)
    with torch.no_grad():
        logits, _ = tiny_gpt2.model(torch.tensor([ids]))
        assert torch.allclose(states @ tiny_gpt2.model.wte.weight.T, logits[0, :-1], atol=1e-4)
    with FinalHiddenStates(tiny_gpt2.model) as hidden:
        assert hidden.available
    assert not tiny_gpt2.model.ln_f._forward_hooks  # closed: the hook is gone


def test_scoring_with_the_cache_never_peeks(caching):
    ids = [0] + caching.tokenizer.encode(SAMPLE_TEXT[:500])
    full = caching.token_logprobs(ids, memory=True)
    prefix = caching.token_logprobs(ids[:60], memory=True)
    assert prefix == pytest.approx(full[:59], abs=1e-5)  # what comes later changes nothing before it
    alone = caching.token_logprobs(ids, memory=False)
    assert full[0] == pytest.approx(alone[0], abs=1e-6)  # nothing cached before the first prediction
    assert caching.bits_per_byte(SAMPLE_TEXT) < caching.bits_per_byte(SAMPLE_TEXT, memory=False) - 0.5


def test_decoding_catches_up_the_documents_states_after_a_request_and_follows_edits(caching):
    memory = caching.memory
    settings = plain_settings(memory=True, max_new_tokens=2, token_healing=False)
    caching.complete(SAMPLE_TEXT, settings)
    assert len(memory.states) > 0  # read after the request's last event
    assert memory.states.end <= len(memory.document.tokens) - 1
    caching.complete(SAMPLE_TEXT[:40], settings)  # most of the document deleted
    assert memory.states.end <= max(0, len(memory.document.tokens) - 1)


def test_greedy_reports_the_cache_mixture_and_the_model_alone_is_untouched(caching):
    settings = plain_settings(memory=True, max_new_tokens=3, token_healing=False)
    generator = caching.generator
    caching.complete(SAMPLE_TEXT, settings)
    while generator.catch_up_states(caching.memory):  # a window a call: read the whole document
        pass
    [completion] = caching.complete(SAMPLE_TEXT, settings)
    prompt = generator.prepare(SAMPLE_TEXT, settings)
    with torch.no_grad(), FinalHiddenStates(caching.model) as hidden:
        logits, _ = caching.model(torch.tensor([prompt.tokens]))
        states = hidden.latest[:, -1]
    logprobs = torch.log_softmax(logits[:, -1].float(), dim=-1)
    expected = caching.memory.states.mix(logprobs, states, TRUSTED)[0, completion.token_ids[0]].item()
    assert completion.token_logprobs[0] == pytest.approx(expected, abs=1e-4)
    [alone] = caching.complete(SAMPLE_TEXT, settings.replace(memory=False))
    assert alone.token_logprobs[0] == pytest.approx(logprobs[0, alone.token_ids[0]].item(), abs=1e-4)


def test_the_cache_weights_are_fitted_where_the_cache_helps(tiny_gpt2):
    helpful = [(2000, 0.97, 0.01, 0.9)] * 50 + [(2000, 0.3, 0.2, 0.0)] * 50
    weights = fit_cache_weights(helpful, theta=20.0)
    assert weights.weight(0.97, 2000) > 0.8
    assert weights.weight(0.3, 2000) == 0.0
    samples = collect_cache_samples(tiny_gpt2, SAMPLE_TEXT[:300], thetas=(20.0,))[20.0]
    assert samples[0][:2] == (0, -2.0) and samples[0][3] == 0.0  # nothing before the first token
    assert [seen for seen, *_ in samples[:5]] == [0, 1, 2, 3, 4]
    assert all(0.0 <= q <= 1.0 and 0.0 < p <= 1.0 for _seen, _best, p, q in samples)
    fitted = fit_cache_on_texts(tiny_gpt2, [SAMPLE_TEXT], thetas=(10.0, 20.0))
    assert fitted.theta in (10.0, 20.0) and max(max(row) for row in fitted.weights) > 0  # four copies: it pays


def test_a_cache_that_has_seen_little_is_trusted_as_fitted_for_its_size():
    # Where the cache saw few positions its guesses missed; once it had seen many they were right.
    samples = [(10, 0.97, 0.3, 0.0)] * 50 + [(3000, 0.97, 0.01, 0.9)] * 50
    weights = fit_cache_weights(samples)
    assert weights.weight(0.97, 10) == 0.0 and weights.weight(0.97, 3000) > 0.8
    logprobs = torch.log_softmax(torch.zeros(1, 4), dim=-1)
    few = HiddenStateCache(dtype=torch.float32)
    few.extend(torch.stack([unit(1, 0)] * 3), [2, 2, 2])
    assert torch.equal(few.mix(logprobs, unit(1, 0).unsqueeze(0), weights), logprobs)  # too few to be trusted
    many = HiddenStateCache(dtype=torch.float32)
    many.extend(torch.stack([unit(1, 0)] * 3000), [2] * 3000)
    assert many.mix(logprobs, unit(1, 0).unsqueeze(0), weights)[0].argmax().item() == 2


def test_weights_written_before_sizes_were_counted_still_load():
    old = {"theta": 20.0, "similarity_edges": list(SIMILARITY_EDGES), "weights": [0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3]}
    weights = CacheWeights.from_dict(old)
    assert weights.size_edges == (0,) and weights.weight(0.97, 5) == weights.weight(0.97, 5000) == 0.3
    assert CacheWeights.from_dict(weights.to_dict()) == weights


def test_the_attention_lstm_scores_with_the_cache_across_its_chunks_without_peeking(tmp_path, tiny_tokenizer):
    import engine
    from engine.loading.checkpoint import save_checkpoint
    from tests.support.tiny_models import make_attention_lstm

    model = make_attention_lstm(vocab=tiny_tokenizer.vocab_size)
    lm = engine.load(str(save_checkpoint(tmp_path / "lstm", model, tiny_tokenizer)), device="cpu")
    lm.memory.weights = MixtureWeights.zeros().with_cache(TRUSTED)
    ids = [0] + tiny_tokenizer.encode(SAMPLE_TEXT * 2)
    assert len(ids) > 600  # past the recurrent scorer's first 512-token chunk
    states = lm.hidden_states(ids)
    assert states.shape[0] == len(ids) - 1
    with torch.no_grad(), FinalHiddenStates(model) as hidden:
        model(torch.tensor([ids[:600]]))
        assert torch.allclose(hidden.latest[0, :599], states[:599], atol=1e-4)  # row i: after token i
    full = lm.token_logprobs(ids, memory=True)
    assert lm.token_logprobs(ids[:560], memory=True) == pytest.approx(full[:559], abs=1e-5)
    assert sum(full) > sum(lm.token_logprobs(ids, memory=False))  # the second copy is recalled


def test_hovering_a_word_the_cache_gave_shows_where_the_document_has_it(caching):
    settings = plain_settings(memory=True, max_new_tokens=3, token_healing=False)
    text = SAMPLE_TEXT + "The quick brown fox jumps over the"  # " lazy dog." followed this, four times
    caching.complete(text, settings)
    while caching.generator.catch_up_states(caching.memory):
        pass
    [completion] = caching.complete(text, settings)
    assert completion.text.startswith(" lazy")
    source = caching.memory_source(text, "", completion.text, settings)
    assert source is not None and source.where == "document"
    assert source.share > 0.5  # the n-gram memory is off here: the cache gave it
    assert "lazy" in source.passage
    assert 1 <= source.line <= text.count("\n") + 1
    assert caching.memory_source(text, "", completion.text, settings.replace(memory=False)) is None


def test_an_edit_that_keeps_the_number_of_pairs_still_changes_what_the_cache_predicts():
    cache = HiddenStateCache(dtype=torch.float32)
    cache.extend(torch.stack([unit(1, 0), unit(0, 1)]), [1, 2])
    logprobs = torch.log_softmax(torch.zeros(1, 5), dim=-1)
    before = cache.mix(logprobs, unit(0, 1).unsqueeze(0), TRUSTED)
    cache.truncate(1)  # the second pair's token was edited: same count of pairs again, another follower
    cache.extend(unit(0, 1).unsqueeze(0), [3])
    after = cache.mix(logprobs, unit(0, 1).unsqueeze(0), TRUSTED)
    assert before[0].argmax().item() == 2 and after[0].argmax().item() == 3
