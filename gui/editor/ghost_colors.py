"""The ghost text's colour: a grey between the text and the background; with confidence shading, confident tokens
darker and doubtful ones fainter."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextLayout

from gui.editor.ghost_suggestion import GhostSegment
from gui.editor.prompt_window import qt_length

ColorMixer = Callable[[float | None], QColor]


def ghost_color_mixer(palette: QPalette) -> ColorMixer:
    """The colour for a token of the given probability (None: unshaded), the palette read once."""
    text = palette.color(QPalette.ColorRole.Text)
    base = palette.color(QPalette.ColorRole.Base)
    rgb_text, rgb_base = (text.red(), text.green(), text.blue()), (base.red(), base.green(), base.blue())

    def mix(probability: float | None) -> QColor:
        weight = 0.45 if probability is None else 0.18 + 0.5 * max(0.0, min(1.0, probability))
        return QColor(*(round(b + (t - b) * weight) for t, b in zip(rgb_text, rgb_base)))

    return mix


def ghost_formats(segments: Sequence[GhostSegment], offset: int, palette: QPalette,
                  confidence_shading: bool) -> list[QTextLayout.FormatRange]:
    """Without confidence shading the whole ghost text is one range; with it, one range per token. Built on the GUI
    thread after every streamed token, so the palette is read once, not once per token."""
    mix = ghost_color_mixer(palette)
    if not confidence_shading:
        length = sum(qt_length(segment.text) for segment in segments)
        return [_format_range(offset, length, mix(None))] if length else []
    ranges = []
    start = offset
    for segment in segments:
        length = qt_length(segment.text)
        ranges.append(_format_range(start, length, mix(segment.probability)))
        start += length
    return ranges


def _format_range(start: int, length: int, color: QColor) -> QTextLayout.FormatRange:
    fmt = QTextCharFormat()
    fmt.setForeground(color)
    fmt_range = QTextLayout.FormatRange()
    fmt_range.start, fmt_range.length, fmt_range.format = start, length, fmt
    return fmt_range
