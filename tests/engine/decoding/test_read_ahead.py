"""Reading a prompt ahead (while the writer types) leaves the request that follows nothing to read, and changes
nothing in what it suggests."""

from __future__ import annotations

from engine.decoding.settings import DecodingSettings

TEXT = "The quick brown fox jumps over the "


def test_a_request_after_a_read_ahead_reads_nothing_and_suggests_the_same(tiny_gpt2):
    generator = tiny_gpt2.generator
    settings = DecodingSettings(max_new_tokens=6, memory=False)
    cold = generator.complete(TEXT, settings)
    assert generator.last_prefill["prefill_tokens"] > 1
    generator.forget()

    assert tiny_gpt2.read_ahead(TEXT, settings) > 1
    warm = generator.complete(TEXT, settings)
    assert generator.last_prefill["prefill_tokens"] == 0
    assert [c.text for c in warm] == [c.text for c in cold]


def test_a_read_ahead_of_other_text_still_leaves_its_shared_start(tiny_gpt2):
    generator = tiny_gpt2.generator
    settings = DecodingSettings(max_new_tokens=4, memory=False)
    tiny_gpt2.read_ahead(TEXT, settings)
    generator.complete(TEXT + "lazy dog, and ", settings)
    read = generator.last_prefill["prefill_tokens"]
    assert 0 < read < len(tiny_gpt2.tokenizer.encode(TEXT + "lazy dog, and "))


def test_with_the_memory_on_the_read_ahead_is_used_too(tiny_gpt2):
    generator = tiny_gpt2.generator
    settings = DecodingSettings(max_new_tokens=4)
    cold = generator.complete(TEXT, settings)
    generator.forget()
    tiny_gpt2.read_ahead(TEXT, settings)
    warm = generator.complete(TEXT, settings)
    assert generator.last_prefill["prefill_tokens"] == 0
    assert [c.text for c in warm] == [c.text for c in cold]
