"""``GhostTextEditor``: a plain-text editor that shows the model's suggestion as grey text after the cursor.

The ghost text is laid out as the cursor block's *pre-edit area* (the mechanism input methods use for text that
is being composed): Qt lays it out inline, wraps it, pushes the rest of the line and the following lines aside, and
draws it with our grey format, yet it is never part of the document. So it cannot enter the undo stack, the saved
file or the clipboard, and painting it needs no geometry of our own.

The editor decides *when* a suggestion is wanted (debounce after typing, Ctrl+Space) and what keys do with one;
it does not know about the engine. It emits ``suggestionWanted`` and ``suggestionCancelled``; whoever owns the
engine answers with ``begin_request`` and then ``show_stream`` / ``show_completions`` for that request. The
editor keeps the one request id it waits for (any edit that makes the suggestion stale forgets it), and
``is_current`` is the one place the GUI compares an event's request id with it: the suggestion controller asks it
once per event and drops the event otherwise, so a stale suggestion can never appear.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QInputMethodEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextLayout,
    QTextLine,
    QTextOption,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.suffix_join import SUFFIX_CHARS, SuffixJoin
from gui.editor.ghost_suggestion import GhostSegment, GhostSuggestion, next_word_length
from gui.editor.long_lines import LongLines
from gui.editor.prompt_window import qt_length, text_before, text_just_after, text_just_before
from gui.editor.text_offsets import python_offsets

DEFAULT_DEBOUNCE_MS = 120
STREAM_REDRAW_MS = 10
_LINE_SEPARATOR = "\u2028"  # breaks a line inside one QTextLayout


def default_editor_font(point_size: int | None = None) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)
    font.setPointSize(point_size or max(12, font.pointSize() + 2))
    font.setStyleHint(QFont.StyleHint.SansSerif)
    return font


class GhostTextEditor(QPlainTextEdit):
    suggestionWanted = Signal()  # ask the engine for a continuation of the text before the cursor
    suggestionCancelled = Signal()  # the running request is no longer wanted
    ghostChanged = Signal()  # what is shown (or the alternatives) changed
    suggestionAccepted = Signal(int, str, object)  # document position, the inserted text, its GhostSuggestion
    textReplaced = Signal()  # New, Open or Restore put another text in

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editor")
        self._ghost: GhostSuggestion | None = None
        self._pending_request: int | None = None  # the only request id whose events are accepted
        self._enabled = True
        self.long_lines = LongLines()  # of the text last loaded: too long a line holds suggestions back
        self._confidence_shading = False
        self._own_edit = False  # True while the editor itself inserts accepted text
        self._ghost_block_number: int | None = None  # where the pre-edit area currently is
        self._revision_seen = self.document().revision()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        # A coarse timer may fire up to 5% (6 ms of 120) late, all of it added to what the typist waits.
        self._debounce.setTimerType(Qt.TimerType.PreciseTimer)
        self._debounce.setInterval(DEFAULT_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._debounce_elapsed)
        # Streamed tokens are drawn at most once per frame: when they arrive faster than that, laying out the
        # ghost text for each one would keep the UI thread busy for nothing.
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(STREAM_REDRAW_MS)
        self._redraw.timeout.connect(self._render)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFont(default_editor_font())
        self.document().setDocumentMargin(18)
        self.document().setModified(False)  # a margin change counts as a modification in Qt
        self.setTabChangesFocus(False)
        self.document().contentsChange.connect(self._on_contents_change)
        self.cursorPositionChanged.connect(self._on_cursor_moved)
        self.selectionChanged.connect(self._on_selection_changed)

    # --- what tests and the rest of the app read --------------------------------------------------------

    def ghost_text(self) -> str:
        """The suggestion currently shown after the cursor ("" when none)."""
        if self._ghost is None or not self._enabled:
            return ""
        return self._ghost.visible_text()

    @property
    def suggestion(self) -> GhostSuggestion | None:
        return self._ghost

    @property
    def pending_request(self) -> int | None:
        return self._pending_request

    def is_current(self, request_id: int) -> bool:
        """Whether events of ``request_id`` are for the suggestion shown now (older ones, and any after an edit
        made it stale, are not)."""
        return request_id == self._pending_request

    def suggestions_enabled(self) -> bool:
        return self._enabled

    def debounce_ms(self) -> int:
        return self._debounce.interval()

    def can_suggest(self) -> bool:
        """Suggestions are on, nothing is selected, the editor is writable, the cursor is not inside a word and
        there is some text before it. Text may follow the cursor: the suggestion then joins it (``suffix_text``)."""
        if not self._enabled or self.isReadOnly() or self.long_lines.hold_suggestions:
            return False
        cursor = self.textCursor()
        if cursor.hasSelection():
            return False
        line, offset = cursor.block().text(), cursor.positionInBlock()
        if 0 < offset < len(line) and line[offset - 1].isalnum() and line[offset].isalnum():
            return False  # a continuation would split the word in two
        return cursor.position() > 0 and bool(text_just_before(self.document(), cursor.position(), 256).strip())

    def suffix_text(self) -> str:
        """The start of the text after the cursor, which a suggestion must join ("" when only blanks follow)."""
        after = text_just_after(self.document(), self.textCursor().position(), SUFFIX_CHARS)
        return after if after.strip() else ""

    def prompt_text(self) -> str:
        """The text a suggestion continues: the window before the cursor."""
        return text_before(self.document(), self.textCursor().position())

    # --- configuration ---------------------------------------------------------------------------------

    def set_debounce_ms(self, milliseconds: int) -> None:
        self._debounce.setInterval(max(0, int(milliseconds)))

    def set_suggestions_enabled(self, enabled: bool) -> None:
        if enabled == self._enabled:
            return
        self._enabled = enabled
        if not enabled:
            self.dismiss()

    def set_confidence_shading(self, enabled: bool) -> None:
        self._confidence_shading = enabled
        self._render()

    def confidence_shading(self) -> bool:
        return self._confidence_shading

    # --- the request lifecycle (called by the suggestion controller) -------------------------------------

    def begin_request(self, request_id: int, lead: str = "", lead_segments: tuple[GhostSegment, ...] = ()) -> None:
        """A request for the text before the cursor was made; only its events will be shown. A branch passes
        its ``lead``, the chosen start the request continues: shown at once, in the document only once accepted."""
        self._clear_ghost(cancel=False)
        self._pending_request = request_id
        suffix = self.suffix_text()
        hold_back = SuffixJoin(suffix).safe_length if suffix else None
        self._ghost = GhostSuggestion(request_id, self.textCursor().position(), lead, lead_segments, hold_back)
        if self._ghost.lead:
            self._render()

    def show_suggestion(self, suggestion: GhostSuggestion) -> bool:
        """Show a finished suggestion made earlier at the cursor (from the history) in place of the current one."""
        if not self._enabled or suggestion.anchor != self.textCursor().position() or not suggestion.candidates():
            return False
        self._debounce.stop()
        self._clear_ghost(cancel=True)
        self._ghost = suggestion
        self._render()
        return True

    def show_stream(self, event: StreamEvent) -> None:
        """The current request's streamed step (the caller checked ``is_current``)."""
        if not self._in_place():
            return
        assert self._ghost is not None  # _in_place checked it
        nothing_drawn = self._ghost_block_number is None
        self._ghost.apply_stream(event)
        if nothing_drawn and self._ghost.visible_text():
            self._render()  # the first characters are the wait the typist feels: drawn at once, not a frame later
        elif not self._redraw.isActive():
            self._redraw.start()

    def show_completions(self, completions: tuple[Completion, ...], cancelled: bool) -> None:
        """The current request's end (the caller checked ``is_current``)."""
        if not self._in_place():
            return
        assert self._ghost is not None  # _in_place checked it
        self._pending_request = None
        if cancelled:
            self._clear_ghost(cancel=False)
            return
        self._ghost.apply_completions(completions)
        if not self._ghost.candidates():
            typed_it_all = bool(self._ghost.consumed)
            self._clear_ghost(cancel=False)
            if typed_it_all:  # the user typed the whole suggestion while it streamed: time for the next one
                self._restart_debounce()
            return
        self._render()

    def request_failed(self) -> None:
        """The current request failed (the caller checked ``is_current``)."""
        self._pending_request = None
        self._clear_ghost(cancel=False)

    def _in_place(self) -> bool:
        if self._pending_request is None or self._ghost is None:
            return False
        if self.textCursor().position() != self._expected_cursor() or self.textCursor().hasSelection():
            self.dismiss()  # the cursor left the suggestion's place without us noticing
            return False
        return True

    def _expected_cursor(self) -> int:
        assert self._ghost is not None  # only asked while a suggestion is shown
        return self._ghost.anchor + qt_length(self._ghost.consumed)

    # --- user commands ---------------------------------------------------------------------------------

    def request_suggestion_now(self) -> None:
        """Ctrl+Space: ask at once, even without typing first."""
        self._debounce.stop()
        self.dismiss()
        if self.can_suggest():
            self.suggestionWanted.emit()

    def dismiss(self) -> None:
        """Esc: hide the suggestion and stop its generation."""
        self._debounce.stop()
        self._clear_ghost(cancel=True)

    def accept_all(self) -> bool:
        """Tab: insert the whole visible suggestion as one undo step."""
        text = self.ghost_text()
        if not text:
            return False
        self._insert_suggested(text)
        self._clear_ghost(cancel=True)
        self._restart_debounce()
        return True

    def accept_next_word(self) -> bool:
        """Ctrl+Right: insert the suggestion's next word; the rest stays shown."""
        text = self.ghost_text()
        if not text:
            return False
        word = text[: next_word_length(text)]
        self._insert_suggested(word)
        assert self._ghost is not None  # ghost_text() was not empty
        self._ghost.consume(word)
        self._after_consumed()
        return True

    def cycle_alternatives(self, step: int) -> bool:
        """Alt+] / Alt+[: show the next or previous alternative."""
        if self._ghost is None or len(self._ghost.candidates()) < 2:
            return False
        self._ghost.cycle(step)
        self._render()
        return True

    def choose_alternative(self, index: int) -> None:
        if self._ghost is not None:
            self._ghost.choose(index)
            self._render()

    def insert_alternative(self, index: int) -> bool:
        """Insert candidate ``index`` (as listed by ``suggestion.candidates()``) as one undo step."""
        if self._ghost is None:
            return False
        candidates = self._ghost.candidates()
        if not 0 <= index < len(candidates):
            return False
        self._ghost.choose(index)
        return self.accept_all()

    def _insert_suggested(self, text: str) -> None:
        self._remove_ghost_layout()
        cursor = self.textCursor()
        start = cursor.position()
        self._own_edit = True
        try:
            cursor.beginEditBlock()  # one undo step, never merged with the typing before it
            cursor.insertText(text)
            cursor.endEditBlock()
            self.setTextCursor(cursor)
        finally:
            self._own_edit = False
            self._revision_seen = self.document().revision()
        self.ensureCursorVisible()
        self.suggestionAccepted.emit(start, text, self._ghost)

    def _after_consumed(self) -> None:
        if self._ghost is not None and not self._ghost.visible_text():
            if self._pending_request is None:  # finished and fully taken: time for the next one
                self._clear_ghost(cancel=False)
                self._restart_debounce()
            return
        self._render()

    # --- Qt events -------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._handle_ghost_key(event):
            event.accept()
            return
        typed = event.text()
        if typed == "\r" and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            typed = "\n"  # Enter adds a line break, which a suggestion spells "\n"
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier
        typing = typed and (typed.isprintable() or typed == "\n") and not modifiers
        if self._ghost is not None and typing and self._ghost.matches(typed):  # shown, or another alternative
            self._remove_ghost_layout()
            self._own_edit = True
            try:
                super().keyPressEvent(event)
            finally:
                self._own_edit = False
                self._revision_seen = self.document().revision()
            self._ghost.consume(typed)
            self._after_consumed()
            return
        self._remove_ghost_layout()  # Qt edits the document with no pre-edit area in the way
        super().keyPressEvent(event)
        self._render()

    def _handle_ghost_key(self, event: QKeyEvent) -> bool:
        key, modifiers = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        none, ctrl, alt = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
        if key == Qt.Key.Key_Space and modifiers == ctrl:
            self.request_suggestion_now()
            return True
        if not self.ghost_text():
            if key == Qt.Key.Key_Escape and self._pending_request is not None:
                self.dismiss()
                return True
            return False
        if key == Qt.Key.Key_Tab and modifiers == none:
            return self.accept_all()
        if key == Qt.Key.Key_Right and modifiers == ctrl:
            return self.accept_next_word()
        if key == Qt.Key.Key_Escape and modifiers == none:
            self.dismiss()
            return True
        if modifiers & alt and key in (Qt.Key.Key_BracketRight, Qt.Key.Key_BracketLeft):
            self.cycle_alternatives(1 if key == Qt.Key.Key_BracketRight else -1)
            return True
        return False

    def event(self, event: QEvent) -> bool:
        # Tab must reach keyPressEvent even though QWidget would use it to move the focus.
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and self.ghost_text()
                and self._is_ghost_command(event)):
            event.accept()
            return True
        if event.type() == QEvent.Type.ToolTip and self._ghost_block_number is not None:
            # Qt's own tooltip looks up the character under the pointer with a hit test that counts the ghost
            # text as document text: past the document's end it warns "QTextCursor::setPosition: Position '18'
            # out of range". A plain text document has no tooltips of its own to show, so it is not asked.
            event.ignore()
            return True
        return super().event(event)

    def _is_ghost_command(self, event: QKeyEvent) -> bool:
        combo = event.keyCombination().toCombined()
        return any(QKeySequence(combo).matches(QKeySequence(s)) == QKeySequence.SequenceMatch.ExactMatch
                   for s in ("Tab", "Ctrl+Right", "Esc", "Alt+]", "Alt+[", "Ctrl+Space"))

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        # Some platforms deliver ordinary typing as committed input-method text instead of key presses.
        committed = event.commitString()
        if self._ghost is not None and committed and not event.preeditString() and self._ghost.matches(committed):
            self._remove_ghost_layout()
            self._own_edit = True
            try:
                super().inputMethodEvent(event)
            finally:
                self._own_edit = False
                self._revision_seen = self.document().revision()
            self._ghost.consume(committed)
            self._after_consumed()
            return
        if event.preeditString():
            self.dismiss()  # a real composition owns the pre-edit area
        self._remove_ghost_layout()
        super().inputMethodEvent(event)
        self._render()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.dismiss()
        super().mousePressEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._render()

    # --- reacting to changes ---------------------------------------------------------------------------

    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        if self._own_edit:
            return
        # Anything that edits the document other than typing into the suggestion: the suggestion is stale.
        self._clear_ghost(cancel=True)
        self._restart_debounce()

    def _on_cursor_moved(self) -> None:
        if self._own_edit:
            return  # the editor moves the cursor itself while inserting accepted text
        revision = self.document().revision()
        edited = revision != self._revision_seen
        self._revision_seen = revision
        if self._ghost is not None and self.textCursor().position() != self._expected_cursor():
            self._clear_ghost(cancel=True)
        if not edited:
            self._debounce.stop()  # moving around is not asking for a suggestion

    def _on_selection_changed(self) -> None:
        if self.textCursor().hasSelection():
            self._debounce.stop()
            self._clear_ghost(cancel=True)

    def _restart_debounce(self) -> None:
        if self._enabled:
            self._debounce.start()

    def _debounce_elapsed(self) -> None:
        if self.can_suggest():
            self.suggestionWanted.emit()

    def _clear_ghost(self, cancel: bool) -> None:
        had_request = self._pending_request is not None
        had_ghost = self._ghost is not None
        self._ghost = None
        self._pending_request = None
        self._remove_ghost_layout()
        if cancel and had_request:
            self.suggestionCancelled.emit()
        if had_ghost:
            self.ghostChanged.emit()

    # --- drawing ---------------------------------------------------------------------------------------

    def _render(self) -> None:
        """Put the visible suggestion into the cursor block's pre-edit area (or take it out)."""
        self._redraw.stop()
        self._remove_ghost_layout(notify=False)
        segments = self._ghost.visible_segments() if self._ghost is not None and self._enabled else []
        if segments and not self.textCursor().hasSelection():
            cursor = self.textCursor()
            block = cursor.block()
            layout = block.layout()
            offset = cursor.positionInBlock()
            shown = "".join(s.text for s in segments).replace("\n", _LINE_SEPARATOR)
            layout.setPreeditArea(offset, shown)
            layout.setFormats(self._ghost_formats(segments, offset))
            self._ghost_block_number = block.blockNumber()
            self.document().markContentsDirty(block.position(), block.length())
        self.ghostChanged.emit()

    def ghost_offset_at(self, point: QPoint | QPointF) -> int | None:
        """Index into ``ghost_text()`` of the character drawn at ``point`` (viewport coordinates), or None."""
        number = self._ghost_block_number
        if number is None or number >= self.document().blockCount() or not self.ghost_text():
            return None
        block = self.document().findBlockByNumber(number)
        layout = block.layout()
        start, shown = layout.preeditAreaPosition(), layout.preeditAreaText()
        if start < 0 or not shown:
            return None
        local = QPointF(point) - self.blockBoundingGeometry(block).translated(self.contentOffset()).topLeft()
        for index in range(layout.lineCount()):
            line = layout.lineAt(index)
            if not line.y() <= local.y() < line.y() + line.height():
                continue
            if not line.x() <= local.x() <= line.x() + line.naturalTextWidth():
                return None
            position = line.xToCursor(local.x(), QTextLine.CursorPosition.CursorOnCharacter)
            if start <= position < start + qt_length(shown):
                return python_offsets(shown, [position - start])[0]
            return None
        return None

    def document_position_at(self, point: QPoint | QPointF) -> int:
        """The document position ``cursorForPosition`` gives for ``point`` (viewport coordinates), with the ghost
        text left out. Qt's hit test counts the pre-edit area the ghost text is drawn in as text, so on that line
        it answers with positions the document does not have ("QTextCursor::setPosition: Position '18' out of
        range") or that are off by the ghost text's length."""
        number = self._ghost_block_number
        block = self.document().findBlockByNumber(number) if number is not None else None
        layout = block.layout() if block is not None and block.isValid() else None
        start, shown = (layout.preeditAreaPosition(), layout.preeditAreaText()) if layout is not None else (-1, "")
        if block is None or layout is None or start < 0 or not shown:
            return self.cursorForPosition(QPointF(point).toPoint()).position()
        top_left = self.blockBoundingGeometry(block).translated(self.contentOffset()).topLeft()
        local = QPointF(point) - top_left
        if not 0 <= local.y() < layout.boundingRect().height():
            return self.cursorForPosition(QPointF(point).toPoint()).position()
        line = next((layout.lineAt(i) for i in range(layout.lineCount())
                     if layout.lineAt(i).y() <= local.y() < layout.lineAt(i).y() + layout.lineAt(i).height()),
                    layout.lineAt(layout.lineCount() - 1))
        position = line.xToCursor(local.x())
        ghost_length = qt_length(shown)
        if position >= start + ghost_length:
            position -= ghost_length  # after the ghost text: the document's characters are that much closer
        elif position > start:
            position = start  # on the ghost text: where it would be inserted
        return block.position() + min(position, block.length() - 1)

    def _remove_ghost_layout(self, notify: bool = False) -> None:
        number = self._ghost_block_number
        self._ghost_block_number = None
        if number is None or number >= self.document().blockCount():
            return
        block = self.document().findBlockByNumber(number)
        layout = block.layout()
        if layout is not None and layout.preeditAreaText():
            layout.setPreeditArea(-1, "")
            layout.clearFormats()
            self.document().markContentsDirty(block.position(), block.length())
        if notify:
            self.ghostChanged.emit()

    def _ghost_formats(self, segments, offset: int) -> list[QTextLayout.FormatRange]:
        """Without confidence shading the whole ghost text is one range; with it, one range per token. Built on
        the GUI thread after every streamed token, so the palette is read once, not once per token."""
        mix = self._ghost_color_mixer()
        if not self._confidence_shading:
            length = sum(qt_length(segment.text) for segment in segments)
            return [_format_range(offset, length, mix(None))] if length else []
        ranges = []
        start = offset
        for segment in segments:
            length = qt_length(segment.text)
            ranges.append(_format_range(start, length, mix(segment.probability)))
            start += length
        return ranges

    def ghost_color(self, probability: float | None = None) -> QColor:
        """Grey between text and background; with shading, confident tokens darker, doubtful ones fainter."""
        return self._ghost_color_mixer()(probability)

    def _ghost_color_mixer(self):
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        base = palette.color(QPalette.ColorRole.Base)
        rgb_text, rgb_base = (text.red(), text.green(), text.blue()), (base.red(), base.green(), base.blue())

        def mix(probability: float | None) -> QColor:
            weight = 0.45 if probability is None else 0.18 + 0.5 * max(0.0, min(1.0, probability))
            return QColor(*(round(b + (t - b) * weight) for t, b in zip(rgb_text, rgb_base)))

        return mix

    # --- housekeeping ----------------------------------------------------------------------------------

    def set_cursor_position(self, position: int) -> None:
        """Put the cursor at character ``position`` (clamped to the text) and scroll it into view."""
        cursor = self.textCursor()
        cursor.setPosition(max(0, min(position, self.document().characterCount() - 1)))
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    def replace_text(self, text: str) -> None:
        """Load new content (New, Open, Restore): resets undo history and drops any suggestion."""
        self.dismiss()
        self._apply_long_lines(LongLines.of(text))
        self._own_edit = True
        try:
            self.setPlainText(text)
        finally:
            self._own_edit = False
            self._revision_seen = self.document().revision()
        self._debounce.stop()
        self.textReplaced.emit()

    def _apply_long_lines(self, long_lines: LongLines) -> None:
        """Set before the text goes in, so the first layout is already the cheap one (see ``long_lines``)."""
        self.long_lines = long_lines
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere if long_lines.hold_suggestions
                             else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setReadOnly(long_lines.read_only)

    def set_point_size(self, size: int) -> None:
        font = self.font()
        font.setPointSize(size)
        self.setFont(font)

    def point_size(self) -> int:
        return self.font().pointSize()

    def move_cursor_to_end(self) -> None:
        self.moveCursor(QTextCursor.MoveOperation.End)


def _format_range(start: int, length: int, color: QColor) -> QTextLayout.FormatRange:
    fmt = QTextCharFormat()
    fmt.setForeground(color)
    fmt_range = QTextLayout.FormatRange()
    fmt_range.start, fmt_range.length, fmt_range.format = start, length, fmt
    return fmt_range
