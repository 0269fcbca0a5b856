"""The Alternatives dock: every candidate continuation, with its probability, insertable with one action.

It follows the editor live (each streamed token, then the final beam alternatives) and inserts a candidate on
click, Enter, or Ctrl+1..Ctrl+9 (those shortcuts work from the editor too).
"""

from __future__ import annotations

import math
from typing import cast

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QShortcut,
    QTextCharFormat,
    QTextLayout,
    QTextLine,
    QTextOption,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from engine.decoding.results import SHARE_MEANING, percent
from gui.editor.ghost_suggestion import Candidate, remaining_segments
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.editor.text_offsets import python_offsets

MAX_SHORTCUT_ALTERNATIVES = 9
_SEGMENTS_ROLE = Qt.ItemDataRole.UserRole + 1
_CONFIDENCE_ROLE = Qt.ItemDataRole.UserRole + 2
_CHOSEN_ROLE = Qt.ItemDataRole.UserRole + 3
_NEWLINE_MARK = "\u21b5"  # ↵, so a line break stays visible on one row


def confidences(candidates: list[Candidate]) -> list[float | None]:
    """The one number the panel shows: each candidate's share of the first-word probability of those listed
    (``engine.decoding.results.shares``); None while still streaming. The first word's, not the whole text's:
    a whole continuation's probability mostly says how long it is."""
    openings = [c.opening for c in candidates if c.opening is not None]
    if not candidates or len(openings) < len(candidates):
        return [None] * len(candidates)
    top = max(openings)
    weights = [math.exp(opening - top) for opening in openings]
    total = sum(weights)
    return [w / total for w in weights]


class AlternativesList(QListWidget):
    insertRequested = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentRow() >= 0:
            self.insertRequested.emit(self.currentRow())
            event.accept()
            return
        super().keyPressEvent(event)


