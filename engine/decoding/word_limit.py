"""No cut-off words at the token limit: "University of Ill" runs on to "Illinois", or ends at "University of".

``max_new_tokens`` counts tokens, which end anywhere inside a word. A suggestion that reaches the limit inside a
word goes on for at most ``WORD_RUN_ON_TOKENS`` more tokens, as long as each continues that word; the first token
that starts something else is not kept. So what was streamed only ever grows. Should the word outlast the run-on
(or the model's context leave no room for it), the suggestion ends at its last whole word instead. The first word
always stays, as with the doubt cut: a completion of the word being typed ("wn" after "bro") is still one.

Greedy, sampling and first-word branches (each row greedy) run on; plain beam search, whose beams compete on
whole hypotheses, ends its beams at their last whole word.
"""

from __future__ import annotations

from engine.decoding.word_units import APOSTROPHES, ends_inside_word, goes_on_with, is_word_char, word_units

#: How many tokens past ``max_new_tokens`` a suggestion may take to finish the word it is in.
WORD_RUN_ON_TOKENS = 8


def stops_inside_word(text: str) -> bool:
    """Whether ``text`` stops where a word may go on: after a word character (not a Han character, which is a
    word of its own), or an apostrophe inside a word ("don" + "'" may become "don't")."""
    if not text:
        return False
    if text[-1] in APOSTROPHES:
        return len(text) > 1 and is_word_char(text[-2])
    return ends_inside_word(text)


def continues_word(data: bytes, before: str = "") -> bool:
    """Whether a token with these bytes goes on with the word before it (rather than starting a space, a
    punctuation mark or the next word). A token that holds only the start of a multi-byte character counts as
    going on: most such characters are letters, and the next check sees the whole character. With ``before``,
    the text it follows, a token that starts a new word of the scripts without spaces ("ありがと" + "東") does
    not go on."""
    if not data:
        return False
    text = data.decode("utf-8", errors="ignore")
    if not text:
        return data[0] >= 0x80
    if before and is_word_char(before[-1]) and is_word_char(text[0]):
        return goes_on_with(before, text)
    return is_word_char(text[0]) or text[0] in APOSTROPHES


def last_whole_word_end(text: str) -> int | None:
    """The length to cut ``text`` to so it ends after its last whole word (and whatever punctuation follows it),
    leaving out the unfinished one at its end ("University of Ill" -> "University of"); None when it does not end
    inside a word, or when the unfinished word is its only word."""
    if not stops_inside_word(text):
        return None
    units = word_units(text)
    start = len(text) - len(units[-1])  # the Ctrl+Right step the unfinished word is in
    kept = text[:start].rstrip()
    if not any(is_word_char(char) for char in kept):
        return None
    return len(kept)
