"""The document memory holds the newest part of a long document, from a word's start, at a start that stays put as
the writer types on."""

from __future__ import annotations

from engine.memory.memory import DOCUMENT_MEMORY_CHARS, Memory, recent_part


def test_a_short_text_is_kept_whole():
    assert recent_part("Once upon a time") == "Once upon a time"


def test_a_long_text_keeps_its_newest_part_from_a_word_start_and_the_start_stays_while_typing_on():
    text = " ".join(f"word{index}" for index in range(4000))  # about 36,000 characters
    part = recent_part(text, most=10_000)
    assert 7_500 <= len(part) <= 10_000 and text.endswith(part) and part.startswith("word")
    for more in (" word4000", " word4000 word4001 word4002"):
        assert recent_part(text + more, most=10_000).startswith(part[:50])  # the same start: nothing to re-read


def test_the_memory_of_a_long_document_reads_only_its_newest_part(tiny_tokenizer):
    memory = Memory(tiny_tokenizer)
    text = "The rain had stopped by the time the carriage reached the gate. " * 4000  # 256,000 characters
    memory.see_document(text)
    held = memory.document.text
    assert len(held) <= DOCUMENT_MEMORY_CHARS and text.rstrip().endswith(held)
    tokens = len(memory.document.tokens)
    memory.see_document(text + "And then ")
    assert memory.document.text.startswith(held) and len(memory.document.tokens) > tokens
