"""The text editor and what it needs to show suggestions."""

from gui.editor.ghost_text_editor import GhostTextEditor

__all__ = ["GhostTextEditor"]
