"""The text side of decoding: UTF-8-safe streaming, stop rules, the healing index and the context window."""

from __future__ import annotations

import random

import pytest
import torch

from engine.decoding.healing import TokenPrefixIndex, heal, should_heal
from engine.decoding.stopping import StopRule, ends_inside_word
from engine.decoding.text_stream import TextStream, complete_text, truncate_pieces
from engine.decoding.token_window import (
    MAX_PROMPT_TOKENS,
    IncrementalEncoder,
    context_window,
    token_budget,
    trim_front,
    window_start,
)
from tests.support.samples import SAMPLE_TEXT

# --- text stream -------------------------------------------------------------------------------------------


def test_text_stream_holds_back_half_characters():
    stream = TextStream()
    data = "né😀".encode()
    deltas = [stream.push(data[i : i + 1]) for i in range(len(data))]
    assert deltas == ["n", "", "é", "", "", "", "😀"]
    assert stream.text == "né😀"


def test_text_stream_drops_the_healed_prefix():
    stream = TextStream(skip=b" bro")
    assert stream.push(b" b") == ""
    assert stream.push(b"rown") == "wn"
    assert stream.push(b" fox") == " fox"
    assert stream.text == "wn fox"


def test_complete_text_leaves_out_an_unfinished_character():
    assert complete_text("café".encode()[:-1]) == "caf"
    assert complete_text("café".encode()) == "café"
    assert complete_text(b"a\xffb") == "a\ufffdb"  # invalid bytes inside are shown, not hidden


def test_truncate_pieces():
    assert truncate_pieces(["wn", " fox", " jumps"], 6) == ["wn", " fox"]
    assert truncate_pieces(["wn", " fox", " jumps"], 4) == ["wn", " f"]
    assert truncate_pieces(["a", "", "é", "b"], 2) == ["a", "", "é"]  # a split character's first bytes stay
    assert truncate_pieces(["a", "b"], 0) == []


# --- stop rules --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mid_word", "text", "cut"),
    [
        (True, "wn", None),
        (True, "wn fox", 2),  # finishing the user's word is the one word
        (True, "wn fox ", 2),
        (True, "wn fox, the", 2),
        (True, "wn.", 2),
        (True, "'t go ", 2),  # "don" + "'t": the word the user was typing
        (True, " fox ", 4),  # the user's word was complete: the next one
        (False, "brown fox", 5),
        (False, " brown fox", 6),
        (False, "  ", None),
        (False, "don't stop", 5),
        (False, "don'", None),  # may become "don't"
        (False, "dogs' bones", 4),
        (False, "3.14 is", 1),
    ],
)
def test_word_rule(mid_word, text, cut):
    assert StopRule("word", prompt_ends_inside_word=mid_word).cut(text) == cut


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("over the lazy dog.", None),  # a full stop only ends a sentence once whitespace follows
        ("over the lazy dog. It", 18),
        ("Really?! Yes", 8),
        ('he said "Home." Then', 15),
        ("(see above.) Next", 12),
        ("pi is 3.14 and", None),
        ("Wait… what", 5),
        ("end.\nNext", 4),
    ],
)
def test_sentence_rule(text, cut):
    assert StopRule("sentence").cut(text) == cut


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("over the lazy dog", None),
        ("over the lazy dog\nNext", 17),
        ("\n\nHello\nWorld", 7),  # leading blank lines belong to the completion
        ("\n\n", None),
        ("done\r\nnext", 4),
    ],
)
def test_line_rule(text, cut):
    assert StopRule("line").cut(text) == cut


def test_no_rule_never_cuts():
    rule = StopRule(None)
    assert not rule.active and rule.cut("a. b\nc d ") is None
    with pytest.raises(ValueError, match="stop"):
        StopRule("paragraph")


def test_ends_inside_word():
    assert ends_inside_word("The quick bro") and ends_inside_word("café")
    assert not ends_inside_word("The quick ") and not ends_inside_word("dog.") and not ends_inside_word("")


# --- token healing -----------------------------------------------------------------------------------------


TOKENS = [b"", b" b", b" bro", b" brown", b" brother", b"b", b"bro", b" c", b"\xff", b"\xff\xfe", b" bra"]


def test_prefix_index_finds_exactly_the_tokens_starting_with_the_bytes():
    index = TokenPrefixIndex(TOKENS, excluded={4})
    assert sorted(index.ids_starting_with(b" bro").tolist()) == [2, 3]  # 4 is special, excluded
    assert sorted(index.ids_starting_with(b" b").tolist()) == [1, 2, 3, 10]
    assert sorted(index.ids_starting_with(b"\xff").tolist()) == [8, 9]
    assert index.ids_starting_with(b" z").tolist() == []
    assert 0 not in index.ids_starting_with(b"").tolist()  # tokens without bytes never qualify


def test_prefix_index_agrees_with_a_linear_scan(tiny_tokenizer):
    table = tiny_tokenizer.token_bytes
    index = TokenPrefixIndex(table, tiny_tokenizer.special_ids)
    for prefix in (b" ", b" t", b"th", b"\xc3", b"e", b"."):
        expected = {i for i, data in enumerate(table) if data and data.startswith(prefix)}
        assert set(index.ids_starting_with(prefix).tolist()) == expected


