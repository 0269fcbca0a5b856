"""Decoding end to end on tiny random models of both families: strategies, streaming, stop rules, healing."""

from __future__ import annotations

import pytest
import torch

from engine.decoding.beam import length_normalised
from engine.decoding.generator import Generator
from tests.support.decoding import FAMILIES, CountingModel, generator_with, load_tiny, scripted
from tests.support.settings import plain_settings

S = plain_settings
SCRIPT = "The quick brown fox jumps over the lazy dog. It was cold"


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture
def lm(family, tmp_path, tiny_tokenizer):
    return load_tiny(family, tmp_path / family, tiny_tokenizer)


@pytest.fixture
def lm_without_eos(family, tmp_path, tiny_tokenizer):
    return load_tiny(family, tmp_path / f"{family}-no-eos", tiny_tokenizer, eos_token_id=None)


def assert_same(warm, cold) -> None:
    """Same tokens and texts; log-probabilities equal up to float rounding (chunked vs whole prefill)."""
    assert [c.token_ids for c in warm] == [c.token_ids for c in cold]
    assert [(c.text, c.token_texts, c.finish_reason) for c in warm] == [
        (c.text, c.token_texts, c.finish_reason) for c in cold]
    for w, c in zip(warm, cold):
        assert w.token_logprobs == pytest.approx(c.token_logprobs, abs=1e-4)


def argmax_loop(model, ids: list[int], steps: int) -> list[int]:
    """Greedy decoding by re-reading the whole sequence every step: no cache involved."""
    ids = list(ids)
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model(torch.tensor([ids]), None)
            ids.append(int(logits[0, -1].argmax()))
    return ids


# --- greedy and sampling -----------------------------------------------------------------------------------


def test_greedy_equals_an_uncached_argmax_loop(lm_without_eos):
    lm = lm_without_eos
    text = "It was a bright cold day"
    [completion] = lm.complete(text, S(max_new_tokens=10, token_healing=False))
    prompt = lm.tokenizer.encode(text)
    assert list(completion.token_ids) == argmax_loop(lm.model, prompt, 10)[len(prompt):]
    assert completion.finish_reason == "length" and len(completion.token_ids) == 10
    assert completion.text == lm.tokenizer.decode(list(completion.token_ids))
    assert "".join(completion.token_texts) == completion.text
    assert completion.logprob == pytest.approx(sum(completion.token_logprobs))
    assert all(lp <= 0 for lp in completion.token_logprobs) and completion.seed is None


def test_document_start_is_read_after_end_of_text(lm):
    text = "The dog"
    [completion] = lm.complete(text, S(max_new_tokens=5, token_healing=False))
    ids = [lm.eos_token_id] + lm.tokenizer.encode(text)
    expected = argmax_loop(lm.model, ids, 5)[len(ids):]
    # Generation may end early at end-of-text; what it produced follows the uncached argmax path.
    assert list(completion.token_ids) == expected[: len(completion.token_ids)]


def test_sampling_with_a_seed_is_reproducible_and_seeds_differ(lm):
    settings = S(strategy="sample", max_new_tokens=12, seed=1234, temperature=1.5)
    first = lm.complete("The quick", settings)[0]
    again = lm.complete("The quick", settings)[0]
    assert first == again and first.seed == 1234
    others = {lm.complete("The quick", settings.replace(seed=seed))[0].token_ids for seed in range(6)}
    assert len(others) > 1


def test_sampling_without_a_seed_records_the_seed_it_used(lm):
    settings = S(strategy="sample", max_new_tokens=12, temperature=1.5)
    runs = [lm.complete("The quick", settings)[0] for _ in range(4)]
    assert all(isinstance(run.seed, int) for run in runs)
    assert len({run.seed for run in runs}) == 4
    replay = lm.complete("The quick", settings.replace(seed=runs[0].seed))[0]
    assert replay.token_ids == runs[0].token_ids


