"""The quality guards and the confidence gate (``engine.quality.suggestion_quality``), on text and hand-made events."""

from __future__ import annotations

import pytest

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.quality.suggestion_quality import (
    QualitySettings,
    SuggestionGate,
    banned_word_in,
    current_line,
    is_blank,
    parse_word_list,
    rejection_reason,
    repeats_line,
)

OFF = QualitySettings(skip_blank=False, skip_line_repeats=False, never_suggest_enabled=False)


def _completion(text: str, mean: float, tokens: int = 4) -> Completion:
    return Completion(text=text, logprob=mean * tokens, token_ids=tuple(range(tokens)))


def _events(text: str, means: list[float]) -> list[StreamEvent]:
    """One event per token; the token texts are ``text`` cut into ``len(means)`` pieces."""
    size = -(-len(text) // len(means))
    return [StreamEvent(text=text[: size * (i + 1)], mean_logprob=mean, tokens=i + 1)
            for i, mean in enumerate(means)]


# --- the guards on text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n", "...", " ,", " —", "!?\n", "  ) ;"])
def test_whitespace_and_punctuation_only_is_blank(text):
    assert is_blank(text)
    assert rejection_reason(text, "Some line", QualitySettings()) == "only whitespace or punctuation"
    assert rejection_reason(text, "Some line", OFF) is None


@pytest.mark.parametrize("text", [" a", "x.", " 42", " é", "_"])
def test_a_letter_or_digit_is_not_blank(text):
    assert not is_blank(text)


REPEATS = [
    # (line before the cursor, suggestion, repeats?)
    ("I think that I think that", " I think that is", True),  # first three words stand on the line
    ("I think that I said", " I think that is", True),
    ("I think that I said", " i THINK that", True),  # any case
    ("I think that I said", " I think so", False),  # "i think so" is not on the line
    ("I think that I said", " I think", False),  # two words never count as a repeat
    ("we went to the shop and we went to the sh", "op and we", True),  # finishing a typed word makes it whole
    ("we went to the sh", "op and we", False),
    ("the cat, the dog", " the cat the", True),  # words are compared, not the punctuation between them
    ("the cat sat, the dog", " the cat ran", False),
    ("the cat the dog", " the dog the", False),  # "the dog the" is not on the line
    ("", " I think that", False),
]


@pytest.mark.parametrize(("line", "suggestion", "expected"), REPEATS)
def test_a_suggestion_repeats_the_line_when_its_first_three_words_stand_on_it(line, suggestion, expected):
    assert repeats_line(line, suggestion) is expected
    reason = rejection_reason(suggestion, line, QualitySettings())
    assert (reason == "repeats the line") is expected
    assert rejection_reason(suggestion, line, QualitySettings(skip_line_repeats=False)) is None


def test_while_streaming_a_repeat_is_open_until_its_first_words_are_complete():
    line = "I think that I said"
    assert repeats_line(line, " I thi", finished=False) is None  # may become "I think that"
    assert repeats_line(line, " I so", finished=False) is False  # "i so..." stands nowhere
    assert repeats_line(line, " I think that", finished=False) is None  # "that" may go on ("thatch")
    assert repeats_line(line, " I think that ", finished=False) is True
    assert repeats_line(line, " You", finished=False) is False
    assert repeats_line("Hi", " there you", finished=False) is False  # a line of one word cannot be repeated


def test_current_line_is_the_text_after_the_last_line_break():
    assert current_line("First line\nSecond li") == "Second li"
    assert current_line("No break") == "No break"


def test_banned_words_are_whole_words_in_any_case_including_the_word_being_finished():
    assert banned_word_in("The quick brown", " Fox jumps", ["fox"]) == "fox"
    assert banned_word_in("The quick brown fo", "x jumps", ["FOX"]) == "fox"
    assert banned_word_in("The quick brown", " foxes jump", ["fox"]) is None
    assert banned_word_in("The quick brown fox", " jumps", ["fox"]) is None  # the user's own word
    assert banned_word_in("The", " fox", []) is None


def test_the_never_suggest_list_applies_only_while_switched_on():
    quality = QualitySettings(never_suggest=("fox",))
    assert rejection_reason(" fox jumps", "The", quality) == "a never-suggest word"
    assert rejection_reason(" fox jumps", "The", quality.replace(never_suggest_enabled=False)) is None
    settings = DecodingSettings(strategy="beam")
    assert quality.decoding_settings(settings).banned_words == ("fox",)
    assert quality.replace(never_suggest_enabled=False).decoding_settings(settings).banned_words == ()
    assert QualitySettings().decoding_settings(settings) is settings


def test_parse_word_list_keeps_single_words_once_and_names_the_rest():
    words, rejected = parse_word_list("fox, Dog\n  cat;fox\nice-cream  FOX\n\nnaïve")
    assert words == ("fox", "Dog", "cat", "naïve")
    assert rejected == ["ice-cream"]


# --- quality settings ----------------------------------------------------------------------------------------


def test_quality_settings_default_to_every_guard_on_and_no_threshold():
    quality = QualitySettings()
    assert quality.skip_blank and quality.skip_line_repeats and quality.never_suggest_enabled
    assert quality.coverage == 1.0 and quality.never_suggest == ()


@pytest.mark.parametrize(("field", "value"), [("coverage", 0), ("coverage", 1.5), ("coverage", "most"),
                                              ("coverage", True), ("skip_blank", 1), ("never_suggest", "fox"),
                                              ("never_suggest", ("two words",))])
def test_bad_quality_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        QualitySettings(**{field: value})


def test_saved_quality_settings_keep_what_is_valid():
    saved = QualitySettings(coverage=0.3, skip_blank=False, never_suggest=("fox", "dog")).to_dict()
    assert QualitySettings.from_dict(saved) == QualitySettings(coverage=0.3, skip_blank=False,
                                                               never_suggest=("fox", "dog"))
    damaged = {**saved, "coverage": "lots", "never_suggest": ["fine", "not fine"], "unknown": 1}
    assert QualitySettings.from_dict(damaged) == QualitySettings(skip_blank=False)


# --- the gate ------------------------------------------------------------------------------------------------


def test_without_a_threshold_a_stream_shows_at_once():
    gate = SuggestionGate("Once upon a", OFF, threshold=None)
    first, second = _events(" time there", [-5.0, -6.0])
    assert gate.stream(first) == [first]
    assert gate.stream(second) == [second]


def test_a_confident_stream_is_held_until_min_tokens_then_released_in_order():
    gate = SuggestionGate("Once upon a", OFF, threshold=-1.0, min_tokens=3)
    events = _events(" time there was", [-0.1, -0.2, -0.3, -0.2])
    assert gate.stream(events[0]) == []
    assert gate.stream(events[1]) == []
    assert gate.stream(events[2]) == events[:3]  # held events come out together, in order
    assert gate.stream(events[3]) == [events[3]]
    assert gate.shown


def test_an_unsure_stream_is_never_shown_and_its_completion_is_withheld():
    gate = SuggestionGate("Once upon a", OFF, threshold=-1.0, min_tokens=3)
    for event in _events(" banana tree sky", [-4.0, -3.0, -3.5]):
        assert gate.stream(event) == []
    assert gate.finish([_completion(" banana tree sky", -3.5)]) == ()
    assert not gate.shown
    assert gate.reason == "not confident enough"


def test_a_short_confident_completion_shows_at_the_end_even_below_min_tokens():
    gate = SuggestionGate("Once upon a", OFF, threshold=-1.0, min_tokens=3)
    [event] = _events(" time", [-0.1])
    assert gate.stream(event) == []
    kept = gate.finish([_completion(" time", -0.1, tokens=1)])
    assert [c.text for c in kept] == [" time"]


def test_a_shown_stream_whose_completion_fails_is_taken_back():
    gate = SuggestionGate("Once upon a", OFF, threshold=-1.0, min_tokens=1)
    [event] = _events(" time", [-0.5])
    assert gate.stream(event) == [event]
    assert gate.finish([_completion(" time and again", -1.6)]) == ()  # the rest dragged the mean down
    assert gate.shown and gate.reason == "not confident enough"


def test_alternatives_below_the_threshold_or_failing_a_guard_are_dropped():
    gate = SuggestionGate("Once upon a time", QualitySettings(), threshold=-1.0)
    kept = gate.finish([_completion(" there", -0.5), _completion("...", -0.1), _completion(" upon a time", -0.2),
                        _completion(" was", -2.0), _completion(" lived", -0.9)])
    assert [c.text for c in kept] == [" there", " lived"]


def test_the_stream_waits_for_a_word_and_for_the_line_repeat_to_be_ruled_out():
    gate = SuggestionGate("I think that I said", QualitySettings(), threshold=None)
    held = _events(" I think that", [-1.0, -1.0, -1.0])
    for event in held:
        assert gate.stream(event) == []  # " I think that" may still be the line again
    assert gate.stream(StreamEvent(text=" I think that is", mean_logprob=-1.0, tokens=4)) == []
    assert gate.finish([_completion(" I think that is", -1.0)]) == ()
    assert gate.reason == "repeats the line"
    blank = SuggestionGate("Hello", QualitySettings(), threshold=None)
    assert blank.stream(StreamEvent(text=",")) == []
    words = StreamEvent(text=", world")
    assert blank.stream(words) == [StreamEvent(text=","), words]


def test_a_never_suggest_word_that_slips_into_a_stream_closes_it():
    gate = SuggestionGate("The quick brown", QualitySettings(never_suggest=("fox",)), threshold=None)
    shown = StreamEvent(text=" red")
    assert gate.stream(shown) == [shown]
    assert gate.stream(StreamEvent(text=" red fox")) == []
    assert gate.closed and gate.shown  # what was shown must go
    assert gate.stream(StreamEvent(text=" red fox runs")) == []


def test_the_repetition_guard_switches_the_ngram_ban_and_dry_together_and_keeps_chosen_sizes():
    from engine.quality.suggestion_quality import blocks_repetition, with_repetition_blocking

    off = with_repetition_blocking(DecodingSettings(no_repeat_ngram_size=4, dry_multiplier=1.5), False)
    assert (off.no_repeat_ngram_size, off.dry_multiplier) == (0, 0.0) and not blocks_repetition(off)
    on = with_repetition_blocking(off, True)
    assert (on.no_repeat_ngram_size, on.dry_multiplier) == (3, 0.8) and blocks_repetition(on)
    kept = with_repetition_blocking(DecodingSettings(no_repeat_ngram_size=4), True)
    assert (kept.no_repeat_ngram_size, kept.dry_multiplier) == (4, 0.8)
    assert blocks_repetition(DecodingSettings(dry_multiplier=0.5))


def test_an_empty_event_passes_at_once_since_it_shows_nothing():
    gate = SuggestionGate("Hello", QualitySettings(), threshold=-1.0)
    empty = StreamEvent(text="")
    assert gate.stream(empty) == [empty]
    assert not gate.shown


def test_a_settled_stream_is_judged_as_finished_and_shown_before_the_alternatives_end():
    """" I think" might still grow into the line again while it streams; once the engine says the shown text is
    final, two words can no longer repeat three, so it shows without waiting for the other alternatives."""
    gate = SuggestionGate("I think that I said", QualitySettings(), threshold=None)
    held = StreamEvent(text=" I think", mean_logprob=-1.0, tokens=2)
    assert gate.stream(held) == []
    settled = StreamEvent(text=" I think", mean_logprob=-1.0, tokens=2, settled=True)
    assert gate.stream(settled) == [held, settled]
    assert gate.shown


def test_a_settled_stream_that_fails_stays_held_for_the_other_alternatives():
    gate = SuggestionGate("I think that I said", QualitySettings(), threshold=-1.0)
    assert gate.stream(StreamEvent(text=" I think that", mean_logprob=-0.5, tokens=3, settled=True)) == []
    unsure = SuggestionGate("Once upon a", OFF, threshold=-1.0)
    assert unsure.stream(StreamEvent(text=" time", mean_logprob=-2.0, tokens=1, settled=True)) == []
    assert not gate.shown and not gate.closed and not unsure.shown
    assert [c.text for c in gate.finish([_completion(" I think that", -0.5), _completion(" so", -0.5)])] == [" so"]
