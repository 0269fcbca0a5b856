"""The Alternatives dock: every candidate continuation, with its probability, insertable with one action.

It follows the editor live (each streamed token, then the final beam alternatives) and inserts a candidate on
click, Enter, or Ctrl+1..Ctrl+9 (those shortcuts work from the editor too).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QKeySequence, QPainter, QPalette, QShortcut
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

from gui.editor.ghost_suggestion import Candidate, remaining_segments
from gui.editor.ghost_text_editor import GhostTextEditor

MAX_SHORTCUT_ALTERNATIVES = 9
_SEGMENTS_ROLE = Qt.ItemDataRole.UserRole + 1
_SHARE_ROLE = Qt.ItemDataRole.UserRole + 2
_CHOSEN_ROLE = Qt.ItemDataRole.UserRole + 3
_NEWLINE_MARK = "\u21b5"  # ↵, so a line break stays visible on one row


def shares(candidates: list[Candidate]) -> list[float | None]:
    """Each candidate's probability relative to the others listed (they sum to 1); None until scored."""
    logprobs = [c.logprob for c in candidates]
    if not logprobs or any(lp is None for lp in logprobs):
        return [None] * len(candidates)
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
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
    """One row: the shortcut number, the continuation (optionally shaded per token), and a probability bar."""

    def __init__(self, panel: AlternativesPanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        height = QFontMetrics(option.font).height()
        return QSize(200, height + 14)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        chosen = bool(index.data(_CHOSEN_ROLE))
        rect = option.rect.adjusted(4, 2, -4, -2)
        if selected:
            painter.fillRect(option.rect, palette.color(QPalette.ColorRole.Highlight))
        elif chosen:
            tint = QColor(palette.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(40)
            painter.fillRect(option.rect, tint)
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        metrics = QFontMetrics(option.font)

        number_font = QFont(option.font)
        number_font.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.85))
        painter.setFont(number_font)
        faint = QColor(text_color)
        faint.setAlpha(140)
        painter.setPen(faint)
        number_width = metrics.horizontalAdvance("9") + 14
        if index.row() < MAX_SHORTCUT_ALTERNATIVES:
            painter.drawText(QRect(rect.left(), rect.top(), number_width, rect.height()),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, str(index.row() + 1))

        share = index.data(_SHARE_ROLE)
        bar_width = 90
        bar_rect = QRect(rect.right() - bar_width, rect.top(), bar_width, rect.height())
        painter.setFont(number_font)
        label = "…" if share is None else f"{share * 100:.0f}%"
        painter.drawText(bar_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)
        if share is not None:
            track = QRect(bar_rect.left(), rect.center().y() - 2, bar_width - 42, 5)
            track_color = QColor(text_color)
            track_color.setAlpha(35)
            painter.fillRect(track, track_color)
            fill = QRect(track.left(), track.top(), max(1, round(track.width() * share)), track.height())
            painter.fillRect(fill, palette.color(QPalette.ColorRole.HighlightedText if selected
                                                 else QPalette.ColorRole.Highlight))

        painter.setFont(option.font)
        text_rect = QRect(rect.left() + number_width, rect.top(), bar_rect.left() - rect.left() - number_width - 8,
                          rect.height())
        self._paint_segments(painter, text_rect, metrics, index.data(_SEGMENTS_ROLE) or [], text_color, selected)
        painter.restore()

    def _paint_segments(self, painter, rect: QRect, metrics: QFontMetrics, segments, text_color: QColor,
                        selected: bool) -> None:
        x = rect.left()
        baseline = rect.top() + (rect.height() + metrics.ascent() - metrics.descent()) // 2
        ellipsis_width = metrics.horizontalAdvance("…")
        shading = self._panel.confidence_shading and not selected
        for text, probability in segments:
            shown = text.replace("\n", _NEWLINE_MARK)
            width = metrics.horizontalAdvance(shown)
            color = QColor(text_color)
            if shading and probability is not None:
                color.setAlphaF(0.3 + 0.7 * probability)
            painter.setPen(color)
            if x + width > rect.right():
                room = rect.right() - x - ellipsis_width
                clipped = metrics.elidedText(shown, Qt.TextElideMode.ElideRight, max(0, room + ellipsis_width))
                painter.drawText(x, baseline, clipped)
                return
            painter.drawText(x, baseline, shown)
            x += width


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
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.list.setMouseTracking(True)
        self.empty_label = QLabel("Type and pause, or press Ctrl+Space, to see suggestions here.", body)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint = QLabel("Click, Enter or Ctrl+1…9 inserts · Alt+] / Alt+[ cycles", body)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint_font = hint.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.9)
        hint.setFont(hint_font)
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

    def insert(self, row: int) -> None:
        if self.editor.insert_alternative(row):
            self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def refresh(self) -> None:
        suggestion = self.editor.suggestion
        candidates = suggestion.candidates() if suggestion is not None else []
        if not self.editor.suggestions_enabled():
            candidates = []
        chosen = suggestion.chosen_index() if suggestion is not None else -1
        probabilities = shares(candidates)
        current = self.list.currentRow()
        self.list.clear()
        for row, (candidate, share) in enumerate(zip(candidates, probabilities)):
            remaining = remaining_segments(candidate, len(suggestion.consumed))
            item = QListWidgetItem("".join(s.text for s in remaining))
            item.setData(_SEGMENTS_ROLE, [(s.text, s.probability) for s in remaining])
            item.setData(_SHARE_ROLE, share)
            item.setData(_CHOSEN_ROLE, row == chosen)
            item.setToolTip(_tooltip(candidate, share, row))
            self.list.addItem(item)
        if 0 <= current < self.list.count():
            self.list.setCurrentRow(current)
        has_items = self.list.count() > 0
        self.list.setVisible(has_items)
        self.empty_label.setVisible(not has_items)


def _tooltip(candidate: Candidate, share: float | None, row: int) -> str:
    lines = [f"Ctrl+{row + 1} inserts this" if row < MAX_SHORTCUT_ALTERNATIVES else "Click to insert"]
    if candidate.logprob is not None:
        tokens = max(1, len(candidate.segments))
        lines.append(f"{share * 100:.1f}% of the listed alternatives' probability")
        lines.append(f"Continuation probability {math.exp(candidate.logprob):.3g} "
                     f"(per token {math.exp(candidate.logprob / tokens) * 100:.0f}% on average)")
    else:
        lines.append("Still being generated")
    return "\n".join(lines)