def test_sampling_limited_to_the_top_token_is_greedy(lm):
    greedy = lm.complete("The dog", S(max_new_tokens=8))[0]
    for settings in (S(strategy="sample", top_k=1, seed=3), S(strategy="sample", temperature=0.0, seed=3),
                     S(strategy="sample", top_p=1e-6, seed=3), S(strategy="sample", min_p=0.999, seed=3)):
        sampled = lm.complete("The dog", settings.replace(max_new_tokens=8))[0]
        assert sampled.token_ids == greedy.token_ids


def test_end_of_text_ends_generation(lm, tiny_tokenizer):
    generator = scripted(lm, " fox jumps", bonus=200.0)
    [completion] = generator.complete("The fox", S(max_new_tokens=10, token_healing=False))
    assert completion.finish_reason == "eos"
    assert completion.text == " jumps"
    assert lm.eos_token_id not in completion.token_ids


def test_repetition_penalty_and_no_repeat_ngram_stop_a_loop(lm_without_eos):
    lm = lm_without_eos
    text = "The dog sleeps in the warm sun"
    looping = lm.complete(text, S(max_new_tokens=16, token_healing=False))[0]
    prompt = lm.tokenizer.encode(text)

    def repeats(ids):
        return len(ids) - len(set(ids))

    # The random model repeats itself; a strong penalty makes it choose tokens it has not seen.
    assert repeats(looping.token_ids) > 4
    penalised = lm.complete(text, S(max_new_tokens=16, token_healing=False, repetition_penalty=50.0))[0]
    assert repeats(penalised.token_ids) < repeats(looping.token_ids)
    for size in (1, 2, 3):
        blocked = lm.complete(text, S(max_new_tokens=16, token_healing=False, no_repeat_ngram_size=size))[0]
        sequence = prompt + list(blocked.token_ids)
        grams = [tuple(sequence[i : i + size]) for i in range(len(sequence) - size + 1)]
        assert len(grams) == len(set(grams)), size


# --- beam search -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
def test_beam_alternatives_are_sorted_and_distinct(lm_without_eos, length_penalty):
    lm = lm_without_eos
    settings = S(strategy="beam", num_beams=5, num_alternatives=4, max_new_tokens=6, length_penalty=length_penalty)
    completions = lm.complete("The quick", settings)
    assert 2 <= len(completions) <= 4
    texts = [c.text for c in completions]
    assert len(set(texts)) == len(texts)
    scores = [length_normalised(c, length_penalty) for c in completions]
    assert scores == sorted(scores, reverse=True)
    for c in completions:
        assert c.logprob == pytest.approx(sum(c.token_logprobs), abs=1e-5)
        assert "".join(c.token_texts) == c.text and c.finish_reason == "length"


def test_one_beam_is_greedy(lm_without_eos):
    lm = lm_without_eos
    greedy = lm.complete("The quick", S(max_new_tokens=8))[0]
    beam = lm.complete("The quick", S(strategy="beam", num_beams=1, num_alternatives=1, max_new_tokens=8))[0]
    assert beam.token_ids == greedy.token_ids
    assert beam.logprob == pytest.approx(greedy.logprob, abs=1e-5)


def test_beams_run_as_one_batch(lm):
    generator, counter = generator_with(lm, CountingModel)
    generator.complete("The quick brown fox", S(strategy="beam", num_beams=4, num_alternatives=2,
                                                max_new_tokens=6, token_healing=False))
    prefill, *steps = counter.calls
    assert prefill[0] == 1  # the prompt is read once, not once per beam
    assert steps and all(call == (4, 1) for call in steps)
    assert len(steps) <= 5  # one forward per step after the first


def test_beam_search_keeps_the_single_row_prompt_cache(lm):
    generator = lm.generator
    text = "The quick brown fox jumps over the lazy"
    generator.complete(text, S(max_new_tokens=4))
    beam = S(strategy="beam", num_beams=3, num_alternatives=3, max_new_tokens=5)
    events = list(generator.stream(text + " d", beam))
    assert events[-1].stats["reused_tokens"] > 0
    # The next request reuses the prompt state the beam request left intact, and decodes like a cold run.
    warm = list(generator.stream(text + " do", S(max_new_tokens=6)))
    assert warm[-1].stats["reused_tokens"] >= len(lm.tokenizer.encode(text)) - 1
    generator.forget()
    cold = generator.complete(text + " do", S(max_new_tokens=6))
    assert_same(warm[-1].completions, cold)


