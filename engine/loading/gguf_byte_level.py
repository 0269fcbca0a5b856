"""Byte-level BPE (``tokenizer.ggml.model == "gpt2"``: GPT-2, Llama 3, Qwen2/3, SmolLM) rebuilt from a GGUF file.

The vocabulary and merges are in the file; how text is cut into words before BPE is not, only its name
(``tokenizer.ggml.pre``). The regexes below are the ones llama.cpp's ``llama-vocab.cpp`` runs for those names,
written as the models' own ``tokenizer.json`` files write them (Hugging Face ``tokenizers`` uses Oniguruma,
which takes the original ``(?i:...)`` forms llama.cpp had to rewrite).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE

from engine.errors import CheckpointError
from engine.loading.gguf_vocab import GGUFVocab
from engine.loading.tokenizer import _gpt2_unicode_to_byte

log = logging.getLogger(__name__)

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class _Splitter:
    """How one family of pre-tokenizers cuts text: a regex (None: GPT-2's own), digits one by one first or not,
    and whether a word that is a whole token skips the merges (Llama 3's ``ignore_merges``)."""

    regex: str | None
    single_digits: bool = False
    ignore_merges: bool = False


_GPT2 = _Splitter(None)
_SMOLLM = _Splitter(None, single_digits=True)
_LLAMA3 = _Splitter(_LLAMA3_SPLIT, ignore_merges=True)
_QWEN2 = _Splitter(_QWEN2_SPLIT)

#: ``tokenizer.ggml.pre`` -> how llama.cpp splits text for it (the names llama.cpp maps to the same regex).
PRE_TOKENIZERS: dict[str, _Splitter] = {
    **dict.fromkeys(("gpt2", "gpt-2", "phi-2", "olmo", "mpt", "jais", "roberta-bpe"), _GPT2),
    **dict.fromkeys(("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"), _SMOLLM),
    **dict.fromkeys(("llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"),
                    _LLAMA3),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"), _QWEN2),
}


def byte_level_tokenizer(vocab: GGUFVocab, path: Path) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that encodes text as llama.cpp does for this byte-level BPE file."""
    if vocab.merges is None:
        raise CheckpointError(path, "its byte-level BPE tokenizer (tokenizer.ggml.model gpt2) has no "
                                    "tokenizer.ggml.merges")
    splitter = _splitter_for(vocab.pre, path)
    try:
        model = BPE(_byte_level_vocab(vocab.tokens), vocab.merges, ignore_merges=splitter.ignore_merges)
    except Exception as exc:  # tokenizers raises a bare Exception for a merge of tokens not in the vocabulary
        raise CheckpointError(path, f"its BPE merges do not fit its vocabulary: {exc}") from exc
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = _pre_tokenizer(splitter)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _splitter_for(pre: str | None, path: Path) -> _Splitter:
    if pre is not None and pre in PRE_TOKENIZERS:
        return PRE_TOKENIZERS[pre]
    # llama.cpp refuses a name it does not know; a writer is better served by GPT-2's split, which every
    # byte-level vocabulary tolerates (only how runs of digits and spaces are cut can differ), than by no model.
    said = "names no pre-tokenizer" if pre in (None, "default") else f"names the pre-tokenizer {pre!r}"
    log.warning("%s %s; tried the ones Inkling knows (%s) and split its text as GPT-2 does: tokens may differ "
                "from llama.cpp's on runs of digits and spaces", path, said, ", ".join(sorted(PRE_TOKENIZERS)))
    return _GPT2


def _pre_tokenizer(splitter: _Splitter) -> pre_tokenizers.PreTokenizer:
    steps: list[pre_tokenizers.PreTokenizer] = []
    if splitter.single_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    if splitter.regex is None:
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        steps.append(pre_tokenizers.Split(Regex(splitter.regex), behavior="isolated"))
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    return steps[0] if len(steps) == 1 else pre_tokenizers.Sequence(steps)


def _byte_level_vocab(tokens: list[str]) -> dict[str, int]:
    """Token -> id, every token spelled in GPT-2's byte alphabet.

    Files spell normal tokens in that alphabet already; tokens added to a model (``<think>``, some with spaces)
    can be stored as plain text, and BPE would never produce those spellings, so they are respelled.
    """
    alphabet = set(_gpt2_unicode_to_byte())
    spelling = {byte: char for char, byte in _gpt2_unicode_to_byte().items()}
    return {
        token if alphabet.issuperset(token) else "".join(spelling[b] for b in token.encode("utf-8")): index
        for index, token in enumerate(tokens)
    }
