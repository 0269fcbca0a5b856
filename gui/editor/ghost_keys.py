"""What a key does with a suggestion: the editor's commands (Tab, Ctrl+Right, Esc, Alt+] / Alt+[, Ctrl+Space), and
which keys type text that may match the ghost text."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence

GHOST_SHORTCUTS = ("Tab", "Ctrl+Right", "Esc", "Alt+]", "Alt+[", "Ctrl+Space")


class GhostCommand(Enum):
    SUGGEST_NOW = "suggest now"
    ACCEPT_ALL = "accept all"
    ACCEPT_WORD = "accept next word"
    DISMISS = "dismiss"
    NEXT = "next alternative"
    PREVIOUS = "previous alternative"


def ghost_command(event: QKeyEvent, ghost_shown: bool, waiting: bool) -> GhostCommand | None:
    """The command ``event`` gives, None for a key the editor handles as usual. ``ghost_shown``: a suggestion is on
    screen; ``waiting``: a request is running (Esc then cancels it, with nothing shown yet)."""
    key, modifiers = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    none, ctrl, alt = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
    if key == Qt.Key.Key_Space and modifiers == ctrl:
        return GhostCommand.SUGGEST_NOW
    if not ghost_shown:
        return GhostCommand.DISMISS if key == Qt.Key.Key_Escape and waiting else None
    if key == Qt.Key.Key_Tab and modifiers == none:
        return GhostCommand.ACCEPT_ALL
    if key == Qt.Key.Key_Right and modifiers == ctrl:
        return GhostCommand.ACCEPT_WORD
    if key == Qt.Key.Key_Escape and modifiers == none:
        return GhostCommand.DISMISS
    if modifiers & alt and key in (Qt.Key.Key_BracketRight, Qt.Key.Key_BracketLeft):
        return GhostCommand.NEXT if key == Qt.Key.Key_BracketRight else GhostCommand.PREVIOUS
    return None


def is_ghost_shortcut(event: QKeyEvent) -> bool:
    """Whether ``event`` is one of the commands' keys; such a key must reach the editor while a suggestion is shown,
    Tab included, which QWidget would otherwise use to move the focus."""
    combo = event.keyCombination().toCombined()
    return any(QKeySequence(combo).matches(QKeySequence(s)) == QKeySequence.SequenceMatch.ExactMatch
               for s in GHOST_SHORTCUTS)


def typed_text(event: QKeyEvent) -> str:
    """The text the key types, as a suggestion spells it (Enter: "\\n"); "" for a key that types nothing or
    comes with Ctrl, Alt or Meta."""
    typed = event.text()
    if typed == "\r" and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
        typed = "\n"  # Enter adds a line break, which a suggestion spells "\n"
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier
    return typed if typed and (typed.isprintable() or typed == "\n") and not modifiers else ""
