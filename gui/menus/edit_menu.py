"""Edit: undo and redo, the clipboard, select all, find / replace and go to line, with every editor's shortcuts.

The editor handles the clipboard and undo keys itself while it has the focus; the menu's actions do the same for
a click, and keep those keys working from elsewhere in the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QPlainTextEdit

from gui.dialogs.find_replace_dialog import FindReplaceDialog
from gui.menus.actions import ActionRegistry


def build_edit_menu(menu_bar: QMenuBar, actions: ActionRegistry, editor: QPlainTextEdit,
                    finder: FindReplaceDialog, go_to_line: Callable[[], None]) -> QMenu:
    """``go_to_line()`` asks for a line and moves there."""
    menu = menu_bar.addMenu("&Edit")
    keys = QKeySequence.StandardKey
    undo = actions.add(menu, "edit.undo", "&Undo", editor.undo, keys.Undo)
    redo = actions.add(menu, "edit.redo", "&Redo", editor.redo, keys.Redo)
    menu.addSeparator()
    cut = actions.add(menu, "edit.cut", "Cu&t", editor.cut, keys.Cut)
    copy = actions.add(menu, "edit.copy", "&Copy", editor.copy, keys.Copy)
    actions.add(menu, "edit.paste", "&Paste", editor.paste, keys.Paste)
    actions.add(menu, "edit.select_all", "Select &All", editor.selectAll, keys.SelectAll)
    menu.addSeparator()
    actions.add(menu, "edit.find", "&Find…", lambda: finder.open_for(replacing=False), keys.Find)
    actions.add(menu, "edit.find_next", "Find &Next", lambda: finder.find_next(backward=False), keys.FindNext)
    actions.add(menu, "edit.find_previous", "Find Pre&vious", lambda: finder.find_next(backward=True),
                keys.FindPrevious)
    actions.add(menu, "edit.replace", "R&eplace…", lambda: finder.open_for(replacing=True), QKeySequence("Ctrl+H"))
    menu.addSeparator()
    actions.add(menu, "edit.go_to_line", "&Go to Line…", go_to_line, QKeySequence("Ctrl+G"))

    # Greyed when there is nothing to undo, redo or take: the editor says when that changes.
    undo.setEnabled(editor.document().isUndoAvailable())
    redo.setEnabled(editor.document().isRedoAvailable())
    cut.setEnabled(editor.textCursor().hasSelection())
    copy.setEnabled(editor.textCursor().hasSelection())
    editor.undoAvailable.connect(undo.setEnabled)
    editor.redoAvailable.connect(redo.setEnabled)
    editor.copyAvailable.connect(cut.setEnabled)
    editor.copyAvailable.connect(copy.setEnabled)
    return menu
