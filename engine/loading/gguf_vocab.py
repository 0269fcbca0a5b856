"""The tokenizer metadata of a GGUF file (``tokenizer.ggml.*``), read out of a ``gguf.GGUFReader``.

The reader hands every element of a metadata array as its own small numpy view (``field.parts``, with
``field.data`` the indices of the elements among them), so a 150k-token vocabulary is read with one tight loop
over those views rather than through ``field.contents()`` element by element.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CheckpointError

PREFIX = "tokenizer.ggml."


class TokenType(IntEnum):
    """llama.cpp's token types (``tokenizer.ggml.token_type``)."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


@dataclass(frozen=True)
class GGUFSpecialTokens:
    """The special token ids a GGUF names (None where it names none), for the model's config."""

    bos_id: int | None
    eos_id: int | None
    unknown_id: int | None
    padding_id: int | None
    end_of_turn_id: int | None  # instruct models' end of a turn (tokenizer.ggml.eot_token_id)


@dataclass(frozen=True)
class GGUFVocab:
    """Everything a GGUF file says about its tokenizer, as llama.cpp names it."""

    model: str  # tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama" (SentencePiece), ...
    pre: str | None  # tokenizer.ggml.pre: how text is split before BPE ("llama-bpe", "qwen2", ...)
    architecture: str  # general.architecture: Gemma's SentencePiece differs from Llama's
    tokens: list[str]
    scores: np.ndarray | None  # float32 per token (SentencePiece's merge priority)
    token_types: np.ndarray | None  # int32 per token, TokenType values
    merges: list[tuple[str, str]] | None
    add_space_prefix: bool | None  # tokenizer.ggml.add_space_prefix; None when the file does not say
    special: GGUFSpecialTokens


def read_gguf_vocab(reader: Any, path: Path) -> GGUFVocab:
    """The tokenizer metadata of the file ``reader`` reads; ``CheckpointError`` when there is none or it is broken."""
    fields = reader.fields
    model = _scalar(reader, PREFIX + "model")
    if model is None or PREFIX + "tokens" not in fields:
        raise CheckpointError(path, "holds no tokenizer (no tokenizer.ggml.model / tokenizer.ggml.tokens "
                                    "metadata), so its text cannot be turned into tokens")
    tokens = _strings(fields[PREFIX + "tokens"], path, "tokens")
    if not tokens:
        raise CheckpointError(path, "holds no tokenizer (tokenizer.ggml.tokens is empty)")
    scores = _numbers(fields.get(PREFIX + "scores"), len(tokens), path, "scores", np.float32)
    token_types = _numbers(fields.get(PREFIX + "token_type"), len(tokens), path, "token_type", np.int32)
    merges = None
    if PREFIX + "merges" in fields:
        merges = _merge_pairs(_strings(fields[PREFIX + "merges"], path, "merges"), path)
    add_space_prefix = _scalar(reader, PREFIX + "add_space_prefix")
    pre = _scalar(reader, PREFIX + "pre")
    return GGUFVocab(
        model=str(model),
        pre=None if pre is None else str(pre),
        architecture=str(_scalar(reader, "general.architecture") or ""),
        tokens=tokens,
        scores=scores,
        token_types=token_types,
        merges=merges,
        add_space_prefix=None if add_space_prefix is None else bool(add_space_prefix),
        special=read_special_tokens(reader, path),
    )


def read_special_tokens(reader: Any, path: Path) -> GGUFSpecialTokens:
    """The special token ids alone, without reading the vocabulary itself."""
    tokens = reader.fields.get(PREFIX + "tokens")
    count = len(tokens.data) if tokens is not None else 0
    return GGUFSpecialTokens(
        bos_id=_token_id(reader, "bos_token_id", count, path),
        eos_id=_token_id(reader, "eos_token_id", count, path),
        unknown_id=_token_id(reader, "unknown_token_id", count, path),
        padding_id=_token_id(reader, "padding_token_id", count, path),
        end_of_turn_id=_token_id(reader, "eot_token_id", count, path),
    )


def _scalar(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return None
    return field.contents()


def _token_id(reader: Any, name: str, count: int, path: Path) -> int | None:
    value = _scalar(reader, PREFIX + name)
    if value is None:
        return None
    # llama.cpp writes -1 (as uint32: 4294967295) for "no such token" in some files.
    if not 0 <= int(value) < count:
        if int(value) in (-1, 0xFFFFFFFF):
            return None
        raise CheckpointError(path, f"{PREFIX}{name} is {value}, outside the vocabulary of {count} tokens")
    return int(value)


def _strings(field: Any, path: Path, name: str) -> list[str]:
    parts = field.parts
    try:
        return [bytes(parts[i]).decode("utf-8") for i in field.data]
    except UnicodeDecodeError as exc:
        raise CheckpointError(path, f"{PREFIX}{name} holds text that is not UTF-8: {exc}") from exc


def _numbers(field: Any, count: int, path: Path, name: str, dtype: type[np.generic]) -> np.ndarray | None:
    if field is None:
        return None
    values = np.concatenate([field.parts[i] for i in field.data]) if len(field.data) else np.zeros(0)
    if len(values) != count:
        raise CheckpointError(path, f"{PREFIX}{name} has {len(values)} entries for {count} tokens")
    return values.astype(dtype, copy=False)


def _merge_pairs(texts: list[str], path: Path) -> list[tuple[str, str]]:
    # Searching from the second character, as llama.cpp does, lets the left token be a space itself.
    cuts = [text.find(" ", 1) for text in texts]
    for text, cut in zip(texts, cuts):
        if cut < 0 or cut == len(text) - 1:
            raise CheckpointError(path, f"{PREFIX}merges holds {text!r}, which is not two tokens and a space")
    return [(text[:cut], text[cut + 1:]) for text, cut in zip(texts, cuts)]
