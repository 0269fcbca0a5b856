"""Normalising raw text into clean paragraphs before tokenization.

Output convention: paragraphs are single lines separated by one blank line, the way people write in the editor.
"""

from __future__ import annotations

import html
import re

_HARD_WRAP_WIDTH = 80  # lines at most this long, in runs, are a hard-wrapped paragraph
_PLACEHOLDER = re.compile(r"\[(?:Illustration|Footnote|Sidenote|Transcriber'?s? [Nn]ote)[^\]]*\]|\{[^{}\n]{0,80}\}")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+?)_(?![\w_])")
_HTML_TAG = re.compile(r"</?(?:br|ref|dl|dd|dt|small|sup|sub|span|div|center|blockquote|onlyinclude)\b[^>]*/?>", re.I)
_EMPTY_PARENS = re.compile(r"\s*\(\s*[,;]?\s*\)")
_SPACES = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")


def basic_cleanup(text: str) -> str:
    """Byte-order marks, Windows/Mac line ends, non-breaking and zero-width spaces."""
    text = text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u200b", "")
    return text


def reflow_paragraphs(text: str) -> list[str]:
    """Split on blank lines; join the lines of a hard-wrapped paragraph into one line.

    A block whose lines are all short is hard-wrapped prose; a block of long lines is one paragraph per line
    already and keeps its line breaks.
    """
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if len(lines) > 1 and max(len(line) for line in lines[:-1]) <= _HARD_WRAP_WIDTH:
            paragraphs.append(" ".join(lines))
        else:
            paragraphs.extend(lines)
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
    """WikiExtractor turns section titles into short lines ending with a full stop ("History.")."""
    return line.endswith(".") and len(line.split()) <= 5 and not any(c in line for c in ",;:\"")


def clean_encyclopedic(title: str, body: str) -> str:
    """One Wikipedia or Wikinews article: drop the repeated title, headings, tags and template leftovers."""
    body = html.unescape(html.unescape(basic_cleanup(body)))
    kept = []
    for raw in body.split("\n"):
        line = _HTML_TAG.sub("", raw).strip()
        if not line or line == title.strip() or _is_heading(line):
            continue
        line = _EMPTY_PARENS.sub("", line)
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", line))
        kept.append(line)
    return "\n\n".join(kept)
