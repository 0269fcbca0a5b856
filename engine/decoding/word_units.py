"""What a word is, for every rule that asks where one ends, and for Ctrl+Right.

A word is letters, digits and underscores, with inner apostrophes ("don't", "l’eau"), between spaces and
punctuation. Chinese and Japanese are written without spaces, so in their scripts a word is smaller:

- each Han character (Chinese, Japanese kanji) is a word of its own: "我们明天见" is five, "我", "们", "明",
  "天", "见" (an iteration mark stays with the character it repeats: "人々");
- a run of kana (Hiragana and Katakana together, with the long-vowel mark "ー") is one word: "コンピューター",
  "ありがとう"; after a kanji it is a word of its own ("行" + "きます");
- where such a character meets a Latin letter or a digit, one word ends and the next begins ("用" + "Python").

Other scripts keep the rule of spaces: Korean is written with spaces, and Thai (no spaces, no cheap segmentation)
stays one word from space to space.

A Ctrl+Right step (``word_units``) is one word with what goes with it: the blanks before it, the opening quotes or
brackets just before it, and the punctuation after it ("kindness," and "见。" are one step each). The
keystroke-savings evaluation, the doubt cut, the one-word stop, the loop cut, the token limit's run-on and token
healing all cut text with the functions here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

APOSTROPHES = "'’"  # inside a word: "don't", "l’eau"
# A word as spaces and punctuation delimit it; the scripts without spaces are cut further (``word_spans``).
WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*")
_WORD_CHAR = re.compile(r"\w")
_WORD_TAIL = re.compile(r"\w*(?:['’]\w+)*")  # the rest of a word being written: "wn", "'t"
_UNIT = re.compile(r"\s*\S+|\s+")  # a Ctrl+Right step where words are delimited by spaces

# Han: CJK Unified Ideographs and their extensions, compatibility ideographs, the iteration marks.
_HAN = "\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# Kana: Hiragana, Katakana (with its phonetic extensions and the half-width forms), the long-vowel mark.
_KANA = "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f\U0001b000-\U0001b16f"
_SPACELESS = re.compile(f"[{_HAN}{_KANA}]")
_HAN_CHAR = re.compile(f"[{_HAN}]")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_ITERATION_MARKS = "々〻"  # repeat the Han character before them: "人々" is one word

HAN, KANA, OTHER = "han", "kana", "other"


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore of any script: what words are made of."""
    return _WORD_CHAR.match(char) is not None


def script_of(char: str) -> str:
    """HAN, KANA or OTHER: which rule cuts the words ``char`` is in."""
    if _HAN_CHAR.match(char):
        return HAN
    if _KANA_CHAR.match(char):
        return KANA
    return OTHER


def has_spaceless_script(text: str) -> bool:
    """Whether ``text`` holds a Han or kana character (else words are delimited by spaces alone)."""
    return _SPACELESS.search(text) is not None


def continues(before: str, char: str) -> bool:
    """Whether word character ``char``, written right after word character ``before``, is in the same word:
    letters of one script-rule together ("fo" + "x", "あり" + "が"), never a Han character with anything but its
    iteration mark."""
    if char in _ITERATION_MARKS:
        return script_of(before) == HAN
    script = script_of(char)
    return script != HAN and script == script_of(before)


def ends_inside_word(text: str) -> bool:
    """True when ``text`` ends where its last word may still go on (the user may still be typing it): after a
    word character, except a Han character, which is a whole word."""
    return bool(text) and is_word_char(text[-1]) and script_of(text[-1]) != HAN


def goes_on_with(before: str, text: str) -> bool:
    """Whether ``text`` written right after ``before`` lengthens the word ``before`` ends with ("bro" + "wn",
    "don" + "'t"); False when it starts a new word, a blank or punctuation."""
    if not before or not text:
        return False
    if text[0] in APOSTROPHES:
        return is_word_char(before[-1])
    if before[-1] in APOSTROPHES:
        return len(before) > 1 and is_word_char(before[-2]) and is_word_char(text[0]) \
            and continues(before[-2], text[0])
    return is_word_char(before[-1]) and is_word_char(text[0]) and continues(before[-1], text[0])


