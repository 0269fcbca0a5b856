"""Words in text without spaces (``engine.decoding.word_units``): one Han character, or one run of kana, is a word,
for Ctrl+Right, the one-word length, the doubt cut, the loop cut, the token limit's run-on and token healing."""

from __future__ import annotations

import math

import pytest

import engine
from engine.decoding.doubt import doubt_cut, unit_of_pieces
from engine.decoding.healing import TokenPrefixIndex, heal, partial_word
from engine.decoding.loops import loop_cut
from engine.decoding.results import first_word
from engine.decoding.stopping import StopRule
from engine.decoding.word_limit import continues_word, last_whole_word_end, stops_inside_word
from engine.decoding.word_units import ends_inside_word, next_unit_length, word_spans, word_units
from tests.support.decoding import scripted


@pytest.mark.parametrize(("text", "units"), [
    ("我们明天见。", ["我", "们", "明", "天", "见。"]),  # one Han character each, punctuation with its word
    ("我说「好」。", ["我", "说", "「好」。"]),  # an opening quote goes with the word after it
    ("私は東京へ行きます。", ["私", "は", "東", "京", "へ", "行", "きます。"]),  # a kana run is one word
    ("コンピューターを使う", ["コンピューターを", "使", "う"]),
    ("用Python写代码", ["用", "Python", "写", "代", "码"]),
    ("好，OK then", ["好，", "OK", " then"]),
    ("人々が", ["人々", "が"]),  # the iteration mark stays with its character
    (" kindness, and e.g. 3.14", [" kindness,", " and", " e.g.", " 3.14"]),  # spaced scripts as before
    ("สวัสดีครับ ผม", ["สวัสดีครับ", " ผม"]),  # Thai: from space to space
    ("end  ", ["end", "  "]),
])
def test_ctrl_right_steps(text, units):
    assert word_units(text) == units
    assert "".join(units) == text
    assert next_unit_length(text) == len(units[0])


def test_words_and_where_one_may_go_on():
    text = "我们去Tokyo吧"
    assert [text[a:b] for a, b in word_spans(text)] == ["我", "们", "去", "Tokyo", "吧"]
    assert first_word("，我们") == "我"
    assert not ends_inside_word("我们明天") and ends_inside_word("ありがと") and ends_inside_word("The quick bro")


def test_the_one_word_length_stops_after_one_character():
    assert StopRule("word").cut("我们明天见。") == 1
    assert StopRule("word").cut("我") == 1  # a Han character is a whole word at once
    assert StopRule("word").cut("，我们") == 2
    # After a prompt inside a kana run, the run's rest is the word; a kanji starts the next one.
    assert StopRule("word", True, "ありがと").cut("う。私は") == 1
    assert StopRule("word", True, "ありがと").cut("う") is None  # may still go on
    assert StopRule("word", True, "私は").cut("東京へ") == 1
    assert StopRule("word", True, "bro").cut("wn fox") == 2  # English as before


def test_the_doubt_cut_counts_characters_as_words():
    pieces = ["我们", "明天", "见", "。"]
    assert unit_of_pieces(pieces) == [0, 2, 4, 4]
    log = math.log
    # "明天" is 5% likely: the suggestion ends before it, keeping "我们" (two words, one token).
    assert doubt_cut(pieces, [log(0.5), log(0.05), log(0.9), log(0.9)], 0.1) == 1
    assert doubt_cut(pieces, [log(0.5), log(0.5), log(0.9), log(0.9)], 0.1) is None


@pytest.mark.parametrize(("text", "kept"), [
    ("我们明天见，我们明天见。", "我们明天见"),
    ("我们我们去", "我们"),
    ("明天见面吧，明天见面吧", "明天见面吧"),
])
def test_the_loop_cut_sees_repeated_phrases(text, kept):
    cut = loop_cut(text)
    assert cut is not None and text[:cut] == kept


@pytest.mark.parametrize("text", ["谢谢你的帮助。", "好好学习，天天向上。", "我们明天见。"])
def test_doubled_characters_are_not_loops(text):
    assert loop_cut(text) is None


def test_the_token_limit_does_not_run_on_after_a_whole_character():
    assert not stops_inside_word("我们明天") and stops_inside_word("私はありがと")
    assert last_whole_word_end("私はありがと") == len("私")
    assert last_whole_word_end("University of Ill") == len("University of")
    assert continues_word("う".encode(), "ありがと") and not continues_word("東".encode(), "ありがと")
    assert continues_word(b"wn", "bro") and continues_word(b"wn")


HAN_TOKENS = [b"", "我们".encode(), "明".encode(), "天见".encode(), "天".encode(), "见".encode(),
              "明天见面".encode(), "见面".encode(), b" qu", b"ee", b" queen"]


def test_healing_backs_off_one_character_not_the_sentence():
    index = TokenPrefixIndex(HAN_TOKENS)
    assert partial_word("我们明天见") == "见".encode() and partial_word("The old quee") == b" quee"
    healed = heal([1, 2, 4, 5], "我们明天见", HAN_TOKENS, index, frozenset())
    assert healed.tokens == [1, 2, 4] and healed.prefix == "见".encode()  # not "明天见" -> "明天见面"
    assert sorted(healed.allowed.tolist()) == [5, 7]
    english = heal([1, 8, 9], "我们 quee", HAN_TOKENS, index, frozenset())
    assert english.prefix == b" quee" and english.tokens == [1]


def test_a_model_writing_chinese_stops_after_one_word(tiny_gpt2):
    # Characters whose UTF-8 bytes never repeat, so the scripted model knows each byte's successor.
    generator = scripted(tiny_gpt2, " The dog我们天见。")
    settings = engine.DecodingSettings.plain().replace(strategy="greedy", max_new_tokens=24, stop=None)
    [whole, *_] = generator.complete(" The dog", settings)
    assert whole.text == "我们天见。"
    [one, *_] = generator.complete(" The dog", settings.replace(stop="word"))
    assert one.text == "我"