class AlternativeDelegate(QStyledItemDelegate):
    """One row: the shortcut number, the continuation wrapped over a few lines (optionally shaded per token), and
    a probability bar. Alternatives often differ only at their end, so they are wrapped, never cut short."""

    PADDING = 7
    BAR_WIDTH = 92
    MAX_LINES = 5

    def __init__(self, panel: AlternativesPanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def _columns(self, option: QStyleOptionViewItem, width: int) -> tuple[int, int]:
        """(number column width, text column width) for a row ``width`` wide."""
        number_width = QFontMetrics(option.font).horizontalAdvance("9") + 14
        return number_width, max(40, width - 8 - number_width - self.BAR_WIDTH - 10)

    def _layout(self, segments, font: QFont, width: int, shading: bool, color: QColor) -> tuple[QTextLayout, int]:
        text = "".join(t for t, _ in segments).replace("\n", _NEWLINE_MARK)
        layout = QTextLayout(text, font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        if shading:
            ranges, start = [], 0
            for piece, probability in segments:
                fmt_range = QTextLayout.FormatRange()
                fmt_range.start, fmt_range.length = start, len(piece.encode("utf-16-le")) // 2
                shaded = QColor(color)
                if probability is not None:
                    shaded.setAlphaF(0.3 + 0.7 * probability)
                fmt = QTextCharFormat()
                fmt.setForeground(shaded)
                fmt_range.format = fmt
                ranges.append(fmt_range)
                start += fmt_range.length
            layout.setFormats(ranges)
        layout.beginLayout()
        y, lines = 0.0, 0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0, y))
            y += line.height()
            lines += 1
        layout.endLayout()
        return layout, lines

    def text_index_at(self, option: QStyleOptionViewItem, index: QModelIndex, point: QPoint) -> int | None:
        """Index into the row's text of the character drawn at ``point`` (the geometry ``paint`` uses)."""
        segments = index.data(_SEGMENTS_ROLE) or []
        rect = option.rect.adjusted(4, self.PADDING, -4, -self.PADDING)
        number_width, text_width = self._columns(option, option.rect.width())
        layout, lines = self._layout(segments, option.font, text_width, False, QColor())
        x, y = point.x() - (rect.left() + number_width), point.y() - rect.top()
        for number in range(min(lines, self.MAX_LINES)):
            line = layout.lineAt(number)
            if line.y() <= y < line.y() + line.height():
                if not 0 <= x <= line.naturalTextWidth():
                    return None
                position = line.xToCursor(x, QTextLine.CursorPosition.CursorOnCharacter)
                text = layout.text()
                return python_offsets(text, [position])[0] if position < len(text.encode("utf-16-le")) // 2 else None
        return None

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        width = self._panel.list.viewport().width()
        _, text_width = self._columns(option, width)
        _layout, lines = self._layout(index.data(_SEGMENTS_ROLE) or [], option.font, text_width, False, QColor())
        shown = min(max(1, lines), self.MAX_LINES)
        line_height = QFontMetrics(option.font).lineSpacing()
        return QSize(width, shown * line_height + 2 * self.PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(option.rect, palette.color(QPalette.ColorRole.Highlight))
        elif index.data(_CHOSEN_ROLE):
            tint = QColor(palette.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(40)
            painter.fillRect(option.rect, tint)
        else:
            line = QColor(palette.color(QPalette.ColorRole.Text))
            line.setAlpha(25)
            painter.fillRect(QRect(option.rect.left() + 6, option.rect.bottom(), option.rect.width() - 12, 1), line)
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        rect = option.rect.adjusted(4, self.PADDING, -4, -self.PADDING)
        metrics = QFontMetrics(option.font)
        first_line = QRect(rect.left(), rect.top(), rect.width(), metrics.lineSpacing())
        number_width, text_width = self._columns(option, option.rect.width())

        small = QFont(option.font)
        small.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.85))
        painter.setFont(small)
        faint = QColor(text_color)
        faint.setAlpha(140)
        painter.setPen(faint)
        if index.row() < MAX_SHORTCUT_ALTERNATIVES:
            painter.drawText(QRect(first_line.left(), first_line.top(), number_width, first_line.height()),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, str(index.row() + 1))

        confidence = index.data(_CONFIDENCE_ROLE)
        bar_rect = QRect(first_line.right() - self.BAR_WIDTH, first_line.top(), self.BAR_WIDTH, first_line.height())
        label = "…" if confidence is None else percent(confidence)
        painter.drawText(bar_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)
        if confidence is not None:
            track = QRect(bar_rect.left(), bar_rect.center().y() - 2, self.BAR_WIDTH - 44, 5)
            track_color = QColor(text_color)
            track_color.setAlpha(35)
            painter.fillRect(track, track_color)
            fill = QRect(track.left(), track.top(), max(1, round(track.width() * confidence)), track.height())
            painter.fillRect(fill, palette.color(QPalette.ColorRole.HighlightedText if selected
                                                 else QPalette.ColorRole.Highlight))

        shading = self._panel.confidence_shading and not selected
        layout, lines = self._layout(index.data(_SEGMENTS_ROLE) or [], option.font, text_width, shading, text_color)
        painter.setPen(text_color)
        origin = QPointF(rect.left() + number_width, rect.top())
        painter.setClipRect(QRect(origin.toPoint(), QSize(text_width + 2, self.MAX_LINES * metrics.lineSpacing())))
        layout.draw(painter, origin)
        if lines > self.MAX_LINES:
            last = layout.lineAt(self.MAX_LINES - 1)
            painter.setClipping(False)
            ellipsis_x = origin.x() + min(last.naturalTextWidth(), text_width - metrics.horizontalAdvance("…"))
            painter.drawText(QPointF(ellipsis_x, origin.y() + last.y() + last.ascent()), "…")
        painter.restore()


