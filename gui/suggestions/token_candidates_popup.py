"""The popup that shows what the model would write next at a point of a suggestion, and lets the user pick it.

A frameless tool-tip window (it never takes the keyboard focus from the editor) with one clickable row per
candidate token: its text with blanks made visible, its probability, and a bar. The token the suggestion actually
continues with is marked.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QEnterEvent, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractButton, QFrame, QLabel, QVBoxLayout, QWidget

from engine.decoding.word_units import continues, last_word_start

BAR_WIDTH = 70
ROW_PADDING = 4


def visible_token(text: str, before: str = "") -> str:
    """A token as a writer reads it, not as a sub-word piece: a token that starts a word shows that word ("States",
    not "·States"); one that continues the word being written shows the whole word ("brown" for "wn" after
    "The quick bro"; in Chinese a character is a word, so "们" after "我" stays "们"). Other blanks are made
    visible."""
    if text == "":
        return "(the word ends as typed)"
    if len(text) > 1 and text[0] == " " and not text[1].isspace():
        text = text[1:]
    elif text[0].isalnum() and before[-1:].isalnum() and continues(before[-1], text[0]):
        text = before[last_word_start(before):] + text
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "→")


class CandidateRow(QAbstractButton):
    def __init__(self, text: str, probability: float, current: bool, parent: QWidget | None = None,
                 before: str = "") -> None:
        super().__init__(parent)
        self.token = text
        self.probability = probability
        self.current = current
        self.setText(visible_token(text, before))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Continue the suggestion from here with this token")
        self.setMouseTracking(True)

    def label(self) -> str:
        return f"{self.text()}   {self.probability * 100:.1f}%"

    def sizeHint(self) -> QSize:
        metrics = QFontMetrics(self.font())
        width = metrics.horizontalAdvance(self.text() + "  ✓ ") + BAR_WIDTH + metrics.horizontalAdvance(" 100.0%") + 24
        return QSize(max(180, width), metrics.lineSpacing() + 2 * ROW_PADDING)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        rect = self.rect()
        if self.underMouse() or self.isDown():
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
            text_color = palette.color(QPalette.ColorRole.HighlightedText)
        else:
            text_color = palette.color(QPalette.ColorRole.ToolTipText)
        metrics = QFontMetrics(self.font())
        percent = f"{self.probability * 100:.1f}%"
        percent_width = metrics.horizontalAdvance(" 100.0%")
        bar = QRect(rect.right() - percent_width - BAR_WIDTH - 8, rect.center().y() - 3, BAR_WIDTH, 6)
        track = QColor(text_color)
        track.setAlpha(40)
        painter.fillRect(bar, track)
        painter.fillRect(QRect(bar.left(), bar.top(), max(1, round(BAR_WIDTH * self.probability)), bar.height()),
                         text_color)
        painter.setPen(text_color)
        font = self.font()
        font.setBold(self.current)
        painter.setFont(font)
        text_rect = QRect(rect.left() + 8, rect.top(), bar.left() - rect.left() - 12, rect.height())
        shown = self.text() + ("  ✓" if self.current else "")
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(shown, Qt.TextElideMode.ElideRight, text_rect.width()))
        painter.drawText(QRect(rect.right() - percent_width - 4, rect.top(), percent_width, rect.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, percent)

    def enterEvent(self, event: QEnterEvent) -> None:
        self.update()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self.update()
        super().leaveEvent(event)


class TokenCandidatesPopup(QFrame):
    chosen = Signal(int)  # the row the user clicked
    hovered = Signal(bool)  # the mouse entered (True) or left (False) the popup

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("tokenCandidatesPopup")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFrameShape(QFrame.Shape.Box)
        self.setBackgroundRole(QPalette.ColorRole.ToolTipBase)
        self.setAutoFillBackground(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self._layout.setSpacing(1)
        self.title = QLabel(self)
        self.title.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.title.setWordWrap(True)
        self._layout.addWidget(self.title)
        self.source = QLabel(self)  # where a word that came mostly from the memory was seen
        self.source.setObjectName("memorySource")
        self.source.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.source.setWordWrap(True)
        self.source.hide()
        self._layout.addWidget(self.source)
        self.hint = QLabel("Click one to continue from there", self)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.rows: list[CandidateRow] = []

    def show_candidates(self, title: str, candidates: list[tuple[str, float]], current: int | None,
                        at: QPoint, before: str = "", source: str | None = None) -> None:
        """Fill the popup and show it with its top-left corner at ``at`` (global coordinates). ``before``: the text
        the candidates follow, so a piece of a word shows as the whole word; ``source`` says where the memory saw
        the hovered word (None: it came from the model)."""
        self.source.setText(source or "")
        self.source.setVisible(bool(source))
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self._layout.removeWidget(self.hint)
        self.rows = []
        self.title.setText(title)
        for index, (text, probability) in enumerate(candidates):
            row = CandidateRow(text, probability, index == current, self, before)
            row.clicked.connect(lambda _checked=False, i=index: self.chosen.emit(i))
            self._layout.addWidget(row)
            self.rows.append(row)
        self._layout.addWidget(self.hint)
        self.adjustSize()
        self.move(at)
        self.show()
        self.raise_()

    def enterEvent(self, event: QEnterEvent) -> None:
        self.hovered.emit(True)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self.hovered.emit(False)
        super().leaveEvent(event)
