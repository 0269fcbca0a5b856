"""What the editor does with a document that has a very long line (a minified file, a data dump, a 1 MiB word).

Qt lays out a whole line (a text block) again at every keystroke in it, and wrapping a word with no break
opportunity at the widget's width is worse than linear: a 1 MiB word took 33 s per keystroke in the app (12 s in
a plain QPlainTextEdit), a 50 MB line ~7 s. So, from the longest line, measured once when the text is loaded:
- past ``LONG_LINE_CHARS`` (no paragraph a person writes is that long): suggestions are off for this document
  (the model would read a window of unbroken data, and every suggestion re-lays the line out around its ghost
  text), and lines wrap anywhere, which Qt lays out in linear time (256 kB word: 2.6 s -> 0.12 s a keystroke);
- past ``READ_ONLY_LINE_CHARS`` (256 Ki characters, ~0.1 s a keystroke here): the document is also read-only,
  since even the linear layout grows with the line (1 MiB: ~0.45 s a keystroke, 8 MiB: ~6 s); the status bar says
  so, and a document opened next without such a line is writable again.
``benchmarks/long_lines.py`` measures the keystroke times with and without this.
"""

from __future__ import annotations

from dataclasses import dataclass

LONG_LINE_CHARS = 10_000
READ_ONLY_LINE_CHARS = 1 << 18


@dataclass(frozen=True)
class LongLines:
    longest: int = 0  # characters in the longest line
    hold_suggestions: bool = False
    read_only: bool = False

    @classmethod
    def of(cls, text: str) -> LongLines:
        longest = longest_line(text)
        return cls(longest, longest > LONG_LINE_CHARS, longest > READ_ONLY_LINE_CHARS)

    def note(self, name: str) -> str | None:
        """What the status bar says about it; None for an ordinary document."""
        if self.read_only:
            return (f"{name} has a line of {self.longest:,} characters: every keystroke would lay it all out again "
                    "(slow past a quarter of a million), so it is open read-only, without suggestions.")
        if self.hold_suggestions:
            return (f"{name} has a line of {self.longest:,} characters: suggestions are off for it, and long lines "
                    "wrap anywhere to keep typing quick.")
        return None


def longest_line(text: str) -> int:
    """Characters in the longest line of ``text`` (split as the editor splits it: at newlines). One pass in C, at
    load only (a 19 MB document: ~40 ms next to the 0.35 s of setPlainText)."""
    return max(map(len, text.split("\n")))
