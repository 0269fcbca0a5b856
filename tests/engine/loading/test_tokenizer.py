"""TextTokenizer: encoding round trips and the raw bytes of every token, for byte-level and SentencePiece styles."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers

from engine.errors import CheckpointError
from engine.loading.tokenizer import TextTokenizer

TEXTS = ["Hello world!", "Café – naïve résumé", "emoji 🦊 and 漢字", "  two spaces\n\nand lines\t"]


def _copy(tokenizer: TextTokenizer) -> TextTokenizer:
    return TextTokenizer(Tokenizer.from_str(tokenizer.backend.to_str()))


@pytest.mark.parametrize("text", TEXTS)
def test_token_bytes_concatenate_to_the_texts_bytes(tiny_tokenizer, text):
    ids = tiny_tokenizer.encode(text)
    assert b"".join(tiny_tokenizer.token_bytes[i] for i in ids) == text.encode("utf-8")
    assert tiny_tokenizer.token_bytes_of(ids) == text.encode("utf-8")
    assert tiny_tokenizer.decode(ids) == text


def test_special_tokens_have_no_bytes(tiny_tokenizer):
    assert tiny_tokenizer.token_id("<|endoftext|>") == 0
    assert 0 in tiny_tokenizer.special_ids
    assert tiny_tokenizer.token_bytes[0] == b""
    assert tiny_tokenizer.decode([0, *tiny_tokenizer.encode("hi")]) == "hi"


def test_added_tokens_keep_their_literal_text(tiny_tokenizer):
    """Added tokens are stored as plain text, not in the byte-level alphabet, where "é" would mean byte 0xE9."""
    tokenizer = _copy(tiny_tokenizer)
    tokenizer.backend.add_tokens(["é!", "<tab>"])
    accent, tab = tokenizer.token_id("é!"), tokenizer.token_id("<tab>")
    assert tokenizer.token_bytes[accent] == "é!".encode()
    assert tokenizer.token_bytes[tab] == b"<tab>"
    assert tokenizer.vocab_size == tiny_tokenizer.vocab_size + 2
    ids = tokenizer.encode("xé!y")
    assert accent in ids
    assert tokenizer.decode(ids) == "xé!y"


def test_vocab_size_covers_the_highest_id_even_with_gaps():
    backend = Tokenizer(models.WordLevel({"a": 0, "b": 1, "<unk>": 7}, unk_token="<unk>"))
    assert backend.get_vocab_size() == 3
    assert TextTokenizer(backend).vocab_size == 8  # a model needs 8 embedding rows to accept id 7
    assert len(TextTokenizer(backend).token_bytes) == 8


def test_sentencepiece_style_tokens_map_to_bytes():
    """Llama-style: "▁" stands for a space and <0xNN> tokens carry single bytes (byte fallback)."""
    vocab = {"<unk>": 0, "▁the": 1, "▁cat": 2, "<0xE2>": 3, "<0x80>": 4, "<0x94>": 5, "s": 6}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer = TextTokenizer(backend)
    assert tokenizer.token_bytes[1] == b" the"
    assert tokenizer.token_bytes[3] == b"\xe2"
    assert tokenizer.decode([1, 2, 6, 3, 4, 5]) == " the cats\u2014"  # three byte tokens make one em dash


def test_a_missing_or_malformed_tokenizer_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="missing") as caught:
        TextTokenizer.from_file(tmp_path / "tokenizer.json")
    assert caught.value.path == tmp_path / "tokenizer.json"
    (tmp_path / "tokenizer.json").write_text('{"model": 3}')
    with pytest.raises(CheckpointError, match="not a valid Hugging Face tokenizer"):
        TextTokenizer.from_file(tmp_path / "tokenizer.json")


def test_from_file_round_trips_a_saved_tokenizer(tmp_path, tiny_tokenizer):
    tiny_tokenizer.backend.save(str(tmp_path / "tokenizer.json"))
    loaded = TextTokenizer.from_file(tmp_path / "tokenizer.json")
    assert loaded.path == tmp_path / "tokenizer.json"
    assert loaded.vocab_size == tiny_tokenizer.vocab_size
    assert loaded.token_bytes == tiny_tokenizer.token_bytes
    assert loaded.encode(TEXTS[1]) == tiny_tokenizer.encode(TEXTS[1])


def test_a_byte_level_vocabulary_without_a_decoder_still_maps_to_bytes(tiny_tokenizer):
    """Some tokenizer.json files have no decoder; the byte-level pre-tokenizer alone tells "Ġ" means a space."""
    data = json.loads(tiny_tokenizer.backend.to_str())
    data["decoder"] = None
    bare = TextTokenizer(Tokenizer.from_str(json.dumps(data)))
    ids = bare.encode("The quick brown fox")
    assert bare.token_bytes_of(ids) == b"The quick brown fox"
    assert not any("Ġ".encode() in piece for piece in bare.token_bytes)
