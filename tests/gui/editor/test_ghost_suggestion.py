"""``GhostSuggestion`` without Qt: when the alternatives come in, the text that streamed stays the one shown."""

from __future__ import annotations

import math

from engine.decoding.results import Completion, StreamEvent
from gui.editor.ghost_suggestion import GhostSuggestion


def completion(text: str, first_word_probability: float) -> Completion:
    """The first word one token, the rest another: the panel ranks alternatives by the first."""
    split = text.find(" ", 1)
    pieces = (text,) if split < 0 else (text[:split], text[split:])
    logprobs = (math.log(first_word_probability), math.log(0.5))[: len(pieces)]
    return Completion(text, sum(logprobs), tuple(range(len(pieces))), logprobs, pieces)


def streamed(*texts: str) -> GhostSuggestion:
    ghost = GhostSuggestion(1, 0)
    for text in texts:
        ghost.apply_stream(StreamEvent(text=text))
    return ghost


def test_the_streamed_alternative_stays_shown_where_the_panel_lists_it_second():
    ghost = streamed(" I'm", " I'm glad to", " I'm glad to see")
    ghost.apply_completions([completion(" it looks like", 0.5), completion(" I'm glad to see you", 0.3)])
    assert [c.text for c in ghost.candidates()] == [" it looks like", " I'm glad to see you"]  # likeliest first
    assert ghost.visible_text() == " I'm glad to see you"
    assert ghost.chosen_index() == 1


def test_a_streamed_text_cut_at_the_end_keeps_its_start():
    ghost = streamed(" the door", " the door opened and")
    ghost.apply_completions([completion(" a", 0.6), completion(" the door", 0.3)])
    assert ghost.visible_text() == " the door"


def test_with_nothing_in_common_the_likeliest_is_shown():
    ghost = streamed(" zebra")
    ghost.apply_completions([completion(" a", 0.6), completion(" the door", 0.3)])
    assert ghost.visible_text() == " a"
    nothing_streamed = GhostSuggestion(1, 0)
    nothing_streamed.apply_completions([completion(" the door", 0.3), completion(" a", 0.6)])
    assert nothing_streamed.visible_text() == " a"


def test_what_the_typist_chose_by_typing_stays_chosen():
    ghost = streamed(" the door")
    assert ghost.consume(" the")
    ghost.apply_completions([completion(" a dog", 0.6), completion(" the door opened", 0.3)])
    assert ghost.visible_text() == " door opened"


def test_ctrl_right_takes_a_word_with_its_punctuation():
    from gui.editor.ghost_suggestion import next_word_length

    def first_step(text: str) -> str:
        return text[: next_word_length(text)]

    assert first_step(" kindness, and a") == " kindness,"
    assert first_step(' "Hello," she said') == ' "Hello,"'
    assert first_step(" don't go") == " don't"
    assert first_step("wn fox.") == "wn"
    assert first_step(" end.\nNext") == " end."
    assert first_step("\nNext line") == "\nNext"
    assert first_step("   ") == "   "
