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
from engine.memory.ngram import DEFAULT_MAX_ORDER
from engine.memory.sources import MemorySource, latest_occurrence, line_and_passage
from engine.memory.weights import MixtureWeights

# The word being typed (and the spaces before it) is left out of the document memory decoding uses: token
# healing backs that token off and predicts it again, and the memory must not already know what was typed.
_TYPED_TAIL = re.compile(r"\s*\w*\Z")


_TAIL_CHARS = 256  # searched from the end: a regex search over the whole text would cost its length per keystroke
STATE_BATCH = 32  # continuous-cache pairs read at once: a window forward per keystroke would cost a prefill


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
        self.weights = weights if weights is not None else MixtureWeights.default()
        self.document = DocumentMemory(tokenizer, max_order)
        #: "This document": whether decoding remembers the text it is given.
        self.use_document = True
        self.folders: list[FolderMemory] = []
        self._library = library
        #: The continuous cache of the document (used when ``weights.cache`` is set): pair i of the states is the
        #: model's final hidden state after document token i and the token after it (``update_states``).
        self.states = HiddenStateCache()

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
        """What decoding remembers of the document: the text before the cursor, less the word being typed."""
        self.document.update(settled_text(text) if self.use_document else "")
        self.states.truncate(self.document.take_unchanged() - 1)  # pair i also needs token i + 1 unchanged

    def longest(self, tail: list[int], document: DocumentMemory | None = None) -> Match | None:
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

    def update_states(self, read_states: Callable[[list[int]], torch.Tensor], window: int,
                      min_new: int = STATE_BATCH) -> int:
        """Bring the continuous cache closer to the document (``see_document`` already dropped the pairs an edit
        changed): read at most one ``window`` of tokens (``read_states(tokens)``: one final hidden state per token) for pairs not yet
        cached, once at least ``min_new`` are missing; the cursor's neighbourhood is the attention's anyway.
        Returns how many pairs were added. Does nothing while the weights have no cache."""
        if self.weights.cache is None:
            return 0
        tokens = self.document.tokens
        pairs = len(tokens) - 1
        first = max(self.states.end, pairs - self.states.max_positions)
        if pairs - first < min_new:
            return 0
        if first > self.states.end:  # the cap dropped the oldest: start after the gap
            self.states.clear()
            self.states.start = first
        start = max(0, first - window // 2)  # the left context every state is read with
        end = min(pairs, start + window)
        states = read_states(tokens[start:end])
        self.states.extend(states[first - start : end - start], tokens[first + 1 : end + 1])
        return end - first

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

    @property
    def size_tokens(self) -> int:
        return len(self.document) + sum(f.tokens for f in self.folders)