def test_beam_with_word_stop_gives_distinct_words(lm):
    generator = scripted(lm, SCRIPT, bonus=30.0)
    completions = generator.complete("The quick brown fox", S(strategy="beam", num_beams=6, num_alternatives=4,
                                                              stop="word", max_new_tokens=8))
    texts = [c.text for c in completions]
    assert texts[0] == " jumps"
    assert len(set(texts)) == len(texts)
    for c in completions:
        if c.finish_reason == "stop":
            assert c.text.strip() and " " not in c.text.strip()


# --- streaming ---------------------------------------------------------------------------------------------


def test_greedy_streams_one_event_per_token(lm_without_eos):
    events = list(lm_without_eos.stream("The dog", S(max_new_tokens=7)))
    *tokens, done = events
    assert len(tokens) == 7 and not any(e.done for e in tokens) and done.done
    assert "".join(e.delta for e in tokens) == tokens[-1].text == done.text == done.completions[0].text
    assert all(not e.replaces for e in events)
    assert [e.token_logprob for e in tokens] == list(done.completions[0].token_logprobs)
    stats = done.stats
    assert stats["first_token_s"] > 0 and stats["tokens_per_s"] > 0
    assert stats["prefill_tokens"] >= 1 and stats["reused_tokens"] >= 0 and stats["generated_tokens"] == 7


def test_beam_streams_the_best_hypothesis_when_it_changes(lm):
    events = list(lm.stream("The quick brown", S(strategy="beam", num_beams=4, max_new_tokens=8)))
    *_changes, done = events
    assert done.done and done.completions and done.text == done.completions[0].text
    previous = ""
    for event in events:
        assert event.text != previous or event.done
        if event.replaces:
            assert not event.text.startswith(previous) and event.delta == event.text
        else:
            assert event.text == previous + event.delta
        previous = event.text


def test_streamed_text_never_shows_half_a_character(lm):
    generator = scripted(lm, "café 😀!", prefix=lm.tokenizer.encode(" sun"))
    # What makes the test bite: the script's tokens cut characters, some token's bytes alone are not UTF-8.
    pieces = [lm.tokenizer.token_bytes[token] for token in lm.tokenizer.encode("café 😀!")]
    assert not all(_is_utf8(piece) for piece in pieces), pieces
    events = list(generator.stream("the warm sun", S(max_new_tokens=11, token_healing=False)))
    assert events[-1].text.startswith("café 😀!")
    assert all("\ufffd" not in e.text for e in events)
    assert "".join(e.delta for e in events[:-1]) == events[-2].text
    # Generation that ends inside a character leaves its bytes out rather than showing a replacement character.
    [cut] = generator.complete("the warm sun", S(max_new_tokens=8, token_healing=False))
    assert cut.text == "café " and len(cut.token_ids) == 8 and cut.token_texts[-2:] == ("", "")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- cancellation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_closing_the_stream_stops_the_model(lm_without_eos, strategy):
    generator, counter = generator_with(lm_without_eos, CountingModel)
    stream = generator.stream("The dog", S(strategy=strategy, max_new_tokens=40, seed=1))
    next(stream)
    calls = len(counter.calls)
    stream.close()
    assert calls <= 2
    with pytest.raises(StopIteration):
        next(stream)
    assert len(counter.calls) == calls


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_cancelled_callback_is_checked_between_tokens(lm_without_eos, strategy):
    generator, counter = generator_with(lm_without_eos, CountingModel)
    calls_at_cancel = []

    def cancelled():
        calls_at_cancel.append(len(counter.calls))
        return len(calls_at_cancel) >= 3

    events = list(generator.stream("The dog", S(strategy=strategy, max_new_tokens=40), cancelled=cancelled))
    assert not any(e.done for e in events)
    assert len(counter.calls) == calls_at_cancel[-1] == 3
    assert generator.complete("The dog", S(max_new_tokens=3), cancelled=lambda: True) == []