def word_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each word of ``text`` in order: ``WORD_PATTERN``'s matches, cut where a Han or kana
    word meets the next."""
    for match in WORD_PATTERN.finditer(text):
        start, end = match.span()
        if not has_spaceless_script(match.group(0)):
            yield start, end
            continue
        for index in range(start + 1, end):
            previous, char = text[index - 1], text[index]
            if is_word_char(previous) and is_word_char(char) and not continues(previous, char):
                yield start, index
                start = index
        yield start, end


def first_word(text: str) -> tuple[int, int] | None:
    """The span of the first word of ``text``, None when there is none."""
    match = WORD_PATTERN.search(text)
    if match is None:
        return None
    start, end = next(word_spans(match.group(0)))
    return match.start() + start, match.start() + end


def word_tail_end(before: str, text: str) -> int:
    """How much of the start of ``text`` goes on with the word ``before`` ends with: "wn" of "wn fox" after
    "bro", "'t" after "don", "す" of "す。" after "ありがとうございま"; 0 when ``text`` starts a new word. Without
    ``before`` (not known) any word characters at the start go on with it, up to where a word of the scripts
    without spaces ends."""
    if before and not goes_on_with(before, text):
        return 0
    match = _WORD_TAIL.match(text)
    end = match.end() if match else 0
    if not end or not has_spaceless_script(before[-1:] + text[:end]):
        return end
    previous = before[-1:]
    for index, char in enumerate(text[:end]):
        if is_word_char(char) and previous and is_word_char(previous) and not continues(previous, char):
            return index
        previous = char
    return end


def last_word_start(text: str) -> int:
    """Where the word that ``text`` ends with starts (``len(text)`` when it ends with no word character): the
    run of word characters that continue one another, "quee" of "The old quee", "见" of "明天见"."""
    start = len(text)
    while start and is_word_char(text[start - 1]):
        if start < len(text) and not continues(text[start - 1], text[start]):
            break
        start -= 1
    return start


def word_units(text: str) -> list[str]:
    """``text`` cut into Ctrl+Right steps: a word with the blanks and opening punctuation before it and the
    punctuation after it ("kindness,", " dog.", "见。", "「好」"); blanks at the end are a step of their own. The
    steps join to ``text``."""
    units = _UNIT.findall(text)
    if not has_spaceless_script(text):
        return units
    return [piece for unit in units for piece in _cut_run(unit)]


def next_unit_length(text: str) -> int:
    """How much of ``text`` one Ctrl+Right step takes (all of it when it is blanks only)."""
    if not has_spaceless_script(text):
        match = _UNIT.match(text)
        return match.end() if match else len(text)
    units = word_units(text)
    return len(units[0]) if units else len(text)


def _cut_run(unit: str) -> list[str]:
    """One step of the spaced rule (blanks, then a run of non-blank characters) cut where a new word starts in it;
    the opening punctuation just before such a word goes with it."""
    pieces: list[str] = []
    start = 0
    previous_word_char = -1  # index of the last word character seen
    for index, char in enumerate(unit):
        if not is_word_char(char):
            continue
        if previous_word_char >= 0 and not _same_word(unit, previous_word_char, index):
            cut = index
            while cut > previous_word_char + 1 and unicodedata.category(unit[cut - 1]) in ("Ps", "Pi"):
                cut -= 1
            pieces.append(unit[start:cut])
            start = cut
        previous_word_char = index
    pieces.append(unit[start:])
    return pieces


def _same_word(unit: str, before: int, index: int) -> bool:
    """Whether the word character at ``index`` is in the same word as the one at ``before`` (the previous word
    character): adjacent and continuing it, or across an apostrophe; words of the spaced scripts stay together
    across punctuation ("e.g.", "3.14"), as they always have."""
    previous, char = unit[before], unit[index]
    scripts = {script_of(previous), script_of(char)}
    if scripts == {OTHER}:
        return True
    if index == before + 1 or (index == before + 2 and unit[before + 1] in APOSTROPHES):
        return continues(previous, char)
    return False
