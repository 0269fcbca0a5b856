"""``DocumentMemory``: the n-gram memory of the open document, kept up to date as the text changes.

The text is tokenized in pieces of a few hundred characters that end before a space between two non-space
characters: for a GPT-2-style byte-level tokenizer no token crosses such a point, so the pieces' tokens are the
whole text's (for other tokenizers they are a close, still consistent reading). An update re-reads only from the
first piece the change touches, and the n-gram counts are truncated and extended there: a keystroke at the end of
a long document costs one piece, not the document.
"""

from __future__ import annotations

import bisect
import re

from engine.memory.match import Match
from engine.memory.ngram import DEFAULT_MAX_ORDER, NgramCounts

PIECE_CHARS = 200
# A piece is at least PIECE_CHARS long and ends before " X" where the character before the space is not one;
# whether it ends there depends on the two characters after it (the lookahead): _LOOKAHEAD.
_PIECE = re.compile(r".{" + str(PIECE_CHARS) + r",}?(?<=\S)(?= \S)|.+", re.DOTALL)
_LOOKAHEAD = 2


def common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix, comparing halves of the remaining span (C-speed, no full copies)."""
    if b.startswith(a):
        return len(a)
    if a.startswith(b):
        return len(b)
    low, high = 0, min(len(a), len(b))  # a[:low] == b[:low]; a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a.startswith(b[low:middle], low):
            low = middle
        else:
            high = middle
    return low


class DocumentMemory:
    def __init__(self, tokenizer, max_order: int = DEFAULT_MAX_ORDER) -> None:
        self.tokenizer = tokenizer
        self.counts = NgramCounts(max_order)
        self._text = ""
        self._piece_ends: list[int] = []  # character offset where each piece ends
        self._token_ends: list[int] = []  # token count after each piece
        self._unchanged = 0  # tokens no update touched since ``take_unchanged`` last asked

    @property
    def text(self) -> str:
        return self._text

    @property
    def tokens(self) -> list[int]:
        return self.counts.tokens

    def __len__(self) -> int:
        return len(self.counts)

    def update(self, text: str) -> None:
        """Make the memory hold ``text``; costs the characters from the first changed piece to the end."""
        if text == self._text:
            return
        common = common_prefix_length(self._text, text)
        # Pieces whose end and lookahead lie inside the unchanged prefix would be cut the same way again.
        keep = bisect.bisect_right(self._piece_ends, common - _LOOKAHEAD)
        start = self._piece_ends[keep - 1] if keep else 0
        del self._piece_ends[keep:]
        del self._token_ends[keep:]
        self.counts.truncate(self._token_ends[-1] if keep else 0)
        self._unchanged = min(self._unchanged, len(self.counts))
        for piece in _PIECE.finditer(text, start):
            self.counts.append(self.tokenizer.encode(piece.group()))
            self._piece_ends.append(piece.end())
            self._token_ends.append(len(self.counts))
        self._text = text

    def take_unchanged(self) -> int:
        """How many leading tokens stayed the same since the last call (what was derived from them still holds);
        from now on, counted afresh from the whole current text."""
        unchanged, self._unchanged = self._unchanged, len(self.counts)
        return unchanged

    def longest(self, tail: list[int]) -> Match | None:
        return self.counts.longest(tail)
