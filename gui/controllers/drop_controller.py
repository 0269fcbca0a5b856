"""``DropController``: files dropped on the window. A GGUF file or a folder loads as the model (and joins the
catalog once it has loaded, like Model ▸ Open Model…); any other file opens as the document (asking first to save
unsaved changes). Dragged text is left to the editor, which inserts it as always.

The editor takes drops itself (to insert text), so the controller watches the editor's viewport as well as the
window: a file dropped anywhere is handled the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDropEvent

from engine.loading.gguf_file import is_gguf_file
from gui.controllers.model_controller import ModelController


class DropController(QObject):
    message = Signal(str)  # for the status bar

    def __init__(self, models: ModelController, open_document: Callable[[str], bool], parent: QObject) -> None:
        """``open_document(path)``: the document controller's ``open``."""
        super().__init__(parent)
        self.models = models
        self.open_document = open_document

    def watch(self, *targets: QObject) -> None:
        for target in targets:
            target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) and isinstance(event, QDropEvent):
            paths = dropped_paths(event)
            if paths:
                event.acceptProposedAction()
                if kind == QEvent.Type.Drop:
                    self.open(paths)
                return True
        return super().eventFilter(watched, event)

    def open(self, paths: list[Path]) -> None:
        """The first path dropped: a model (GGUF file or folder) loads, any other file opens as the document."""
        first = paths[0]
        if len(paths) > 1:
            self.message.emit(f"Dropped {len(paths)} items: opening {first.name} only")
        if first.is_dir() or is_gguf_file(first):
            self.models.open_path(first)
        else:
            self.open_document(str(first))


def dropped_paths(event: QDropEvent) -> list[Path]:
    """The local files and folders being dragged (a drag-enter or -move event is a drop event too); empty for
    text, web links and the like."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]