def test_a_newer_stream_stops_an_older_one(lm_without_eos):
    generator = lm_without_eos.generator
    old = generator.stream("The dog", S(max_new_tokens=30))
    next(old)
    new = list(generator.stream("The fox", S(max_new_tokens=3)))
    assert new[-1].done
    assert list(old) == []  # the old stream ends at its next token instead of using the shared cache


# --- stop rules and token healing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stop", "expected", "reason"),
    [
        ("The quick bro", "word", "wn", "stop"),
        ("The quick bro", None, "wn fox jumps over the lazy dog. It was cold", "eos"),
        ("The quick ", "word", "brown", "stop"),
        ("The quick", "word", " brown", "stop"),
        ("The quick brown fox jumps", "sentence", " over the lazy dog.", "stop"),
        ("The quick brown fox jumps", "line", " over the lazy dog. It was cold", "eos"),
    ],
)
def test_stop_rules_and_healing(lm, text, stop, expected, reason):
    generator = scripted(lm, SCRIPT)
    [completion] = generator.complete(text, S(stop=stop, max_new_tokens=20))
    assert completion.text == expected
    assert completion.finish_reason == reason
    assert "".join(completion.token_texts) == completion.text
    assert completion.logprob == pytest.approx(sum(completion.token_logprobs))
    streamed = list(generator.stream(text, S(stop=stop, max_new_tokens=20)))
    assert streamed[-1].text == expected and all(expected.startswith(e.text) for e in streamed)


def test_beam_search_heals_and_stops_like_greedy(lm):
    generator = scripted(lm, SCRIPT)
    settings = S(strategy="beam", num_beams=4, num_alternatives=3, stop="word", max_new_tokens=10)
    completions = generator.complete("The quick bro", settings)
    assert completions[0].text == "wn" and completions[0].finish_reason == "stop"
    for completion in completions:  # every alternative continues what the user typed, none repeats it
        assert generator.token_bytes[completion.token_ids[0]].startswith(b" bro")  # the whole word backed off
        assert not completion.text.startswith(" bro")


def test_line_stop_ends_before_the_newline(lm):
    generator = scripted(lm, "Hello world!\nNumbers: 1, 2")
    [completion] = generator.complete("Hello", S(stop="line", max_new_tokens=20))
    assert completion.text == " world!" and completion.finish_reason == "stop"


def test_healing_constrains_the_first_token_to_the_typed_characters(lm):
    # The script wants " fox" after "ick", but the user typed " bro": only tokens starting with " bro" may come.
    generator = scripted(lm, "The quick fox jumps")
    [completion] = generator.complete("The quick bro", S(max_new_tokens=4))
    first = generator.token_bytes[completion.token_ids[0]]
    assert first.startswith(b" bro")
    assert completion.token_texts[0] == first[4:].decode()  # what the user typed is not repeated
    assert completion.text == "".join(completion.token_texts)
    unhealed = generator.complete("The quick bro", S(max_new_tokens=4, token_healing=False))[0]
    assert generator.token_bytes[unhealed.token_ids[0]] != first or unhealed.text != completion.text


def test_healing_never_proposes_special_tokens(lm):
    generator = scripted(lm, "The quick")
    generator.model.table[lm.tokenizer.encode("The quick")[-1], lm.eos_token_id] = 1000.0
    [completion] = generator.complete("The quick ", S(max_new_tokens=3))
    assert completion.token_ids and completion.token_ids[0] != lm.eos_token_id
    assert generator.token_bytes[completion.token_ids[0]].startswith(b" ")


def test_stop_rule_never_returns_an_empty_completion(lm):
    # A newline right at the start does not end the line rule's completion: it would leave nothing.
    generator = scripted(lm, "\nHello world", prefix=lm.tokenizer.encode(" dog"))
    [completion] = generator.complete("The dog", S(stop="line", max_new_tokens=6, token_healing=False))
    assert completion.text == "\nHello world"


