"""Suggesting in the middle of a document: the continuation stops before it would repeat the text that follows
the cursor, for every strategy, through the language model and the engine worker."""

from __future__ import annotations

import queue

import pytest
import torch

from engine.decoding.suffix_join import SuffixJoin
from engine.worker.engine_worker import EngineWorker
from engine.worker.events import SuggestionFinished, SuggestionToken
from tests.support.decoding import load_tiny, scripted
from tests.support.settings import plain_settings

S = plain_settings
SCRIPT = "The quick brown fox jumps over the lazy dog. It was cold"


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- the rule on its own ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, text, expected", [
    (" jumps over the lazy dog", " fox jumps ", 4),  # the following text brings its space: " fox"
    (" jumps over the lazy dog", " fox jumps over", 4),
    ("jumps over the lazy dog", "fox jumps ", 4),  # the cursor is after a space: "fox " keeps its own
    (" jumps over", " jumps over", 0),  # nothing new to add
    (", and then", " fox, and ", 4),  # punctuation first, confirmed by the word after it
    (" dog", " lazy dog", 5),  # a short following text repeated whole (the end of the document)
    ("\n\nNext paragraph", " end.\n\nNext ", 5),
])
def test_a_continuation_is_cut_where_it_starts_repeating_the_following_text(suffix, text, expected):
    assert SuffixJoin(suffix).cut(text) == expected


@pytest.mark.parametrize("suffix, text", [
    (" jumps over", " fox jum"),  # maybe "jumps", maybe "jumped": not yet known
    (" jumps over", " fox jumps"),  # "jumps" or "jumpsuit": the word is not over
    (" jumps over", " fox outjumps "),  # inside another word
    (" jumps over", " fox jumps high"),  # repeated a word, then went its own way
    (" dog" * 100, " lazy dog"),  # a long following text: the word must be seen to end
    ("   ", " fox jumps "),  # only blank text follows
    ("", " fox jumps "),
])
def test_no_cut_without_a_confirmed_repetition(suffix, text):
    assert SuffixJoin(suffix).cut(text) is None


def test_a_suffix_must_be_text():
    with pytest.raises(TypeError, match="suffix must be a str"):
        SuffixJoin(None)


# --- decoding -----------------------------------------------------------------------------------------------


@pytest.fixture
def script_lm(tmp_path, tiny_tokenizer):
    lm = load_tiny("gpt2", tmp_path / "gpt2", tiny_tokenizer)
    scripted(lm, SCRIPT)
    return lm


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_generation_in_the_middle_stops_before_duplicating_the_following_text(script_lm, strategy):
    settings = S(strategy=strategy, max_new_tokens=12, seed=1, num_beams=2, num_alternatives=1)
    [free] = script_lm.complete("The quick brown", settings)
    assert free.text.startswith(" fox jumps over the lazy")  # what the model writes with nothing after it
    [joined] = script_lm.complete("The quick brown", settings, suffix=" jumps over the lazy dog.")
    assert joined.text == " fox"
    assert joined.finish_reason == "stop"
    assert "".join(joined.token_texts) == joined.text
    assert len(joined.token_ids) == len(joined.token_logprobs) == len(joined.token_texts)


def test_the_stream_ends_with_the_joined_text_and_says_to_redraw_what_it_had_streamed(script_lm):
    suffix = " jumps over the lazy dog."
    events = list(script_lm.stream("The quick brown", S(max_new_tokens=12), suffix=suffix))
    final = events[-1]
    assert final.done and final.text == " fox"
    assert events[-2].text.startswith(" fox jum")  # the stream had gone on into the repetition...
    assert final.replaces  # ...so the receiver must redraw
    # What a display holds back meanwhile: never more than the joined text.
    join = SuffixJoin(suffix)
    assert {event.text[: join.safe_length(event.text)] for event in events[:-1]} <= {"", " fox"}


@pytest.mark.parametrize("suffix, text, shown", [
    (" jumps over", " fox j", " fox"),
    (" jumps over", " fox jumps", " fox"),
    (" jumps over", " fox jolly", " fox jolly"),
    ("jumps over", " fox jum", " fox "),
    (" jumps over", " fox", " fox"),
    ("", " fox j", " fox j"),
])
def test_a_display_holds_back_what_may_turn_out_to_be_a_repetition(suffix, text, shown):
    join = SuffixJoin(suffix)
    assert text[: join.safe_length(text)] == shown


def test_a_suffix_that_does_not_follow_from_the_text_changes_nothing(script_lm):
    settings = S(max_new_tokens=6)
    assert script_lm.complete("The quick brown", settings, suffix=" Hello world!") == \
        script_lm.complete("The quick brown", settings)


def test_the_worker_passes_the_text_after_the_cursor_to_the_model(script_lm):
    events: queue.Queue = queue.Queue()
    worker = EngineWorker(events.put, loader=lambda name, device: script_lm)
    worker.start()
    try:
        worker.load_model("scripted")
        request = worker.suggest("The quick brown", S(max_new_tokens=12), suffix=" jumps over the lazy dog.")
        while True:
            event = events.get(timeout=20)
            if isinstance(event, SuggestionFinished) and event.request_id == request:
                break
            if isinstance(event, SuggestionToken):
                assert event.request_id == request
        assert not event.cancelled
        assert [c.text for c in event.completions] == [" fox"]
    finally:
        worker.shutdown()
