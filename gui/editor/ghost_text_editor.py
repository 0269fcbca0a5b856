"""``GhostTextEditor``: a plain-text editor that shows the model's suggestion as grey text after the cursor.

The ghost text is laid out as the cursor block's *pre-edit area* (``ghost_painter.py``): never part of the document,
so it cannot enter the undo stack, the saved file or the clipboard, and painting it needs no geometry of our own.

The editor decides *when* a suggestion is wanted (debounce after typing, Ctrl+Space) and what keys do with one
(``ghost_keys.py``); it does not know about the engine. It emits ``suggestionWanted`` and ``suggestionCancelled``;
whoever owns the engine answers with ``begin_request`` and then ``show_stream`` / ``show_completions`` for that
request (``request_lifecycle.py`` keeps the one request id waited for). ``is_current`` is where the GUI compares
an event's request id with it: the suggestion controller asks it once per event and drops the event otherwise
(docs/ARCHITECTURE.md, "Stale suggestions").
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QInputMethodEvent,
    QKeyEvent,
    QMouseEvent,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from engine.decoding.fim import SUFFIX_CHARS
from engine.decoding.results import Completion, StreamEvent
from gui.editor.ghost_colors import ghost_color_mixer, ghost_formats
from gui.editor.ghost_keys import GhostCommand, ghost_command, is_ghost_shortcut, typed_text
from gui.editor.ghost_painter import GhostPainter
from gui.editor.ghost_suggestion import GhostSegment, GhostSuggestion, next_word_length
from gui.editor.long_lines import LongLines
from gui.editor.own_edits import OwnEdits
from gui.editor.prompt_window import text_before, text_just_after, text_just_before
from gui.editor.request_lifecycle import RequestLifecycle

DEFAULT_DEBOUNCE_MS = 120


def default_editor_font(point_size: int | None = None) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)
    font.setPointSize(point_size or max(12, font.pointSize() + 2))
    font.setStyleHint(QFont.StyleHint.SansSerif)
    return font


class GhostTextEditor(QPlainTextEdit):
    suggestionWanted = Signal()  # ask the engine for a continuation of the text before the cursor
    suggestionCancelled = Signal()  # the running request is no longer wanted
    readAheadWanted = Signal()  # a word was just ended: the engine may read the text before the cursor now
    ghostChanged = Signal()  # what is shown (or the alternatives) changed
    suggestionAccepted = Signal(int, str, object)  # document position, the inserted text, its GhostSuggestion
    textReplaced = Signal()  # New, Open or Restore put another text in

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editor")
        self._enabled = True
        self.long_lines = LongLines()  # of the text last loaded: too long a line holds suggestions back
        self._confidence_shading = False
        self._own_edits = OwnEdits(self.document())
        self._painter = GhostPainter(self)
        self._requests = RequestLifecycle(self, self._painter, self._render, self.dismiss)
        self._requests.cancelled.connect(self.suggestionCancelled)
        self._requests.cleared.connect(self.ghostChanged)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        # A coarse timer may fire up to 5% (6 ms of 120) late, all of it added to what the typist waits.
        self._debounce.setTimerType(Qt.TimerType.PreciseTimer)
        self._debounce.setInterval(DEFAULT_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._debounce_elapsed)
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
        ghost = self._requests.ghost
        if ghost is None or not self._enabled or self._painter.input_method_composing():
            return ""
        return ghost.visible_text()

    @property
    def suggestion(self) -> GhostSuggestion | None:
        return self._requests.ghost

    @property
    def pending_request(self) -> int | None:
        return self._requests.pending

    def is_current(self, request_id: int) -> bool:
        """Whether events of ``request_id`` are for the suggestion shown now (older ones, and any after an edit
        made it stale, are not)."""
        return self._requests.is_current(request_id)

    def suggestions_enabled(self) -> bool:
        return self._enabled

    def debounce_ms(self) -> int:
        return self._debounce.interval()

    def can_suggest(self) -> bool:
        """Suggestions are on, nothing is selected, the editor is writable, no input method is composing, the
        cursor is not inside a word and there is some text before it. Text may follow the cursor: the suggestion then
        joins it (``suffix_text``)."""
        if not self._enabled or self.isReadOnly() or self.long_lines.hold_suggestions:
            return False
        if self._painter.input_method_composing():
            return False  # the text is not written yet, and the pre-edit area is the composition's
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
        self._requests.begin(request_id, lead, lead_segments, self.suffix_text())

    def show_suggestion(self, suggestion: GhostSuggestion) -> bool:
        """Show a finished suggestion made earlier at the cursor (from the history) in place of the current one."""
        if not self._enabled or suggestion.anchor != self.textCursor().position() or not suggestion.candidates():
            return False
        self._debounce.stop()
        self._requests.show(suggestion)
        return True

    def show_stream(self, event: StreamEvent) -> None:
        """The current request's streamed step (the caller checked ``is_current``)."""
        self._requests.stream(event)

    def show_completions(self, completions: tuple[Completion, ...], cancelled: bool) -> None:
        """The current request's end (the caller checked ``is_current``)."""
        if self._requests.finish(completions, cancelled):
            self._restart_debounce()  # the user typed the whole suggestion while it streamed

    def request_failed(self) -> None:
        """The current request failed (the caller checked ``is_current``)."""
        self._requests.fail()

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
        self._requests.clear(cancel=True)

    def accept_all(self) -> bool:
        """Tab: insert the whole visible suggestion as one undo step."""
        text = self.ghost_text()
        if not text:
            return False
        self._insert_suggested(text)
        self._requests.clear(cancel=True)
        self._restart_debounce()
        return True

    def accept_next_word(self) -> bool:
        """Ctrl+Right: insert the suggestion's next word; the rest stays shown."""
        text = self.ghost_text()
        if not text:
            return False
        word = text[: next_word_length(text)]
        self._insert_suggested(word)
        assert self._requests.ghost is not None  # ghost_text() was not empty
        self._requests.ghost.consume(word)
        self._after_consumed()
        return True

    def cycle_alternatives(self, step: int) -> bool:
        """Alt+] / Alt+[: show the next or previous alternative."""
        ghost = self._requests.ghost
        if ghost is None or len(ghost.candidates()) < 2:
            return False
        ghost.cycle(step)
        self._render()
        return True

    def insert_alternative(self, index: int) -> bool:
        """Insert candidate ``index`` (as listed by ``suggestion.candidates()``) as one undo step."""
        ghost = self._requests.ghost
        if ghost is None or not 0 <= index < len(ghost.candidates()):
            return False
        ghost.choose(index)
        return self.accept_all()

    def _insert_suggested(self, text: str) -> None:
        self._painter.remove()
        cursor = self.textCursor()
        start = cursor.position()
        with self._own_edits.editing():
            cursor.beginEditBlock()  # one undo step, never merged with the typing before it
            cursor.insertText(text)
            cursor.endEditBlock()
            self.setTextCursor(cursor)
        self.ensureCursorVisible()
        self.suggestionAccepted.emit(start, text, self._requests.ghost)

    def _after_consumed(self) -> None:
        ghost = self._requests.ghost
        if ghost is not None and not ghost.visible_text():
            if self._requests.pending is None:  # finished and fully taken: time for the next one
                self._requests.clear(cancel=False)
                self._restart_debounce()
            return
        self._render()

    # --- Qt events -------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        command = ghost_command(event, bool(self.ghost_text()), self._requests.pending is not None)
        if command is not None:
            self._run(command)
            event.accept()
            return
        typed = typed_text(event)
        ghost = self._requests.ghost
        if ghost is not None and typed and ghost.matches(typed):  # shown, or another alternative
            self._painter.remove()
            with self._own_edits.editing():
                super().keyPressEvent(event)
            ghost.consume(typed)
            self._after_consumed()
            return
        self._painter.remove()  # Qt edits the document with no pre-edit area in the way
        super().keyPressEvent(event)
        self._render()

    def _run(self, command: GhostCommand) -> None:
        if command is GhostCommand.SUGGEST_NOW:
            self.request_suggestion_now()
        elif command is GhostCommand.ACCEPT_ALL:
            self.accept_all()
        elif command is GhostCommand.ACCEPT_WORD:
            self.accept_next_word()
        elif command is GhostCommand.DISMISS:
            self.dismiss()
        else:
            self.cycle_alternatives(1 if command is GhostCommand.NEXT else -1)

    def event(self, event: QEvent) -> bool:
        # Tab must reach keyPressEvent even though QWidget would use it to move the focus.
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and self.ghost_text()
                and is_ghost_shortcut(event)):
            event.accept()
            return True
        if event.type() == QEvent.Type.ToolTip and self._painter.block_number is not None:
            # Qt's own tooltip looks up the character under the pointer with a hit test that counts the ghost
            # text as document text: past the document's end it warns "QTextCursor::setPosition: Position '18'
            # out of range". A plain text document has no tooltips of its own to show, so it is not asked.
            event.ignore()
            return True
        return super().event(event)

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        # An input method composes text (pinyin, kana) in the pre-edit area, then commits it. Some platforms also
        # deliver ordinary typing as committed text instead of key presses.
        committed, composing = event.commitString(), bool(event.preeditString())
        ghost = self._requests.ghost
        if ghost is not None and committed and not composing and ghost.matches(committed):
            self._painter.remove()
            with self._own_edits.editing():
                super().inputMethodEvent(event)
            ghost.consume(committed)
            self._after_consumed()
            return
        if composing:
            self.dismiss()  # a composition owns the pre-edit area: no ghost text and no request while it lasts
        self._painter.remove()
        super().inputMethodEvent(event)
        if committed and not composing:
            self._restart_debounce()  # the composed text is written: a suggestion may follow, as after typing
        else:
            self._debounce.stop()  # still composing, or the composition was given up: nothing is written yet
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
        if self._own_edits.active:
            return
        # Anything that edits the document other than typing into the suggestion: the suggestion is stale.
        self._requests.clear(cancel=True)
        self._restart_debounce()
        if added and self._enabled and text_just_before(self.document(), position + added, 1).isspace():
            # A word was ended, where writers pause most: the text is read now, during the debounce, not after it.
            self.readAheadWanted.emit()

    def _on_cursor_moved(self) -> None:
        if self._own_edits.active:
            return  # the editor moves the cursor itself while inserting accepted text
        edited = self._own_edits.edited_since_last_look()
        if self._requests.ghost is not None and self.textCursor().position() != self._requests.expected_cursor():
            self._requests.clear(cancel=True)
        if not edited:
            self._debounce.stop()  # moving around is not asking for a suggestion

    def _on_selection_changed(self) -> None:
        if self.textCursor().hasSelection():
            self._debounce.stop()
            self._requests.clear(cancel=True)

    def _restart_debounce(self) -> None:
        if self._enabled:
            self._debounce.start()

    def _debounce_elapsed(self) -> None:
        if self.can_suggest():
            self.suggestionWanted.emit()

    # --- drawing ---------------------------------------------------------------------------------------

    def _render(self) -> None:
        """Put the visible suggestion into the cursor block's pre-edit area (or take it out)."""
        self._requests.redraw.stop()
        self._painter.remove()
        ghost = self._requests.ghost
        segments = ghost.visible_segments() if ghost is not None and self._enabled else []
        if segments and not self.textCursor().hasSelection() and not self._painter.input_method_composing():
            formats = ghost_formats(segments, self.textCursor().positionInBlock(), self.palette(),
                                    self._confidence_shading)
            self._painter.paint("".join(s.text for s in segments), formats)
        self.ghostChanged.emit()

    def ghost_offset_at(self, point: QPoint | QPointF) -> int | None:
        """Index into ``ghost_text()`` of the character drawn at ``point`` (viewport coordinates), or None."""
        return self._painter.offset_at(point) if self.ghost_text() else None

    def document_position_at(self, point: QPoint | QPointF) -> int:
        """The document position ``cursorForPosition`` gives for ``point`` (viewport coordinates), with the ghost
        text left out (``GhostPainter.document_position_at``)."""
        return self._painter.document_position_at(point)

    def ghost_color(self, probability: float | None = None) -> QColor:
        """Grey between text and background; with shading, confident tokens darker, doubtful ones fainter."""
        return ghost_color_mixer(self.palette())(probability)

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
        with self._own_edits.editing():
            self.setPlainText(text)
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