# --- prefix cache ------------------------------------------------------------------------------------------


KEYSTROKE_DOC = ("The quick brown fox jumps over the lazy dog. The dog sleeps in the warm sun, and the fox runs "
                 "into the forest. A brother and a sister walked along the river; ")


@pytest.mark.parametrize(
    "settings",
    [S(max_new_tokens=6), S(strategy="sample", seed=5, max_new_tokens=6, top_k=20),
     S(strategy="beam", num_beams=3, num_alternatives=3, max_new_tokens=5),
     S(max_new_tokens=6, stop="word", repetition_penalty=1.3, no_repeat_ngram_size=2)],
    ids=["greedy", "sample", "beam", "penalties"],
)
def test_cached_keystrokes_decode_exactly_like_cold_runs(lm, settings):
    warm_generator = lm.generator
    cold_generator = Generator(lm)
    reused = []
    for end in range(60, 90, 5):
        text = KEYSTROKE_DOC[:end]
        warm = list(warm_generator.stream(text, settings))[-1]
        cold_generator.forget()
        cold = cold_generator.complete(text, settings)
        assert_same(warm.completions, cold)
        reused.append(warm.stats["reused_tokens"])
    assert min(reused[1:]) > 10  # every keystroke after the first reused the cached prompt


def test_long_documents_are_windowed_and_keystrokes_stay_cheap(lm):
    document = KEYSTROKE_DOC * 40  # ~5000 characters: beyond both tiny models' context windows
    generator = lm.generator
    settings = S(max_new_tokens=8)
    stats = []
    for extra in "the w":
        document += extra
        done = list(generator.stream(document, settings))[-1]
        stats.append(done.stats)
        prompt = generator.prepare(document, settings)
        if lm.max_context is not None:
            assert len(prompt.tokens) + prompt.max_new_tokens <= lm.max_context
        else:
            assert len(prompt.tokens) <= 1024
    assert_same(done.completions, Generator(lm).complete(document, settings))
    # After the first request only the last few tokens are read again.
    assert all(s["prefill_tokens"] <= 4 for s in stats[1:])


def test_prompt_and_generation_fit_the_context(lm):
    text = KEYSTROKE_DOC * 5
    completions = lm.complete(text, S(max_new_tokens=500, token_healing=False))
    if lm.max_context is not None:
        prompt = lm.generator.prepare(text, S(max_new_tokens=500, token_healing=False))
        assert len(prompt.tokens) + len(completions[0].token_ids) <= lm.max_context
    assert completions[0].token_ids


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_fixed_shape_decode_steps_give_the_same_tokens(lm, strategy):
    """The path CUDA graphs replay (the fixed-shape step over a masked span) chooses what the plain forward
    chooses."""
    settings = S(strategy=strategy, num_beams=3, max_new_tokens=8)
    static = Generator(lm, step_mode="static")
    for text in ("The quick bro", "The quick brown fox jumps over the"):
        assert_same(static.complete(text, settings), Generator(lm).complete(text, settings))
    if lm.max_context is not None:
        assert static.prompt_cache.step.mode == "static" and static.prompt_cache.step.fallback_reason is None
    else:  # a recurrent model has no fixed-shape step: the plain call is used
        assert static.prompt_cache.step.mode == "eager"


def test_empty_text(lm, lm_without_eos):
    [completion] = lm.complete("", S(max_new_tokens=3))  # read after end-of-text, like a document start
    assert completion.token_ids or completion.finish_reason == "eos"
    with pytest.raises(ValueError, match="empty text"):
        lm_without_eos.complete("", S(max_new_tokens=3))


def test_bad_arguments_are_rejected(lm):
    with pytest.raises(TypeError, match="settings"):
        lm.generator.complete("x", {"strategy": "greedy"})
    with pytest.raises(TypeError, match="text"):
        lm.generator.complete(b"x", S())
