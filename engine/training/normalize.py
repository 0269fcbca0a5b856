"""Normalising raw text into clean paragraphs before tokenization.

Output convention: paragraphs are single lines separated by one blank line, the way people write in the editor.
"""

from __future__ import annotations

import html
import re

#: Bump when the output of this module changes, so cached token arrays built from the old output are rebuilt.
NORMALIZER_VERSION = 2

_HARD_WRAP_WIDTH = 80  # hard-wrapped prose has (almost) no line longer than this
_LONG_LINE_SHARE = 0.1  # a file with more long lines than this writes one paragraph per line
_PLACEHOLDER = re.compile(
    r"[ \t]*(?:\[(?:Illustration|Footnote|Sidenote|Decorative|Greek|Hebrew|Arabic|Music|Transcriber'?s? [Nn]ote)"
    r"[^\]]*\]|\{[^{}\n]{0,80}\})"
)
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+?)_(?![\w_])")
_HTML_TAG = re.compile(r"</?(?:br|ref|dl|dd|dt|small|sup|sub|span|div|center|blockquote|onlyinclude)\b[^>]*/?>", re.IGNORECASE)
_EMPTY_PARENS = re.compile(r"\s*\(\s*[,;]?\s*\)")
_SPACES = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")
# Markdown structure: such a line starts a paragraph of its own even inside a hard-wrapped block.
_STRUCTURAL_LINE = re.compile(r"(?:#{1,6}\s|[-*+]\s|>|\d{1,3}[.)]\s|\||```|~~~)")
_SINGLE_LINE = re.compile(r"(?:#{1,6}\s|\||```|~~~)")  # headings, table rows, fences: never joined to the next
_MARKUP_PLACEHOLDER = re.compile(r"\b(?:formula|codice)_\d+\b")
# Words that make a short line a sentence rather than a WikiExtractor section heading ("History.").
_SENTENCE_WORDS = frozenset({
    "is", "was", "were", "are", "be", "been", "being", "has", "have", "had", "do", "does", "did", "will", "would",
    "can", "could", "may", "might", "shall", "should", "must", "he", "she", "it", "they", "we", "i", "you", "his",
    "her", "its", "their", "our", "my", "your", "him", "them", "us", "not",
})


def basic_cleanup(text: str) -> str:
    """Byte-order marks, Windows/Mac line ends, non-breaking, zero-width and soft-hyphen characters."""
    text = text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2007", " ")
    return text.replace("\u200b", "").replace("\u00ad", "")


def is_hard_wrapped(text: str) -> bool:
    """True when the text's lines were broken at a fixed width (Gutenberg style), False for one paragraph per line."""
    lengths = [len(line.strip()) for line in text.split("\n") if line.strip()]
    if len(lengths) < 2:
        return False
    long_lines = sum(1 for n in lengths if n > _HARD_WRAP_WIDTH)
    return long_lines <= _LONG_LINE_SHARE * len(lengths)


def reflow_paragraphs(text: str, hard_wrapped: bool | None = None) -> list[str]:
    """Split on blank lines; in hard-wrapped text join the lines of each paragraph into one line.

    Whether the text is hard-wrapped is decided for the whole text, not per block: in a file with one paragraph per
    line, two short lines in a row (dialogue) are two paragraphs, not one. Markdown headings, list items, quotes and
    table rows keep a line of their own either way.
    """
    if hard_wrapped is None:
        hard_wrapped = is_hard_wrapped(text)
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not hard_wrapped:
            paragraphs.extend(lines)
            continue
        current: list[str] = []
        for line in lines:
            if current and (_STRUCTURAL_LINE.match(line) or _SINGLE_LINE.match(current[0])):
                paragraphs.append(" ".join(current))
                current = []
            current.append(line)
        if current:
            paragraphs.append(" ".join(current))
    return paragraphs


def clean_inline(paragraph: str) -> str:
    paragraph = _PLACEHOLDER.sub("", paragraph)
    paragraph = _ITALIC.sub(r"\1", paragraph)
    paragraph = _SPACES.sub(" ", paragraph)
    return paragraph.strip()


def normalize_text(text: str) -> str:
    """Plain prose (books, the user's .txt/.md files): one line per paragraph, blank line between."""
    paragraphs = (clean_inline(p) for p in reflow_paragraphs(basic_cleanup(text)))
    return "\n\n".join(p for p in paragraphs if p)


def _is_heading(line: str) -> bool:
    """WikiExtractor turns section titles into short lines ending with a full stop ("Early life.")."""
    if not line.endswith(".") or any(c in line for c in ",;:\"?!"):
        return False
    words = line[:-1].split()
    return len(words) <= 5 and not any(w.lower().strip("'’") in _SENTENCE_WORDS for w in words)


def clean_encyclopedic(title: str, body: str) -> str:
    """One Wikipedia or Wikinews article: drop the repeated title, headings, tags and template leftovers.

    Paragraphs that still hold WikiExtractor's ``formula_N`` / ``codice_N`` stand-ins for dropped maths and code are
    left out: they are not prose anyone would type.
    """
    body = html.unescape(html.unescape(basic_cleanup(body)))
    kept = []
    for raw in body.split("\n"):
        line = _HTML_TAG.sub("", raw).strip()
        if not line or line == title.strip() or _is_heading(line) or _MARKUP_PLACEHOLDER.search(line):
            continue
        line = _EMPTY_PARENS.sub("", line)
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", line))
        kept.append(line)
    return "\n\n".join(kept)
