"""The memory's statistics and its mixture: n-gram counts, incremental document updates, suffix-array lookups,
the mixing rule and the weights table."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from engine.memory import DocumentMemory, Match, MixtureWeights, NgramCounts, mix_logprobs
from engine.memory.document import PIECE_CHARS, common_prefix_length
from engine.memory.match import merge
from engine.memory.suffix_index import SuffixIndex
from engine.memory.weights import fit
from tests.support.samples import SAMPLE_TEXT


def brute_longest(documents: list[list[int]], tail: list[int], max_order: int) -> Match | None:
    best = None
    for length in range(1, min(max_order, len(tail)) + 1):
        context, counts = tail[-length:], {}
        for doc in documents:
            for i in range(length, len(doc)):
                if doc[i - length : i] == context:
                    counts[doc[i]] = counts.get(doc[i], 0) + 1
        if counts:
            ids = tuple(sorted(counts))
            best = Match(length, ids, tuple(counts[t] for t in ids))
    return best


def test_ngram_counts_and_suffix_index_find_the_longest_match_with_its_counts():
    rng = random.Random(1)
    for _ in range(150):
        docs = [[rng.randint(0, 4) for _ in range(rng.randint(1, 40))] for _ in range(rng.randint(1, 3))]
        order = rng.randint(1, 7)
        tail = [rng.randint(0, 4) for _ in range(rng.randint(1, 9))]
        expected = brute_longest(docs, tail, order)
        assert SuffixIndex.build(docs, order).longest(tail) == expected
        counts = NgramCounts(order)
        counts.append(docs[0])
        assert counts.longest(tail) == brute_longest(docs[:1], tail, order)


def test_truncating_counts_equals_counting_the_shorter_sequence():
    rng = random.Random(2)
    tokens = [rng.randint(0, 5) for _ in range(300)]
    counts = NgramCounts(6)
    counts.append(tokens)
    for length in (250, 249, 100, 3, 0):
        counts.truncate(length)
        fresh = NgramCounts(6)
        fresh.append(tokens[:length])
        assert counts.snapshot() == fresh.snapshot()
        assert counts.tokens == tokens[:length]


def test_common_prefix_length():
    rng = random.Random(3)
    for _ in range(500):
        a = "".join(rng.choice("ab") for _ in range(rng.randint(0, 15)))
        b = "".join(rng.choice("ab") for _ in range(rng.randint(0, 15)))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        assert common_prefix_length(a, b) == n


def test_incremental_document_updates_equal_a_rebuild(tiny_tokenizer):
    rng = random.Random(4)
    memory = DocumentMemory(tiny_tokenizer, max_order=8)
    text = ""
    source = SAMPLE_TEXT * 3
    for _ in range(60):
        action = rng.choice(["type", "type", "delete", "edit", "paste"])
        if action == "type":
            text += source[len(text) % len(source) : len(text) % len(source) + rng.randint(1, 5)]
        elif action == "delete":
            text = text[: max(0, len(text) - rng.randint(1, 30))]
        elif action == "edit" and text:
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(["x", " and ", "\n"]) + text[at + 1 :]
        else:
            text += source[: rng.randint(50, 700)]
        memory.update(text)
        fresh = DocumentMemory(tiny_tokenizer, max_order=8)
        fresh.update(text)
        assert memory.tokens == fresh.tokens
        assert memory.counts.snapshot() == fresh.counts.snapshot()
        # The pieces' tokens are the whole text's for this byte-level tokenizer.
        assert memory.tokens == tiny_tokenizer.encode(text)


def test_a_keystroke_rereads_one_piece_not_the_document(tiny_tokenizer):
    read: list[int] = []

    class Counting:
        def encode(self, text):
            read.append(len(text))
            return tiny_tokenizer.encode(text)

    memory = DocumentMemory(Counting())
    text = SAMPLE_TEXT * 20  # ~20k characters
    memory.update(text)
    read.clear()
    memory.update(text + "x")
    assert sum(read) <= 2 * PIECE_CHARS + 50
    read.clear()
    memory.update(text[:-7])  # backspaces
    assert sum(read) <= 2 * PIECE_CHARS + 50


def test_merge_takes_the_longest_and_adds_ties():
    a = Match(3, (1, 2), (2, 1))
    b = Match(3, (2, 5), (4, 1))
    c = Match(2, (7,), (9,))
    merged = merge([a, None, b, c])
    assert merged == Match(3, (1, 2, 5), (2, 5, 1))
    assert merge([None, None]) is None


def test_mixture_equals_a_hand_computation():
    model = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    match = Match(2, (1, 3), (3, 1))
    w = 0.5
    mixed = mix_logprobs(model.log(), [match], MixtureWeights.constant(w)).exp()
    expected = [(1 - w) * 0.1, (1 - w) * 0.2 + w * 0.75, (1 - w) * 0.3, (1 - w) * 0.4 + w * 0.25]
    assert mixed[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_memory_mass_stays_off_tokens_the_model_side_forbids():
    # Token 3 is masked (healing, a penalty, the never-suggest list): the memory's share goes to token 1 only.
    model = torch.tensor([[0.25, 0.25, 0.5, 0.0]])
    match = Match(2, (1, 3), (1, 3))
    mixed = mix_logprobs(model.log(), [match], MixtureWeights.constant(0.4)).exp()[0]
    assert mixed.tolist() == pytest.approx([0.15, 0.15 + 0.4, 0.3, 0.0], abs=1e-6)
    assert float(mixed.sum()) == pytest.approx(1.0, abs=1e-6)
    # No allowed token in memory: the row is the model's.
    only_forbidden = Match(2, (3,), (5,))
    assert torch.equal(mix_logprobs(model.log(), [only_forbidden], MixtureWeights.constant(0.4)), model.log())


def test_every_mixed_row_sums_to_one():
    torch.manual_seed(0)
    logprobs = torch.log_softmax(torch.randn(6, 50) * 4, dim=-1)
    logprobs[2, :10] = float("-inf")
    logprobs = torch.log_softmax(logprobs, dim=-1)
    rng = random.Random(5)
    matches = []
    for _ in range(6):
        ids = tuple(sorted(rng.sample(range(50), rng.randint(1, 6))))
        matches.append(Match(rng.randint(1, 12), ids, tuple(rng.randint(1, 9) for _ in ids)))
    matches[4] = None
    mixed = mix_logprobs(logprobs, matches, MixtureWeights.constant(0.7))
    assert mixed.exp().sum(dim=-1).tolist() == pytest.approx([1.0] * 6, abs=1e-5)
    assert torch.equal(mixed[4], logprobs[4])


def test_weights_depend_on_the_context_facts_and_fit_prefers_a_reliable_memory():
    reliable = Match(8, (1,), (30,))
    unreliable = Match(1, tuple(range(9)), (5,) * 9)
    samples = [(reliable, 0.1, 1.0)] * 50 + [(reliable, 0.1, 0.0)] * 2
    samples += [(unreliable, 0.3, 0.0)] * 45 + [(unreliable, 0.3, 0.1)] * 5
    weights = fit(samples)
    assert weights.weight(reliable) > 0.8
    assert weights.weight(unreliable) < 0.1
    assert weights.weight(None) == 0.0


def test_weights_round_trip_and_a_foreign_file_is_refused(tmp_path):
    weights = MixtureWeights(np.random.default_rng(0).uniform(0, 0.9, MixtureWeights.zeros().table.shape))
    path = tmp_path / "w.json"
    weights.save(path)
    assert np.allclose(MixtureWeights.load(path).table, weights.table, atol=1e-4)
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an Inkling memory-weights file"):
        MixtureWeights.load(path)


def test_the_shipped_default_weights_trust_long_repeated_matches():
    weights = MixtureWeights.default()
    assert weights.note  # says what it was fitted on
    long_repeat = Match(12, (5,), (3,))
    one_token = Match(1, tuple(range(30)), (4,) * 30)
    assert weights.weight(long_repeat) > 0.5
    assert weights.weight(one_token) < weights.weight(long_repeat)
    assert all(0 <= w < 1 for w in weights.table.flat)
    assert math.isfinite(float(weights.table.sum()))


def test_a_model_folder_may_ship_its_own_weights(tiny_gpt2_folder):
    import engine
    from engine.language_model import MODEL_WEIGHTS_FILE

    MixtureWeights.constant(0.25).save(tiny_gpt2_folder / MODEL_WEIGHTS_FILE)
    lm = engine.load(str(tiny_gpt2_folder), device="cpu")
    assert lm.memory.weights.weight(Match(3, (1,), (2,))) == pytest.approx(0.25)