def test_heal_backs_off_the_last_token_inside_a_word_or_after_a_space():
    index = TokenPrefixIndex(TOKENS)
    healed = heal([7, 2], "x c bro", TOKENS, index, frozenset())
    assert healed.tokens == [7] and healed.prefix == b" bro"
    assert sorted(healed.allowed.tolist()) == [2, 3, 4]
    after_space = heal([7, 1], "x c b", TOKENS, index, frozenset())
    assert after_space.prefix == b" b"
    assert should_heal("The quick ") and should_heal("The quick bro") and not should_heal("The end.")


def test_heal_leaves_special_tokens_punctuation_and_lone_tokens_alone():
    index = TokenPrefixIndex(TOKENS)
    assert heal([7, 2], "x bro", TOKENS, index, frozenset({2})).prefix == b""  # special last token
    assert heal([7, 2], "The end.", TOKENS, index, frozenset()).prefix == b""
    assert heal([2], "bro", TOKENS, index, frozenset()).tokens == [2]  # nothing would be left to read


# --- context window ----------------------------------------------------------------------------------------


def test_token_budget_leaves_room_for_new_tokens():
    assert token_budget(1024, 16) == 1008
    assert token_budget(128, 100) == 64  # at least half the context stays for the prompt
    assert token_budget(None, 16) >= 512
    assert token_budget(32768, 16) == MAX_PROMPT_TOKENS  # long-context models read a bounded tail


def test_window_start_moves_in_steps_and_lands_on_whitespace():
    text = ("word " * 2000)[:9000]
    starts = {window_start(text[:end], 1000) for end in range(5000, 5200)}
    assert len(starts) == 1  # 200 keystrokes, one window
    start = starts.pop()
    assert text[start].isspace() and 4000 <= start < 4250  # quantised to 250, then the next space
    assert window_start("short", 1000) == 0


def test_trim_front_drops_whole_blocks():
    assert trim_front(list(range(10)), 20) == list(range(10))
    trimmed = [trim_front(list(range(n)), 100) for n in range(101, 126)]
    assert all(t[0] == 25 for t in trimmed)  # the same 25-token block goes, so the rest keeps its start
    assert all(len(t) <= 100 for t in trimmed)


def test_context_window_marks_the_document_start(tiny_tokenizer):
    short = context_window("The dog", tiny_tokenizer, 100, bos_token_id=0)
    assert short.tokens[0] == 0 and short.starts_document
    assert short.tokens[1:] == tiny_tokenizer.encode("The dog")
    long_text = "The quick brown fox jumps over the lazy dog. " * 50
    window = context_window(long_text, tiny_tokenizer, 50, bos_token_id=0)
    assert not window.starts_document and 0 not in window.tokens and len(window.tokens) <= 50
    assert long_text.endswith(window.text) and window.text[0].isspace()
    assert tiny_tokenizer.decode(window.tokens) == window.text[-len(tiny_tokenizer.decode(window.tokens)):]


def test_prefix_index_tensor_on_cpu_is_a_view():
    index = TokenPrefixIndex(TOKENS)
    ids = index.ids_starting_with(b" b", torch.device("cpu"))
    assert ids.dtype == torch.long and ids._base is not None


def test_incremental_encoder_matches_a_full_encode_through_typing_and_edits(tiny_tokenizer):
    encoder = IncrementalEncoder(tiny_tokenizer)
    assert encoder.splittable
    text = ""
    source = SAMPLE_TEXT * 2
    rng = random.Random(0)
    for step in range(600):
        if step % 97 == 96:  # an edit in the middle, then typing goes on
            cut = rng.randrange(len(text))
            text = text[:cut] + "  x\n" + text[cut + 3 :]
        elif step % 41 == 40:  # backspace
            text = text[:-3]
        else:
            text += source[len(text) % len(source)]
        assert encoder.encode(text) == tiny_tokenizer.encode(text), (step, text[-30:])
    assert len(encoder._head) > len(text) // 2  # the head was really reused


def test_incremental_encoder_falls_back_for_other_tokenizers(tiny_tokenizer):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    from engine.loading.tokenizer import TextTokenizer

    assert not IncrementalEncoder(TextTokenizer(backend)).splittable


def test_a_large_model_reads_a_shorter_window_on_the_cpu():
    from engine.decoding.token_window import (
        LARGE_MODEL_CPU_PROMPT_TOKENS,
        LARGE_MODEL_PARAMETERS,
        MAX_PROMPT_TOKENS,
        prompt_token_cap,
        token_budget,
    )

    assert prompt_token_cap(LARGE_MODEL_PARAMETERS, "cpu") == LARGE_MODEL_CPU_PROMPT_TOKENS
    assert prompt_token_cap(LARGE_MODEL_PARAMETERS, "cuda") == MAX_PROMPT_TOKENS
    assert prompt_token_cap(LARGE_MODEL_PARAMETERS - 1, "cpu") == MAX_PROMPT_TOKENS
    assert token_budget(8192, 32, LARGE_MODEL_CPU_PROMPT_TOKENS) == LARGE_MODEL_CPU_PROMPT_TOKENS


def test_a_large_model_on_the_cpu_catches_its_memory_up_in_short_reads(monkeypatch):
    from engine.decoding import generator as generator_module
    from engine.decoding.token_window import LARGE_MODEL_CPU_PROMPT_TOKENS

    windows: list[int] = []

    class Memory:
        def update_states(self, _read, window):
            windows.append(window)
            return 0

    class Generator:
        model = type("M", (), {"max_context": 8192})()
        prompt_cap = LARGE_MODEL_CPU_PROMPT_TOKENS
        _read_document = None

    generator_module.Generator.catch_up_states(Generator(), Memory())
    assert windows == [LARGE_MODEL_CPU_PROMPT_TOKENS // 4]