class AlternativesPanel(QDockWidget):
    def __init__(self, editor: GhostTextEditor, shortcut_parent: QWidget, parent: QWidget | None = None) -> None:
        super().__init__("Alternatives", parent)
        self.setObjectName("alternativesPanel")
        self.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.BottomDockWidgetArea
                             | Qt.DockWidgetArea.LeftDockWidgetArea)
        self.editor = editor
        self.confidence_shading = False

        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)
        self.list = AlternativesList(body)
        self.list.setObjectName("alternativesList")
        self.list.setItemDelegate(AlternativeDelegate(self))
        self.list.setUniformItemSizes(False)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)  # re-wrap the rows when the dock is resized
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.list.setMouseTracking(True)
        self.empty_label = QLabel("Type and pause, or press Ctrl+Space, to see suggestions here.", body)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.meaning = QLabel(f"%: {SHARE_MEANING}", body)
        self.meaning.setWordWrap(True)
        self.meaning.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint = QLabel("Click, Enter or Ctrl+1…9 inserts · Alt+] / Alt+[ cycles · typing its start picks one", body)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint_font = hint.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.9)
        hint.setFont(hint_font)
        layout.addWidget(self.meaning)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(hint)
        self.setWidget(body)

        self.list.itemClicked.connect(lambda item: self.insert(self.list.row(item)))
        self.list.insertRequested.connect(self.insert)
        editor.ghostChanged.connect(self.refresh)
        self.shortcuts = []
        for number in range(1, MAX_SHORTCUT_ALTERNATIVES + 1):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{number}"), shortcut_parent)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda row=number - 1: self.insert(row))
            self.shortcuts.append(shortcut)
        self.refresh()

    def set_confidence_shading(self, enabled: bool) -> None:
        self.confidence_shading = enabled
        self.list.viewport().update()

    def candidate_texts(self) -> list[str]:
        """What each row would insert, in order (what the user sees, before eliding)."""
        suggestion = self.editor.suggestion
        if suggestion is None:
            return []
        return [c.text[len(suggestion.consumed):] for c in suggestion.candidates()]

    def text_index_at(self, point: QPoint) -> tuple[int, int] | None:
        """(row, index into ``candidate_texts()[row]``) of the character at ``point`` in the list's viewport."""
        index = self.list.indexAt(point)
        if not index.isValid():
            return None
        option = QStyleOptionViewItem()
        option.rect = self.list.visualRect(index)
        option.font = self.list.font()
        offset = cast(AlternativeDelegate, self.list.itemDelegate()).text_index_at(option, index, point)
        return None if offset is None else (index.row(), offset)

    def insert(self, row: int) -> None:
        if self.editor.insert_alternative(row):
            self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def refresh(self) -> None:
        suggestion = self.editor.suggestion
        candidates = suggestion.candidates() if suggestion is not None else []
        if not self.editor.suggestions_enabled():
            candidates = []
        chosen = suggestion.chosen_index() if suggestion is not None else -1
        consumed = len(suggestion.consumed) if suggestion is not None else 0
        probabilities = confidences(candidates)
        current = self.list.currentRow()
        self.list.clear()
        for row, (candidate, confidence) in enumerate(zip(candidates, probabilities)):
            remaining = remaining_segments(candidate, consumed)
            item = QListWidgetItem("".join(s.text for s in remaining))
            item.setData(_SEGMENTS_ROLE, [(s.text, s.probability) for s in remaining])
            item.setData(_CONFIDENCE_ROLE, confidence)
            item.setData(_CHOSEN_ROLE, row == chosen)
            item.setToolTip(_tooltip(row, confidence))
            self.list.addItem(item)
        if 0 <= current < self.list.count():
            self.list.setCurrentRow(current)
        has_items = self.list.count() > 0
        self.meaning.setVisible(has_items)
        self.list.setVisible(has_items)
        self.empty_label.setVisible(not has_items)


def _tooltip(row: int, share: float | None) -> str:
    lines = [f"Ctrl+{row + 1} inserts this" if row < MAX_SHORTCUT_ALTERNATIVES else "Click to insert"]
    if share is not None:
        lines.append(f"{percent(share)}: {SHARE_MEANING}")
    else:
        lines.append("Still being generated")
    return "\n".join(lines)
