"""The tokenizer of a model folder (Hugging Face ``tokenizers`` format), plus the raw bytes of every token.

Token bytes let decoding reason about text at the byte level: token healing needs to know which tokens start with
the characters the user typed, and streaming must not print half of a multi-byte character.
"""

from __future__ import annotations

import functools
import json
import re
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer

from engine.errors import CheckpointError

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.cache
def _byte_level_decoding() -> tuple[re.Pattern[str], dict[int, str]]:
    """What decodes a token spelled in GPT-2's byte alphabet at C speed: a pattern that finds a character outside
    the alphabet, and a ``str.translate`` table from each stand-in character to the latin-1 character of its byte
    (the vocabulary has ~50k tokens, each decoded once when the table is built)."""
    byte_map = _gpt2_unicode_to_byte()
    outside = re.compile("[^" + "".join(re.escape(ch) for ch in byte_map) + "]")
    return outside, {ord(ch): chr(byte) for ch, byte in byte_map.items()}


def _gpt2_unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode table: printable stand-in character -> raw byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


class TextTokenizer:
    """Encodes text to token ids and back; knows each token's bytes."""

    def __init__(self, tokenizer: Tokenizer, path: Path | None = None) -> None:
        self.backend = tokenizer
        self.path = path

    @classmethod
    def from_file(cls, path: str | Path) -> TextTokenizer:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(path, "file is missing")
        try:
            return cls(Tokenizer.from_file(str(path)), path)
        except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
            raise CheckpointError(path, f"not a valid Hugging Face tokenizer: {exc}") from exc

    @cached_property
    def vocab_size(self) -> int:
        """Size of the id space (highest id + 1): the rows a model's embedding needs for this tokenizer.

        Not the number of tokens: a tokenizer with a gap in its ids still emits its highest id.
        """
        ids = self.backend.get_vocab(with_added_tokens=True).values()
        return max(ids, default=-1) + 1

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.token_bytes_of(ids).decode("utf-8", errors="replace")

    def token_bytes_of(self, ids: list[int]) -> bytes:
        table = self.token_bytes
        return b"".join(table[i] if 0 <= i < len(table) else b"" for i in ids)

    def token_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    @cached_property
    def special_ids(self) -> frozenset[int]:
        return frozenset(t["id"] for t in self._added_tokens() if t.get("special", False))

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """Raw bytes of every token id; special tokens map to b"" (they are never shown as text)."""
        decoder_type = self._decoder_type()
        size = self.vocab_size
        table: list[bytes] = [b""] * size
        special = self.special_ids
        # Added tokens hold their literal text, not the byte-level alphabet ("é" is not byte 0xE9 there).
        added = {t["id"]: t["content"] for t in self._added_tokens()}
        for token, index in self.backend.get_vocab(with_added_tokens=True).items():
            if index >= size or index in special:
                continue
            if index in added:
                table[index] = added[index].encode("utf-8")
            else:
                table[index] = self._bytes_of(token, decoder_type)
        return table

    def _bytes_of(self, token: str, decoder_type: str) -> bytes:
        if decoder_type == "ByteLevel":
            outside, to_latin1 = _byte_level_decoding()
            if outside.search(token) is None:
                return token.translate(to_latin1).encode("latin-1")
            return token.encode("utf-8")
        match = _BYTE_FALLBACK.match(token)
        if match:
            return bytes([int(match.group(1), 16)])
        return token.replace("\u2581", " ").encode("utf-8")

    @cached_property
    def _added_token_list(self) -> list[dict]:
        # From the tokenizer's own table, not its whole JSON (a 50k-token vocabulary with its merges: ~0.1 s).
        return [{"id": index, "content": token.content, "special": token.special}
                for index, token in self.backend.get_added_tokens_decoder().items()]

    def _added_tokens(self) -> list[dict]:
        return self._added_token_list

    def _decoder_type(self) -> str:
        # Some tokenizer.json files carry no decoder; their pre-tokenizer still says the vocabulary is in GPT-2's
        # byte alphabet, and without it every token would show as "ĠUn" instead of " Un".
        for part in (self.backend.decoder, self.backend.pre_tokenizer):
            kind = _byte_level_or_kind(json.loads(part.__getstate__()) if part is not None else {})
            if kind:
                return kind
        return ""


def _byte_level_or_kind(part: dict) -> str:
    kind = part.get("type", "")
    if kind == "Sequence":
        kinds = {d.get("type") for d in part.get("decoders", part.get("pretokenizers", []))}
        return "ByteLevel" if "ByteLevel" in kinds else "Sequence"
    return kind
