"""A word-trigram predictor: the baseline that ``inkling eval`` compares every model against.

Tokens
------
Text is cut into word tokens that carry their leading whitespace, the way GPT-2 pre-tokenizes: ``"The"``,
``" quick"``, ``","``, ``"\\n\\nIt"``: a word (letters, digits, inner apostrophes) or one punctuation character, with
the whitespace before it; whitespace at the very end is a token of its own. Joining the tokens gives back the text
exactly. Tokens seen fewer than ``min_count`` times in training become ``<unk>``; each document starts with two
``<s>``.

Probabilities
-------------
Interpolated Kneser-Ney over trigrams (Chen & Goodman): absolute discounting ``D = n1 / (n1 + 2 n2)`` per order,
raw counts at the trigram level, continuation counts (number of distinct left neighbours) at the bigram and unigram
levels, and a uniform distribution below the unigram level, so every token has a probability above zero.

An unknown word is ``<unk>`` times the probability of its spelling under a character model: a byte-bigram model
(add-0.5 smoothing over the 256 byte values and an end mark) trained on the spellings of the rare words of the
training data. Together they give every possible text a finite probability. ``bits_per_byte`` scores the text's own
(unique) segmentation, which is a lower bound of its probability under the model (other segmentations of the same
text also have some), so the figure is an honest upper bound, comparable with a language model's bits per UTF-8 byte.

Suggestions
-----------
``suggest(prefix)`` completes the word being typed with the most probable known token that starts with the typed
characters (or the whitespace after the last word), then keeps choosing the most probable next token, greedily,
until ``max_words`` whole words follow; ``<unk>`` is never suggested. The argmax over the interpolated distribution is
exact: only tokens seen after the context, after its last word, or the best token of the lower order can win.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.decoding.doubt import doubt_cut
from engine.owned_files import owned_file

_TOKEN = re.compile(r"\s*(?:\w+(?:['\u2019]\w+)*|[^\w\s])|\s+")
_UNITS = re.compile(r"\s*\S+|\s+")  # the word units of engine.training.keystrokes
BOS, UNK = 0, 1
_FIRST_WORD_ID = 2
_SPELLING_SMOOTHING = 0.5
_SPELLING_SYMBOLS = 257  # 256 byte values and the end mark
_TAIL_CHARS = 400  # enough of the prefix to hold the last three tokens
FORMAT_VERSION = 1


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _discount(counts: np.ndarray) -> float:
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 == 0:
        return 0.5
    return min(0.9, max(0.1, n1 / (n1 + 2 * n2)))


class WordTrigramModel:
    """Interpolated Kneser-Ney word trigrams with a character model for unknown words (see the module docstring)."""

    def __init__(self, vocab: list[str], arrays: dict[str, np.ndarray], discounts: tuple[float, float, float],
                 max_words: int = 3) -> None:
        self.vocab = vocab  # id -> token string; ids 0 and 1 are <s> and <unk>
        self.ids = {token: i for i, token in enumerate(vocab) if i >= _FIRST_WORD_ID}
        self.size = len(vocab)
        self.a = arrays
        self.d1, self.d2, self.d3 = discounts
        self.max_words = max_words
        self._lexical_order = sorted(range(_FIRST_WORD_ID, self.size), key=lambda i: vocab[i])
        self._lexical_strings = [vocab[i] for i in self._lexical_order]
        self._lexical_ids = np.asarray(self._lexical_order, dtype=np.int64)
        self._lexical_rank = np.full(self.size, -1, dtype=np.int64)
        self._lexical_rank[self._lexical_ids] = np.arange(len(self._lexical_ids))
        cont1 = arrays["unigram_continuations"]
        self._unigram_best = int(np.argmax(np.where(np.arange(self.size) >= _FIRST_WORD_ID, cont1, -1)))
        self._unigram_total = float(cont1.sum())
        self._unigram_floor = self.d1 * np.count_nonzero(cont1) / self._unigram_total / (self.size - 1)
        self._best_cache: dict[tuple[int, int, str], int | None] = {}
        spelling = arrays["spelling_bigrams"].astype(np.float64) + _SPELLING_SMOOTHING
        self._spelling_logprob = np.log(spelling / spelling.sum(axis=1, keepdims=True))

    # --- training -------------------------------------------------------------------------------------------

    @classmethod
    def train(cls, documents: Iterable[str], min_count: int = 2, max_vocab: int = 1_000_000,
              max_words: int = 3) -> WordTrigramModel:
        texts = list(documents)
        frequency: Counter[str] = Counter()
        for text in texts:
            frequency.update(tokenize(text))
        kept = [t for t, c in frequency.most_common(max_vocab) if c >= min_count]
        vocab = ["<s>", "<unk>", *kept]
        ids = {token: i for i, token in enumerate(vocab) if i >= _FIRST_WORD_ID}
        spelling = np.zeros((_SPELLING_SYMBOLS, _SPELLING_SYMBOLS), dtype=np.int64)
        for token, count in frequency.items():
            if token not in ids:
                _count_spelling(spelling, token, count)
        streams = []
        for text in texts:
            stream = np.fromiter((ids.get(t, UNK) for t in tokenize(text)), dtype=np.int64)
            streams.append(np.concatenate([[BOS, BOS], stream]))
        if sum(len(s) for s in streams) <= 2 * len(streams):
            raise ValueError("the word-trigram baseline needs some training text")
        return cls._from_stream(vocab, np.concatenate(streams), spelling, max_words)

    @classmethod
    def _from_stream(cls, vocab: list[str], tokens: np.ndarray, spelling: np.ndarray, max_words: int):
        size = len(vocab)
        u, v, w = tokens[:-2], tokens[1:-1], tokens[2:]
        keep = w != BOS  # never predict <s>; this also drops the trigrams that straddle two documents
        trigram_keys, trigram_counts = np.unique((u[keep] * size + v[keep]) * size + w[keep], return_counts=True)
        context_keys, context_start, context_types = np.unique(
            trigram_keys // size, return_index=True, return_counts=True)
        context_totals = np.add.reduceat(trigram_counts, context_start)
        bigram_keys, bigram_continuations = np.unique(trigram_keys % (size * size), return_counts=True)
        bigram_context = bigram_keys // size
        bigram_totals = np.bincount(bigram_context, weights=bigram_continuations, minlength=size)
        bigram_types = np.bincount(bigram_context, minlength=size)
        unigram_continuations = np.bincount(bigram_keys % size, minlength=size)
        arrays = {
            "trigram_keys": trigram_keys, "trigram_counts": trigram_counts,
            "context_keys": context_keys, "context_totals": context_totals, "context_types": context_types,
            "bigram_keys": bigram_keys, "bigram_continuations": bigram_continuations,
            "bigram_totals": bigram_totals, "bigram_types": bigram_types,
            "unigram_continuations": unigram_continuations, "spelling_bigrams": spelling,
        }
        discounts = (_discount(unigram_continuations[unigram_continuations > 0]),
                     _discount(bigram_continuations), _discount(trigram_counts))
        return cls(vocab, arrays, discounts, max_words)

    # --- saving ---------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        blob = np.frombuffer("\x00".join(self.vocab).encode("utf-8"), dtype=np.uint8)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"vocab": blob, "discounts": np.array([self.d1, self.d2, self.d3]),
                                  "version": np.array([FORMAT_VERSION]), **self.a}
        with owned_file(path) as out:
            np.savez(out, **arrays)  # typed Any: mypy would match the names against savez's allow_pickle too

    @classmethod
    def load(cls, path: str | Path, max_words: int = 3) -> WordTrigramModel:
        with np.load(path) as data:
            if int(data["version"][0]) != FORMAT_VERSION:
                raise ValueError(f"{path}: trigram model of another format version")
            vocab = data["vocab"].tobytes().decode("utf-8").split("\x00")
            arrays = {k: data[k] for k in data.files if k not in ("vocab", "discounts", "version")}
            d1, d2, d3 = (float(x) for x in data["discounts"])
        return cls(vocab, arrays, (d1, d2, d3), max_words)

    # --- probabilities --------------------------------------------------------------------------------------

    def _lookup(self, keys_name: str, values_name: str, keys: np.ndarray) -> np.ndarray:
        table = self.a[keys_name]
        index = np.searchsorted(table, keys)
        index_clipped = np.minimum(index, len(table) - 1)
        found = (index < len(table)) & (table[index_clipped] == keys)
        return np.where(found, self.a[values_name][index_clipped], 0)

    def probabilities(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """p(w | u, v) for arrays of token ids, interpolated Kneser-Ney."""
        size = self.size
        cont1 = self.a["unigram_continuations"]
        total1 = cont1.sum()
        p1 = np.maximum(cont1[w] - self.d1, 0) / total1 + self.d1 * np.count_nonzero(cont1) / total1 / (size - 1)
        cont2 = self._lookup("bigram_keys", "bigram_continuations", v * size + w)
        total2 = self.a["bigram_totals"][v]
        types2 = self.a["bigram_types"][v]
        with np.errstate(divide="ignore", invalid="ignore"):
            p2 = np.where(total2 > 0, (np.maximum(cont2 - self.d2, 0) + self.d2 * types2 * p1) / total2, p1)
            count3 = self._lookup("trigram_keys", "trigram_counts", (u * size + v) * size + w)
            total3 = self._lookup("context_keys", "context_totals", u * size + v)
            types3 = self._lookup("context_keys", "context_types", u * size + v)
            p3 = np.where(total3 > 0, (np.maximum(count3 - self.d3, 0) + self.d3 * types3 * p2) / total3, p2)
        return p3

    def spelling_logprob(self, token: str) -> float:
        """Natural-log probability of an unknown token's spelling under the byte-bigram model."""
        symbols = [256, *token.encode("utf-8"), 256]  # 256 marks both the start and the end
        return float(sum(self._spelling_logprob[a, b] for a, b in itertools.pairwise(symbols)))

    def encode(self, text: str) -> tuple[list[str], np.ndarray]:
        tokens = tokenize(text)
        return tokens, np.fromiter((self.ids.get(t, UNK) for t in tokens), dtype=np.int64, count=len(tokens))

    def bits_per_byte(self, text: str) -> float:
        """Bits per UTF-8 byte of ``text`` read as one document (see the module docstring for the method)."""
        n_bytes = len(text.encode("utf-8"))
        if not n_bytes:
            raise ValueError("bits_per_byte needs a non-empty text")
        return self.total_bits(text) / n_bytes

    def total_bits(self, text: str) -> float:
        tokens, ids = self.encode(text)
        stream = np.concatenate([[BOS, BOS], ids])
        nats = -np.log(self.probabilities(stream[:-2], stream[1:-1], stream[2:])).sum()
        nats -= sum(self.spelling_logprob(t) for t, i in zip(tokens, ids) if i == UNK)
        return float(nats / math.log(2))

    # --- suggestions ----------------------------------------------------------------------------------------

    def __call__(self, prefix: str) -> str:
        return self.suggest(prefix)

    def suggest(self, prefix: str, max_words: int | None = None, min_word_probability: float = 0.0) -> str:
        """Complete the word being typed, then add the most probable next words (``max_words`` in all);
        ``min_word_probability`` > 0 ends the suggestion before a doubtful word as the app's decoding does
        (``engine.decoding.doubt``)."""
        max_words = self.max_words if max_words is None else max_words
        u, v, partial = self._context(prefix)
        pieces: list[str] = []
        logprobs: list[float] = []
        for _ in range(4 * max_words + 2):
            best = self._best_next(u, v, partial)
            if best is None:
                break
            pieces.append(self.vocab[best][len(partial):])
            if min_word_probability > 0:
                p = float(self.probabilities(np.array([u]), np.array([v]), np.array([best]))[0])
                logprobs.append(math.log(max(p, 1e-300)))
            if len(_UNITS.findall("".join(pieces))) > max_words:  # the last unit wanted is complete once another begins
                break
            u, v, partial = v, best, ""
        keep = doubt_cut(pieces, logprobs, min_word_probability) if min_word_probability > 0 else None
        return "".join(_UNITS.findall("".join(pieces[:keep]))[:max_words])

    def _context(self, prefix: str) -> tuple[int, int, str]:
        """(u, v, partial): the two token ids before the token being typed, and the typed part of that token."""
        tokens = tokenize(prefix[-_TAIL_CHARS:])
        if len(prefix) > _TAIL_CHARS and tokens:
            tokens = tokens[1:]  # the first token of a cut-off tail may itself be cut
        partial = ""
        if tokens and (prefix[-1].isspace() or re.match(r"\w", prefix[-1])):
            partial = tokens.pop()
        ids = [BOS, BOS] + [self.ids.get(t, UNK) for t in tokens[-2:]]
        return ids[-2], ids[-1], partial

    def _best_next(self, u: int, v: int, partial: str) -> int | None:
        key = (u, v, partial)
        if key not in self._best_cache:
            if len(self._best_cache) > 200_000:
                self._best_cache.clear()
            self._best_cache[key] = self._compute_best_next(u, v, partial)
        return self._best_cache[key]

    def _compute_best_next(self, u: int, v: int, partial: str) -> int | None:
        lo = bisect.bisect_left(self._lexical_strings, partial)
        hi = bisect.bisect_left(self._lexical_strings, partial + "\U0010ffff") if partial else len(self._lexical_strings)
        if lo >= hi:
            return None
        size = self.size
        tri_words, tri_counts = self._followers("trigram_keys", "trigram_counts", (u * size + v) * size)
        bi_words, bi_counts = self._followers("bigram_keys", "bigram_continuations", v * size)
        cont1 = self.a["unigram_continuations"]
        if partial:
            in_range = self._lexical_ids[lo:hi]
            unigram_best = in_range[int(np.argmax(cont1[in_range]))]
        else:
            unigram_best = self._unigram_best
        candidates = np.concatenate([self._in_range(tri_words, lo, hi), self._in_range(bi_words, lo, hi),
                                     [unigram_best]])
        # Interpolated Kneser-Ney as in probabilities(), specialised to one context and a few candidates.
        total1 = self._unigram_total
        p = np.maximum(cont1[candidates] - self.d1, 0) / total1 + self._unigram_floor
        total2 = self.a["bigram_totals"][v]
        if total2 > 0:
            p = (np.maximum(_counts_of(bi_words, bi_counts, candidates) - self.d2, 0)
                 + self.d2 * len(bi_words) * p) / total2
        total3 = tri_counts.sum()
        if total3 > 0:
            p = (np.maximum(_counts_of(tri_words, tri_counts, candidates) - self.d3, 0)
                 + self.d3 * len(tri_words) * p) / total3
        return int(candidates[int(np.argmax(p))])

    def _followers(self, keys_name: str, values_name: str, base: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids seen after a context (sorted) and their counts."""
        keys = self.a[keys_name]
        start, end = np.searchsorted(keys, [base, base + self.size])
        return keys[start:end] - base, self.a[values_name][start:end]

    def _in_range(self, words: np.ndarray, lo: int, hi: int) -> np.ndarray:
        ranks = self._lexical_rank[words]
        return words[(ranks >= lo) & (ranks < hi)]


def _counts_of(words: np.ndarray, counts: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """counts[words == w] for each w of ``wanted`` (0 where absent); ``words`` is sorted."""
    if len(words) == 0:
        return np.zeros(len(wanted))
    index = np.minimum(np.searchsorted(words, wanted), len(words) - 1)
    return np.where(words[index] == wanted, counts[index], 0)


def _count_spelling(table: np.ndarray, token: str, count: int) -> None:
    symbols = [256, *token.encode("utf-8"), 256]
    for a, b in itertools.pairwise(symbols):
        table[a, b] += count

