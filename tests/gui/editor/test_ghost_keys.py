"""What a key does with a suggestion, without an editor: the command it gives and the text it types."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent

from gui.editor.ghost_keys import GhostCommand, ghost_command, is_ghost_shortcut, typed_text

CTRL, ALT, NONE = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.NoModifier


def key(code: Qt.Key, modifiers=NONE, text: str = "") -> QKeyEvent:
    return QKeyEvent(QEvent.Type.KeyPress, code, modifiers, text)


def test_the_commands_apply_while_a_suggestion_is_shown(qapp):
    assert ghost_command(key(Qt.Key.Key_Tab, text="\t"), True, False) is GhostCommand.ACCEPT_ALL
    assert ghost_command(key(Qt.Key.Key_Right, CTRL), True, False) is GhostCommand.ACCEPT_WORD
    assert ghost_command(key(Qt.Key.Key_Escape), True, True) is GhostCommand.DISMISS
    assert ghost_command(key(Qt.Key.Key_BracketRight, ALT, "]"), True, False) is GhostCommand.NEXT
    assert ghost_command(key(Qt.Key.Key_BracketLeft, ALT, "["), True, False) is GhostCommand.PREVIOUS
    assert ghost_command(key(Qt.Key.Key_A, text="a"), True, False) is None


def test_without_a_suggestion_only_ctrl_space_and_esc_on_a_running_request_are_commands(qapp):
    assert ghost_command(key(Qt.Key.Key_Space, CTRL), False, False) is GhostCommand.SUGGEST_NOW
    assert ghost_command(key(Qt.Key.Key_Tab, text="\t"), False, False) is None  # types a tab
    assert ghost_command(key(Qt.Key.Key_Escape), False, True) is GhostCommand.DISMISS
    assert ghost_command(key(Qt.Key.Key_Escape), False, False) is None


def test_tab_is_claimed_from_the_focus_chain_and_enter_types_a_line_break(qapp):
    assert is_ghost_shortcut(key(Qt.Key.Key_Tab, text="\t"))
    assert not is_ghost_shortcut(key(Qt.Key.Key_A, text="a"))
    assert typed_text(key(Qt.Key.Key_Return, text="\r")) == "\n"
    assert typed_text(key(Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier, "A")) == "A"
    assert typed_text(key(Qt.Key.Key_A, CTRL, "\x01")) == ""
