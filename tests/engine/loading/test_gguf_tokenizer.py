"""The tokenizer rebuilt from a GGUF file's metadata gives the ids transformers' GGUF tokenizer gives for the same
file, for each kind (byte-level BPE under each pre-tokenizer, SentencePiece, Gemma's), and the right bytes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gguf
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from engine.errors import CheckpointError
from engine.loading.gguf_tokenizer import gguf_special_tokens, tokenizer_from_gguf
from tests.support.paths import SHARED_GGUF

transformers = pytest.importorskip("transformers")

REAL_FILE = SHARED_GGUF

TRAINING_TEXT = (
    "The quick brown fox jumps over the lazy dog. In 2024 we sold 12345 cups for $3.50 each! "
    "Café, naïve, résumé, Zürich, São Paulo, déjà vu. 你好，世界。我们今天去北京。 Emoji 🙂🎉👍 time. "
    "def add(x, y):\n    return x + y  # sum\n\nfor i in range(10):\n\tprint(i**2)\n"
)
# Some characters here are not in the training text (ß, 😀, 東): SentencePiece falls back to byte tokens.
TEXTS = {
    "english": "The lazy dog sleeps while the quick brown fox jumps; it's 7 o'clock and we'RE late.",
    "accented": "Déjà vu à São Paulo: naïve résumés from Zürich, and a Straße.",
    "chinese": "你好，世界。我们今天去北京，东京和東京。",
    "emoji": "Party time 🎉🙂👍 and a grin 😀!",
    "code": "def add(x, y):\n    return x + y  # sum\n\n\tfor i in range(2024):\n        print(i**2, 3.14159)\n",
    "spaces": "Hello  world   and\n\n\n  indented   ",
}


def _write_gguf(path: Path, tokens: list[str], types: list[int] | None, *, model: str, architecture: str = "llama",
                pre: str | None = None, merges: list[str] | None = None, scores: list[float] | None = None,
                bos: int | None = None, eos: int | None = None, unknown: int | None = None,
                padding: int | None = None, add_space_prefix: bool | None = None) -> Path:
    """A GGUF holding only a tokenizer and the few architecture keys transformers needs to open it."""
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_context_length(128)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(4)
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    if types is not None:
        writer.add_token_types(types)
    if merges is not None:
        writer.add_token_merges(merges)
    if scores is not None:
        writer.add_token_scores(scores)
    for value, add in ((bos, writer.add_bos_token_id), (eos, writer.add_eos_token_id),
                       (unknown, writer.add_unk_token_id), (padding, writer.add_pad_token_id)):
        if value is not None:
            add(value)
    if add_space_prefix is not None:
        writer.add_add_space_prefix(add_space_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _trained(tokenizer: Tokenizer, vocab_size: int, special: list[str],
             alphabet: list[str] | None = None) -> dict:
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=alphabet or [])
    tokenizer.train_from_iterator([TRAINING_TEXT] * 10, trainer)
    return json.loads(tokenizer.to_str())["model"]


def _in_id_order(vocab: dict[str, int]) -> list[str]:
    return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


# Byte-level BPE: <|endoftext|> <|im_start|> <|im_end|> (control), the trained tokens, then <think> (user-defined).
BPE_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def byte_level_vocab() -> tuple[list[str], list[int], list[str]]:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained = _trained(tokenizer, 700, BPE_SPECIAL, pre_tokenizers.ByteLevel.alphabet())
    tokens = _in_id_order(trained["vocab"]) + ["<think>"]
    types = [3] * len(BPE_SPECIAL) + [1] * (len(tokens) - len(BPE_SPECIAL) - 1) + [4]
    merges = [" ".join(pair) for pair in trained["merges"]]
    return tokens, types, merges


@pytest.fixture(scope="module")
def byte_level_files(tmp_path_factory, byte_level_vocab) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("byte-level")
    tokens, types, merges = byte_level_vocab
    return {pre: _write_gguf(folder / f"{pre}.gguf", tokens, types, model="gpt2", pre=pre, merges=merges,
                             bos=1, eos=2, padding=2)
            for pre in ("gpt-2", "llama-bpe", "qwen2", "smollm", "no-such-splitter")}


def _sentencepiece_pieces(gemma: bool) -> list[str]:
    tokenizer = Tokenizer(models.BPE())
    if gemma:
        tokenizer.normalizer = normalizers.Replace(" ", "\u2581")
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    return _in_id_order(_trained(tokenizer, 500, [])["vocab"])


BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


@pytest.fixture(scope="module")
def llama_file(tmp_path_factory) -> Path:
    """Llama 2 / Mistral layout: <unk> <s> </s>, 256 byte tokens, then pieces scored best first."""
    pieces = _sentencepiece_pieces(gemma=False)
    tokens = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS + pieces
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return _write_gguf(tmp_path_factory.mktemp("llama") / "llama.gguf", tokens, types, model="llama",
                       scores=scores, bos=1, eos=2, unknown=0)


@pytest.fixture(scope="module")
def gemma_file(tmp_path_factory) -> Path:
    """Gemma 3 layout: runs of spaces stored as real spaces, "\\n\\n" user-defined, scores that do not follow the
    merge order (the token order does), no space before the text."""
    extra = ["  ", "   ", "\n\n"]
    # Runs of ▁ come from the file's runs of spaces only (as in Gemma's); "\n\n" only as the user-defined token.
    pieces = [p for p in _sentencepiece_pieces(gemma=True) if (p.strip("\u2581") or len(p) < 2) and p not in extra]
    head = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>"]
    tokens = head + BYTE_TOKENS + pieces + extra
    types = [3, 3, 3, 2, 3] + [6] * 256 + [1] * len(pieces) + [1, 1, 4]
    scores = [float(i % 7) for i in range(len(tokens))]
    return _write_gguf(tmp_path_factory.mktemp("gemma") / "gemma.gguf", tokens, types, model="llama",
                       architecture="gemma3", scores=scores, bos=2, eos=1, unknown=3, padding=0,
                       add_space_prefix=False)


def _ours(path: Path):
    return tokenizer_from_gguf(gguf.GGUFReader(path), path)


def _transformers(path: Path):
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _assert_same_ids(path: Path, texts: dict[str, str]) -> None:
    ours, theirs = _ours(path), _transformers(path)
    for name, text in texts.items():
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False), (path.name, name)


@pytest.mark.parametrize("pre", ["gpt-2", "llama-bpe", "qwen2"])
def test_byte_level_gives_transformers_ids(byte_level_files, pre):
    _assert_same_ids(byte_level_files[pre], TEXTS)


def _with_smollm_split(transformers_tokenizer):
    """transformers' GGUF tokenizer with the pre-tokenizer of SmolLM's own tokenizer.json (every digit apart, then
    GPT-2's split), which llama.cpp runs for ``smollm`` too; transformers' GGUF path splits as GPT-2 does."""
    transformers_tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    return transformers_tokenizer


def test_smollm_splits_digits_one_by_one(byte_level_files):
    path = byte_level_files["smollm"]
    ours, theirs = _ours(path), _transformers(path)
    no_digits = [text for text in TEXTS.values() if not any(ch.isdigit() for ch in text)]
    for text in no_digits:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False)
    theirs = _with_smollm_split(theirs)
    for text in TEXTS.values():
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False)
    assert [ours.token_bytes[i] for i in ours.encode("In 2024 we sold")] == \
        [b"In", b" ", b"2", b"0", b"2", b"4", b" we", b" sold"]
    gpt2 = _ours(byte_level_files["gpt-2"])
    assert len(gpt2.encode("In 2024 we sold")) < 8  # the vocabulary holds merged digits that GPT-2's split uses


def test_each_pre_tokenizer_cuts_text_its_own_way(byte_level_files):
    text = TEXTS["code"] + " I'M 12345"
    ids = {pre: tuple(_ours(byte_level_files[pre]).encode(text)) for pre in ("gpt-2", "llama-bpe", "qwen2", "smollm")}
    assert len(set(ids.values())) == 4, ids


def test_llama_bpe_takes_a_word_that_is_a_whole_token_as_is(tmp_path):
    # Llama 3 sets ignore_merges, and llama.cpp honours it for llama-bpe: "abc" is one token even though its
    # merges ("b c" ranks first, and nothing joins "a" with "bc") would cut it in two, as they do under qwen2.
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u0120"]
    tokens = ["<|endoftext|>"] + letters + ["bc", "ab", "abc", "\u0120a"]
    merges = ["b c", "a b", "\u0120 a"]
    ids = {}
    for pre in ("llama-bpe", "qwen2"):
        path = _write_gguf(tmp_path / f"{pre}.gguf", tokens, [3] + [1] * (len(tokens) - 1), model="gpt2",
                           pre=pre, merges=merges, eos=0)
        ids[pre] = _ours(path).encode("abc")
    assert ids == {"llama-bpe": [tokens.index("abc")], "qwen2": [tokens.index("a"), tokens.index("bc")]}


def test_an_unknown_pre_tokenizer_is_split_as_gpt2_does_and_said_so(byte_level_files, caplog):
    with caplog.at_level(logging.WARNING):
        unknown = _ours(byte_level_files["no-such-splitter"])
    assert unknown.encode(TEXTS["code"]) == _ours(byte_level_files["gpt-2"]).encode(TEXTS["code"])
    message = caplog.text
    assert "no-such-splitter.gguf" in message and "'no-such-splitter'" in message
    assert "llama-bpe" in message and "qwen2" in message and "GPT-2" in message


def test_sentencepiece_gives_transformers_ids(llama_file):
    _assert_same_ids(llama_file, TEXTS)


def test_gemma_gives_transformers_ids(gemma_file):
    _assert_same_ids(gemma_file, TEXTS)


@pytest.mark.parametrize("pre", ["gpt-2", "llama-bpe", "qwen2", "smollm"])
def test_byte_level_token_bytes_round_trip(byte_level_files, pre):
    tokenizer = _ours(byte_level_files[pre])
    for text in TEXTS.values():
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_gemma_token_bytes_round_trip(gemma_file):
    tokenizer = _ours(gemma_file)
    for text in TEXTS.values():
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.token_bytes[tokenizer.token_id("\u2581\u2581")] == b"  "  # stored as "  " in the file


def test_sentencepiece_token_bytes_round_trip_after_the_space_it_puts_first(llama_file):
    tokenizer = _ours(llama_file)
    for text in TEXTS.values():
        # SentencePiece's dummy prefix: "Hello" is encoded as "▁Hello", whose bytes are " Hello".
        assert tokenizer.decode(tokenizer.encode(text)) == " " + text.lstrip(" ")


def test_sentencepiece_merges_of_equal_score_go_longer_left_piece_first(tmp_path):
    # Files that score many tokens alike (0.0) exist; transformers then ranks the merge with the longer left piece
    # first, and llama.cpp, joining the leftmost of equal pairs first, cuts this text the same way: "abc" + "d"
    # rather than the "ab" + "cd" that token order alone would give.
    tokens = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS + ["\u2581", "a", "b", "c", "d", "ab", "cd", "abc"]
    path = _write_gguf(tmp_path / "ties.gguf", tokens, [2, 3, 3] + [6] * 256 + [1] * 8, model="llama",
                       scores=[0.0] * len(tokens), unknown=0)
    ours = _ours(path).encode("abcd")
    assert ours == [tokens.index("\u2581"), tokens.index("abc"), tokens.index("d")]
    assert ours == _transformers(path).backend_tokenizer.encode("abcd", add_special_tokens=False).ids


def test_sentencepiece_falls_back_to_byte_tokens(llama_file):
    tokenizer = _ours(llama_file)
    ids = tokenizer.encode("😀")
    assert [tokenizer.token_bytes[i] for i in ids] == [b" "] + [bytes([b]) for b in "😀".encode()]
    assert ids[1:] == [tokenizer.token_id(f"<0x{b:02X}>") for b in "😀".encode()]


def test_sentencepiece_without_a_space_prefix_when_the_file_says_so(tmp_path):
    tokens = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS + ["\u2581", "H", "i", "Hi", "\u2581Hi"]
    scores = [0.0] * 259 + [-5.0, -6.0, -7.0, -1.0, -2.0]
    types = [2, 3, 3] + [6] * 256 + [1] * 5
    with_prefix = _write_gguf(tmp_path / "prefix.gguf", tokens, types, model="llama", scores=scores, unknown=0)
    without = _write_gguf(tmp_path / "bare.gguf", tokens, types, model="llama", scores=scores, unknown=0,
                          add_space_prefix=False)
    assert _ours(with_prefix).encode("Hi Hi") == [tokens.index("\u2581Hi")] * 2
    assert _ours(without).encode("Hi Hi") == [tokens.index("Hi"), tokens.index("\u2581Hi")]


def test_control_tokens_are_special_and_user_defined_ones_added_whole(byte_level_files, byte_level_vocab):
    tokens = byte_level_vocab[0]
    tokenizer = _ours(byte_level_files["qwen2"])
    assert tokenizer.special_ids == frozenset({0, 1, 2})
    assert tokenizer.encode("a<|im_end|>b<think>c") == tokenizer.encode("a") + [2] + tokenizer.encode("b") + \
        [tokens.index("<think>")] + tokenizer.encode("c")
    assert tokenizer.token_bytes[2] == b""
    assert tokenizer.token_bytes[tokens.index("<think>")] == b"<think>"
    assert tokenizer.vocab_size == len(tokens)


def test_sentencepiece_special_tokens(llama_file, gemma_file):
    llama = _ours(llama_file)
    assert llama.special_ids == frozenset({0, 1, 2})  # <unk> (unknown) <s> </s> (control)
    assert llama.encode("x</s>")[-1] == 2
    assert llama.token_bytes[llama.token_id("<0x41>")] == b"A"
    gemma = _ours(gemma_file)
    assert gemma.special_ids == frozenset({0, 1, 2, 3, 4})
    assert gemma.encode("a\n\nb") == gemma.encode("a") + [gemma.token_id("\n\n")] + gemma.encode("b")


def test_without_token_types_the_named_special_tokens_are_special(tmp_path, byte_level_vocab):
    tokens, _, merges = byte_level_vocab
    path = _write_gguf(tmp_path / "untyped.gguf", tokens, None, model="gpt2", pre="qwen2", merges=merges, bos=1,
                       eos=2)
    tokenizer = _ours(path)
    assert tokenizer.special_ids == frozenset({1, 2})
    assert tokenizer.encode("a<|im_end|>")[-1] == 2


def test_a_control_token_not_spelled_in_the_byte_alphabet_is_not_given_a_new_id(tmp_path, byte_level_vocab):
    # llama.cpp sometimes marks such a token control; adding it would push the vocabulary past the model's rows.
    tokens, types, merges = byte_level_vocab
    path = _write_gguf(tmp_path / "mislabel.gguf", tokens + ["<|tool call|>"], types + [3], model="gpt2",
                       pre="qwen2", merges=merges, eos=2)
    tokenizer = _ours(path)
    assert tokenizer.vocab_size == len(tokens) + 1
    assert len(tokens) not in tokenizer.special_ids


def test_special_token_ids_for_the_config(byte_level_files, gemma_file):
    specials = gguf_special_tokens(gguf.GGUFReader(gemma_file), gemma_file)
    assert (specials.bos_id, specials.eos_id, specials.unknown_id, specials.padding_id) == (2, 1, 3, 0)
    path = byte_level_files["qwen2"]
    specials = gguf_special_tokens(gguf.GGUFReader(path), path)
    assert (specials.bos_id, specials.eos_id, specials.unknown_id, specials.end_of_turn_id) == (1, 2, None, None)


def test_special_token_ids_outside_the_vocabulary(tmp_path):
    tokens = ["<unk>", "a", "b"]
    # llama.cpp's "no such token" (-1 written as uint32) is read as none.
    path = _write_gguf(tmp_path / "none.gguf", tokens, [2, 1, 1], model="gpt2", merges=[], bos=0xFFFFFFFF, eos=0)
    specials = gguf_special_tokens(gguf.GGUFReader(path), path)
    assert (specials.bos_id, specials.eos_id) == (None, 0)
    path = _write_gguf(tmp_path / "beyond.gguf", tokens, [2, 1, 1], model="gpt2", merges=[], eos=7)
    with pytest.raises(CheckpointError, match="eos_token_id is 7, outside the vocabulary of 3 tokens"):
        _ours(path)


def test_a_file_without_a_tokenizer_says_so(tmp_path):
    path = tmp_path / "bare.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(CheckpointError, match="holds no tokenizer") as error:
        _ours(path)
    assert error.value.path == path and str(path) in str(error.value)


def test_an_unknown_tokenizer_model_is_named_with_the_supported_ones(tmp_path):
    path = _write_gguf(tmp_path / "bert.gguf", ["[UNK]", "a"], [2, 1], model="bert")
    with pytest.raises(CheckpointError) as error:
        _ours(path)
    message = str(error.value)
    assert str(path) in message and "'bert'" in message and "gpt2" in message and "llama" in message


def test_broken_tokenizer_metadata_is_a_checkpoint_error(tmp_path):
    tokens = ["<unk>", "a", "b"]
    no_order = _write_gguf(tmp_path / "no-scores.gguf", tokens, [2, 1, 1], model="llama")
    with pytest.raises(CheckpointError, match="neither tokenizer.ggml.scores"):
        _ours(no_order)
    bad_merge = _write_gguf(tmp_path / "bad-merge.gguf", tokens, [2, 1, 1], model="gpt2", pre="gpt-2",
                            merges=["a b"])
    with pytest.raises(CheckpointError, match="merges do not fit"):
        _ours(bad_merge)
    no_merges = _write_gguf(tmp_path / "no-merges.gguf", tokens, [2, 1, 1], model="gpt2", pre="gpt-2")
    with pytest.raises(CheckpointError, match="no tokenizer.ggml.merges"):
        _ours(no_merges)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"{REAL_FILE} is absent")
def test_the_shared_smollm2_file_gives_transformers_ids():
    # Its pre-tokenizer is smollm: transformers with SmolLM's own split is the reference (it differs from plain
    # transformers on numbers, " ½" included; llama.cpp agrees with this one).
    text = "\n".join(TEXTS.values()) + (
        "\nDear Ms. Smith,\n\nThank you for your letter of 3 March 2025. I look forward to hearing from you.\n"
        "<|im_start|>user\nWrite a haiku<|im_end|>\n€42.50 — “quoted” ‘text’ … ½ → ∞\n"
    )
    ours = _ours(REAL_FILE)
    theirs = _with_smollm_split(_transformers(REAL_FILE))
    ids = ours.encode(text)
    assert ids == theirs.encode(text, add_special_tokens=False)
    assert ours.decode(ids) == text.replace("<|im_start|>", "").replace("<|im_end|>", "")
    assert ours.vocab_size == 49152 and ours.special_ids == frozenset(range(17))
