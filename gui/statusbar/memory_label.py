"""Whether the memory is on and how large it is, or how far indexing a folder has got."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QWidget

from engine.byte_sizes import format_bytes
from engine.memory.jobs import MemoryState


class MemoryLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryLabel")
        self._state: MemoryState | None = None
        self._enabled = True
        self._render()

    def show_state(self, state: MemoryState) -> None:
        self._state = state
        self._render()

    def set_decoding_memory(self, enabled: bool) -> None:
        """``DecodingSettings.memory``: off means no memory reaches the suggestions, whatever is attached."""
        self._enabled = enabled
        self._render()

    def show_indexing(self, folder: str, done: int, total: int) -> None:
        self.setText(f"Memory: indexing {Path(folder).name} {done}/{total}…")

    def _render(self) -> None:
        state = self._state
        if not self._enabled:
            self.setText("Memory off")
            self.setToolTip("Decoding settings: the memory is switched off")
            return
        if state is None:
            self.setText("Memory: doc")
            self.setToolTip("")
            return
        parts = ["doc"] if state.document else []  # short: the status bar is crowded
        if state.folders:
            parts.append(f"{len(state.folders)} folder{'s' if len(state.folders) != 1 else ''}, "
                         f"{format_bytes(state.folder_bytes)}")
        self.setText("Memory: " + (" + ".join(parts) if parts else "nothing"))
        lines = [f"This document: {'on' if state.document else 'off'} ({state.document_tokens:,} tokens)"]
        lines += [f"{f.folder}: {f.files} files, {format_bytes(f.text_bytes)}" for f in state.folders]
        self.setToolTip("\n".join(lines))
