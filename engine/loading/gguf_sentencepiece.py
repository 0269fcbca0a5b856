"""SentencePiece vocabularies (``tokenizer.ggml.model == "llama"``: Llama 1/2, Mistral, Gemma) rebuilt from a GGUF.

SentencePiece's BPE joins, again and again, the adjacent pair whose joined piece has the best score, and falls
back to ``<0xNN>`` byte tokens for characters it lacks; that is a ``tokenizers`` BPE with byte fallback whose merge
ranks come from the scores. Files rarely list merges, so they are derived here the way ``transformers`` derives
them for the same file (``generate_merges``), so both give the same ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

from engine.errors import CheckpointError
from engine.loading.gguf_vocab import GGUFVocab

SPACE = "\u2581"  # SentencePiece's visible space
#: Architectures whose SentencePiece files need Gemma's treatment (see ``gemma_tokenizer``).
GEMMA_ARCHITECTURES = frozenset({"gemma", "gemma2", "gemma3"})


def llama_tokenizer(vocab: GGUFVocab, path: Path) -> Tokenizer:
    """Llama / Mistral: spaces become ▁ and one is put before the text (unless the file says not to)."""
    if vocab.scores is None and vocab.merges is None:
        raise CheckpointError(path, "its SentencePiece tokenizer has neither tokenizer.ggml.scores nor "
                                    "tokenizer.ggml.merges, so the order of its merges is unknown")
    ids = {token: index for index, token in enumerate(vocab.tokens)}
    merges = vocab.merges
    if merges is None:
        assert vocab.scores is not None
        merges = sentencepiece_merges(ids, dict(zip(vocab.tokens, vocab.scores.tolist())))
    tokenizer = _bpe(ids, merges, vocab, path)
    # llama.cpp puts a space before the text unless tokenizer.ggml.add_space_prefix is false (older files lack
    # the key and want the space).
    prefix = "first" if vocab.add_space_prefix in (None, True) else "never"
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme=prefix, split=False)
    tokenizer.decoder = _decoder(strip_prefix=prefix != "never")
    return tokenizer


def gemma_tokenizer(vocab: GGUFVocab, path: Path) -> Tokenizer:
    """Gemma: no space before the text, every space becomes ▁, and two quirks of its GGUF files.

    Runs of spaces are stored as real spaces ("  ") while the text they match is spelled "▁▁" by then, so those
    tokens are respelled. And Gemma's scores do not follow its merge order, the order of the tokens in the file
    does, so that order ranks the merges.
    """
    tokens = [SPACE * len(t) if t and not t.strip(" ") else t for t in vocab.tokens]
    ids = {token: index for index, token in enumerate(tokens)}
    merges = vocab.merges or sentencepiece_merges(ids, {token: -index for index, token in enumerate(tokens)})
    tokenizer = _bpe(ids, merges, vocab, path)
    tokenizer.normalizer = normalizers.Replace(" ", SPACE)
    tokenizer.decoder = _decoder(strip_prefix=False)
    return tokenizer


def sentencepiece_merges(ids: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """Every split of every token into two tokens, best joined score first.

    Ties go as ``transformers.tokenization_utils_base.generate_merges`` sends them (longer left piece, then
    longer right piece, then token order), so the ids match its tokenizer for the same file.
    """
    pairs: list[tuple[str, str]] = []
    pair_scores: list[float] = []
    left_lengths: list[int] = []
    for token, score in scores.items():
        found = [(token[:cut], token[cut:]) for cut in range(1, len(token))
                 if token[:cut] in ids and token[cut:] in ids]
        if len(found) > 1:
            found.sort(key=lambda pair: (ids[pair[0]], ids[pair[1]]))
        for pair in found:
            pairs.append(pair)
            pair_scores.append(score)
            left_lengths.append(len(pair[0]))
    if not pairs:
        return []
    right_lengths = [len(right) for _, right in pairs]
    # lexsort is stable and sorts by its last key first; negating sorts each key best-first.
    order = np.lexsort((-np.asarray(right_lengths), -np.asarray(left_lengths), -np.asarray(pair_scores)))
    return [pairs[i] for i in order.tolist()]


def _bpe(ids: dict[str, int], merges: list[tuple[str, str]], vocab: GGUFVocab, path: Path) -> Tokenizer:
    unknown_id = vocab.special.unknown_id
    unknown = vocab.tokens[unknown_id] if unknown_id is not None else None
    try:
        model = BPE(ids, merges, unk_token=unknown, fuse_unk=True, byte_fallback=True)
    except Exception as exc:  # tokenizers raises a bare Exception for a merge of tokens not in the vocabulary
        raise CheckpointError(path, f"its SentencePiece merges do not fit its vocabulary: {exc}") from exc
    return Tokenizer(model)


def _decoder(strip_prefix: bool) -> decoders.Decoder:
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if strip_prefix:
        steps.append(decoders.Strip(content=" ", left=1))
    return decoders.Sequence(steps)
