"""The tokenizer of a GGUF model file, rebuilt as a Hugging Face ``tokenizers`` tokenizer.

A GGUF has no ``tokenizer.json``: its vocabulary, merges, scores, token types and special token ids are metadata
(``tokenizer.ggml.*``), read here with the ``gguf`` package's reader. The kinds llama.cpp calls ``gpt2``
(byte-level BPE) and ``llama`` (SentencePiece, Gemma's included) are rebuilt so that they give the ids
``transformers`` gives for the same file, and the ids llama.cpp gives where ``transformers`` simplifies (SmolLM's
digit splitting, Llama 3's whole-word tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import AddedToken, Tokenizer

from engine.errors import CheckpointError
from engine.loading.gguf_byte_level import byte_level_tokenizer
from engine.loading.gguf_sentencepiece import GEMMA_ARCHITECTURES, gemma_tokenizer, llama_tokenizer
from engine.loading.gguf_vocab import (
    GGUFSpecialTokens,
    GGUFVocab,
    TokenType,
    read_gguf_vocab,
    read_special_tokens,
)
from engine.loading.tokenizer import TextTokenizer

#: ``tokenizer.ggml.model`` values Inkling rebuilds, and what they are.
SUPPORTED_MODELS = {"gpt2": "byte-level BPE", "llama": "SentencePiece"}


def tokenizer_from_gguf(reader: Any, path: Path) -> TextTokenizer:
    """The tokenizer described by the ``tokenizer.ggml.*`` metadata of ``reader`` (a ``gguf.GGUFReader`` over
    ``path``); ``CheckpointError`` naming ``path`` when the file holds none or one of a kind not supported."""
    vocab = read_gguf_vocab(reader, path)
    tokenizer = _build(vocab, path)
    _add_special_tokens(tokenizer, vocab)
    return TextTokenizer(tokenizer, path)


def gguf_special_tokens(reader: Any, path: Path) -> GGUFSpecialTokens:
    """The bos / eos / unknown / padding / end-of-turn ids the file names, for the model's config."""
    return read_special_tokens(reader, path)


def _build(vocab: GGUFVocab, path: Path) -> Tokenizer:
    if vocab.model == "gpt2":
        return byte_level_tokenizer(vocab, path)
    if vocab.model == "llama":
        if vocab.architecture in GEMMA_ARCHITECTURES:
            return gemma_tokenizer(vocab, path)
        return llama_tokenizer(vocab, path)
    supported = ", ".join(f"{name} ({kind})" for name, kind in SUPPORTED_MODELS.items())
    raise CheckpointError(path, f"its tokenizer is of a kind Inkling cannot rebuild: tokenizer.ggml.model is "
                                f"{vocab.model!r}; supported: {supported}")


def _add_special_tokens(tokenizer: Tokenizer, vocab: GGUFVocab) -> None:
    """Mark control tokens (``<|im_end|>``, ``<s>``) special and user-defined ones (``<think>``) as added tokens.

    Both are then matched whole in text rather than cut into pieces, as llama.cpp matches them; only special
    ones are left out of the text a token stands for.
    """
    ids = vocab.special
    named = [i for i in (ids.bos_id, ids.eos_id, ids.unknown_id, ids.padding_id) if i is not None]
    if vocab.token_types is None:
        candidates = {index: True for index in named}
    else:
        # A vocabulary is almost all NORMAL tokens: find the few others without a Python loop over all of them.
        types = vocab.token_types
        marked = np.flatnonzero(np.isin(types, (TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED)))
        candidates = {int(i): int(types[i]) != TokenType.USER_DEFINED for i in marked}
    special: list[AddedToken] = []
    added: list[AddedToken] = []
    for index, is_special in sorted(candidates.items()):
        token = vocab.tokens[index]
        # Adding a token the model does not hold under this spelling would give it a new id past the
        # vocabulary (a byte-level file can mark a token control that is not spelled in the byte alphabet).
        if tokenizer.token_to_id(token) != index:
            continue
        (special if is_special else added).append(AddedToken(token, special=is_special, normalized=False))
    if special:
        tokenizer.add_special_tokens(special)
    if added:
        tokenizer.add_tokens(added)
