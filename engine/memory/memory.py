"""``Memory``: everything a model's predictions may remember, the open document and attached folders, with the
mixture weights; ``LanguageModel.memory`` holds one, decoding and ``bits_per_byte`` ask it.

    lm.memory.add_folder("~/my-writing")          # index (or load) and attach
    lm.complete("Mr. Jellyby", engine.DecodingSettings())        # document + folders mixed in
    lm.complete("Mr. Jellyby", engine.DecodingSettings(memory=False))  # the model alone
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from engine.memory.document import DocumentMemory
from engine.memory.folders import FolderMemory, MemoryLibrary, OpenedFolder, Progress
from engine.memory.hidden_cache import HiddenStateCache
from engine.memory.match import Match, merge
from engine.memory.mixture import mix_logprobs
from engine.memory.ngram import DEFAULT_MAX_ORDER, NgramCounts
from engine.memory.online_weights import FALLBACK_PRIOR_STRENGTH, UPDATE_EVERY, OnlineWeights
from engine.memory.sources import MemorySource, latest_occurrence, line_and_passage
from engine.memory.weights import MixtureWeights

# The word being typed (and the spaces before it) is left out of the document memory decoding uses: token
# healing backs that token off and predicts it again, and the memory must not already know what was typed.
_TYPED_TAIL = re.compile(r"\s*\w*\Z")


_TAIL_CHARS = 256  # searched from the end: a regex search over the whole text would cost its length per keystroke
#: The document memory holds at most this much of the text before the cursor, the newest part: reading a 10 MB
#: document into it took 50 s in front of the first suggestion, its last 100,000 characters a fraction of a second.
DOCUMENT_MEMORY_CHARS = 100_000
_SPACE = re.compile(r"\s")
STATE_BATCH = 32  # continuous-cache pairs read at once: a window forward per keystroke would cost a prefill
#: The newest pairs of a document the weights are learned from when it is opened: enough to learn them, while a
#: long document opened costs a few windows read in idle moments, not a read of all of it.
LEARN_PAIRS = 4096


def recent_part(text: str, most: int = DOCUMENT_MEMORY_CHARS) -> str:
    """The newest ``most`` characters of ``text`` at most, from a word's start. The start moves in steps of a
    quarter of ``most`` as the text grows, so typing on keeps it (and what was read from it) in place."""
    if len(text) <= most:
        return text
    step = most // 4
    start = ((len(text) - most) // step + 1) * step
    space = _SPACE.search(text, start, start + step)
    return text[space.end() if space else start :]


def settled_text(text: str) -> str:
    """``text`` without the word being typed at its end (and the whitespace before it)."""
    tail_start = max(0, len(text) - _TAIL_CHARS)
    typed = _TYPED_TAIL.search(text, tail_start)
    assert typed is not None  # the pattern matches the empty string at the end, so it always matches
    return text[: typed.start()]


class Memory:
    def __init__(self, tokenizer, weights: MixtureWeights | None = None, max_order: int = DEFAULT_MAX_ORDER,
                 library: MemoryLibrary | None = None) -> None:
        self.tokenizer = tokenizer
        self.max_order = max_order
        #: How many pseudo-observations the fitted table counts for while the weights are learned (``learning``):
        #: ``OWN_PRIOR_STRENGTH`` where the table was fitted for the model loaded.
        self.prior_strength = FALLBACK_PRIOR_STRENGTH
        #: Whether the weights are learned from the document's tokens already read (``OnlineWeights``); off, the
        #: fitted table is used as it is.
        self.learning = True
        self.document = DocumentMemory(tokenizer, max_order)
        self.weights = weights if weights is not None else MixtureWeights.default()
        #: "This document": whether decoding remembers the text it is given.
        self.use_document = True
        self.folders: list[FolderMemory] = []
        self._library = library
        #: The continuous cache of the document (used when ``weights.cache`` is set): pair i of the states is the
        #: model's final hidden state after document token i and the token after it (``update_states``).
        self.states = HiddenStateCache()

    @property
    def weights(self) -> MixtureWeights:
        """The weights decoding mixes with now: learned from the document read so far, or the fitted table."""
        return self.learned.current() if self.learning else self.prior

    @weights.setter
    def weights(self, prior: MixtureWeights) -> None:
        """A new fitted table: what was learned with the old one starts again from it."""
        self.prior = prior
        self.learned = OnlineWeights(prior, self.prior_strength)
        self._learned_counts = NgramCounts(self.max_order)  # the document up to the next pair to learn

    def trust_prior(self, strength: float) -> None:
        """Count the fitted table as ``strength`` pseudo-observations (learning starts again)."""
        self.prior_strength = strength
        self.weights = self.prior

    @property
    def library(self) -> MemoryLibrary:
        if self._library is None:
            self._library = MemoryLibrary(self.tokenizer, depth=self.max_order)
        return self._library

    def set_library_root(self, root: Path | None) -> None:
        """Keep folder indexes under ``root`` (None: ``<user data>/memory``)."""
        if root is None and self._library is None:
            return
        if self._library is None or (root is not None and self._library.root != Path(root)):
            self._library = MemoryLibrary(self.tokenizer, Path(root) if root is not None else None,
                                          depth=self.max_order)

    # --- folders -----------------------------------------------------------------------------------------------

    def add_folder(self, folder: str | Path, progress: Progress | None = None,
                   cancelled: Callable[[], bool] | None = None) -> OpenedFolder:
        """Load (or build) the folder's index and attach it; replaces an earlier copy of the same folder."""
        opened = self.library.open(Path(folder).expanduser(), progress, cancelled)
        self.folders = [f for f in self.folders if f.folder != opened.memory.folder] + [opened.memory]
        return opened

    def remove_folder(self, folder: str | Path, forget: bool = False) -> None:
        """Detach the folder; ``forget`` also deletes its index."""
        resolved = Path(folder).expanduser().resolve()
        self.folders = [f for f in self.folders if f.folder != resolved]
        if forget:
            self.library.forget(resolved)

    # --- lookups -----------------------------------------------------------------------------------------------

    def see_document(self, text: str) -> None:
        """What decoding remembers of the document: the text before the cursor, less the word being typed, its
        newest ``DOCUMENT_MEMORY_CHARS`` at most (``recent_part``)."""
        self.document.update(recent_part(settled_text(text)) if self.use_document else "")
        unchanged = self.document.take_unchanged()
        self.states.truncate(unchanged - 1)  # pair i also needs token i + 1 unchanged
        self.learned.truncate(unchanged - 1)  # never keep what the text after the cursor taught
        self._learned_counts.truncate(min(len(self._learned_counts), unchanged))

    def longest(self, tail: list[int], document: DocumentMemory | NgramCounts | None = None) -> Match | None:
        """The merged match of the document (``document`` overrides the one decoding sees) and the folders."""
        tail = tail[-self.max_order :]
        doc = self.document if document is None else document
        return merge([doc.longest(tail)] + [f.longest(tail) for f in self.folders])

    def mix_scores(self, scores: torch.Tensor, contexts: list[list[int]],
                   queries: torch.Tensor | None = None) -> torch.Tensor:
        """Decoding scores with the memory in: ``scores`` itself when nothing has a say (normalising would only
        add rounding: near-ties could change the argmax), else the mixed log-probabilities. ``queries``: the
        final hidden states behind the rows ``[rows, width]``, for the continuous cache (None: without it)."""
        matches = [self.longest(c) for c in contexts]
        cached = queries is not None and self.weights.cache is not None and len(self.states) > 0
        if not cached and not any(self.weights.weight(m) > 0 for m in matches):
            return scores
        mixed = mix_logprobs(torch.log_softmax(scores, dim=-1), matches, self.weights)
        if cached:
            assert queries is not None and self.weights.cache is not None  # what ``cached`` says
            mixed = self.states.mix(mixed, queries, self.weights.cache)
        return mixed

    def update_states(self, read: Callable[[list[int]], tuple[torch.Tensor | None, torch.Tensor]], window: int,
                      min_new: int = STATE_BATCH) -> int:
        """Bring what is derived from reading the document closer to it (``see_document`` already dropped what an
        edit changed): the continuous cache's pairs and the weights learned from the document's pairs. Reads at
        most one ``window`` of tokens (``read(tokens)``: one final hidden state per token, or None where they are
        not recorded, and the model's log-probabilities ``[tokens, vocab]`` of what follows each), once at least
        ``min_new`` pairs are missing; pairs older than the cache's cap and ``LEARN_PAIRS`` are never read (the
        cursor's neighbourhood is the attention's anyway). Returns how many pairs were added. Does nothing while
        neither the cache nor learning needs it."""
        if self.prior.cache is None and not self.learning:
            return 0
        tokens = self.document.tokens
        pairs = len(tokens) - 1
        first = max(self.learned.end, pairs - max(LEARN_PAIRS, self.states.max_positions))
        if pairs - first < min_new:
            return 0
        if first > self.states.end:  # older pairs are not read: start after the gap
            self.states.clear()
            self.states.start = first
        start = max(0, first - window // 2)  # the left context every state is read with
        end = min(pairs, start + window)
        states, logprobs = read(tokens[start:end])
        for step in range(first, end, UPDATE_EVERY):
            stop = min(end, step + UPDATE_EVERY)
            self._learn_pairs(step, stop, logprobs[step - start : stop - start],
                              None if states is None else states[step - start : stop - start])
        return end - first

    def _learn_pairs(self, first: int, end: int, logprobs: torch.Tensor, states: torch.Tensor | None) -> None:
        """Pairs ``first .. end - 1`` into the cache and the learned weights, as ``LanguageModel.token_logprobs``
        scores them: each with the weights from the pairs before this step."""
        tokens = self.document.tokens
        targets = tokens[first + 1 : end + 1]
        weights = self.weights
        cache = weights.cache
        seen = None
        if states is not None and cache is not None:
            best, p_cache, visible = self.states.online_probabilities(states, targets, cache.theta)
            seen = (best.numpy(), visible.numpy(), p_cache.numpy())
        if not self.learning:
            self.learned.end = end
            return
        self._learned_counts.truncate(first + 1)  # pair ``first`` is predicted from the tokens up to ``first``
        matches = []
        for pair in range(first, end):
            self._learned_counts.append(tokens[len(self._learned_counts) : pair + 1])
            matches.append(self.longest(tokens[max(0, pair + 1 - self.max_order) : pair + 1],
                                        document=self._learned_counts))
        p_model = logprobs.float().gather(1, torch.tensor(targets).unsqueeze(1)).squeeze(1).exp()
        self.learned.learn(first, p_model.cpu().numpy(), matches, targets, seen)

    def source_of(self, context: list[int], token: int, token_bytes: list[bytes]) -> MemorySource | None:
        """Where the memory saw the longest matched suffix of ``context`` followed by ``token``: the document
        first, then the folders (share 0: the caller knows the probabilities)."""
        match = self.longest(context)
        if match is None or token not in match.ids:
            return None
        pattern = context[-match.length :] if match.length else []
        tokens = self.document.tokens
        position = latest_occurrence(tokens, pattern + [token]) if self.use_document else None
        if position is not None:
            line, passage = line_and_passage(tokens, position, token_bytes)
            return MemorySource("document", line, passage)
        for folder in self.folders:
            found = folder.source_of(pattern, token, token_bytes)
            if found is not None:
                return MemorySource(*found)
        return None

    def cache_source(self, pair: int, token_bytes: list[bytes]) -> MemorySource:
        """The document line and passage of the continuous cache's pair ``pair``: where its token was written."""
        line, passage = line_and_passage(self.document.tokens, pair + 1, token_bytes)
        return MemorySource("document", line, passage)
