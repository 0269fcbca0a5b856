"""Keeps the notes on where suggested text came from in step with the document: stored (in the user data folder)
after every save, read after every open, and a sidecar an earlier version left beside the document moved there."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from gui.controllers.document_controller import DocumentController
from gui.documents.document_io import DocumentError
from gui.documents.sidecar import (
    ProvenanceStore,
    Sidecar,
    SidecarError,
    migrate_legacy_sidecar,
    retire_legacy_sidecar,
)
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.suggestions.history import SuggestionHistory
from gui.suggestions.provenance import ProvenanceTracker


class SidecarController(QObject):
    message = Signal(str)  # for the status bar

    def __init__(self, documents: DocumentController, editor: GhostTextEditor, provenance: ProvenanceTracker,
                 history: SuggestionHistory, store: ProvenanceStore | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store or ProvenanceStore()
        self.editor = editor
        self.provenance = provenance
        self.history = history
        self._just_saved: str | None = None
        documents.fileSaved.connect(self.save)
        documents.fileOpened.connect(self._opened)

    def snapshot(self) -> Sidecar:
        text = self.editor.toPlainText()
        return Sidecar(self.provenance.records(), self.history.records(text), len(text))

    def save(self, document_path: str) -> bool:
        """Store the notes of the document just saved at ``document_path`` (under a new path after Save As: they
        go with the text); a failure is reported, and the document itself stays saved."""
        self._just_saved = os.path.abspath(document_path)
        try:
            self.store.write(document_path, self.snapshot())
        except DocumentError as exc:
            warning = f"Saved {os.path.basename(document_path)}, but not where its suggested text came from: {exc}"
            # After the save's own "Saved ..." message, which would otherwise cover this one at once.
            QTimer.singleShot(0, lambda: self.message.emit(warning))
            return False
        retire_legacy_sidecar(document_path)  # what it held is out of date now
        return True

    def _opened(self, document_path: str) -> None:
        path = os.path.abspath(document_path)
        if path == self._just_saved:  # Save As also reports the file as opened: what is known stays
            self._just_saved = None
            return
        self._just_saved = None
        self.load(path)

    def load(self, document_path: str) -> bool:
        """Read the notes of the document now in the editor (moving a sidecar left beside it into the store
        first); True when there were some and they were used."""
        legacy, problem = migrate_legacy_sidecar(document_path, self.store)
        if problem:
            self.message.emit(problem)
        sidecar = legacy
        if sidecar is None:
            try:
                sidecar = self.store.read(document_path)
            except SidecarError as exc:
                self.message.emit(str(exc))
                return False
        if sidecar is None:
            return False
        self._apply(sidecar, f"the notes kept for {os.path.basename(document_path)}")
        return True

    def notes_later(self) -> Callable[[str], str | None]:
        """The sidecar as JSON for a crash-recovery snapshot (None when there is nothing to remember), in two
        steps: what the notes need from the editor is taken now, on the GUI thread; the function returned makes
        the JSON from the text as it was now, on the recovery writer's thread, so the GUI thread never copies the
        whole text for it."""
        accepted, history = self.provenance.records_later(), self.history.records_later()

        def notes(text: str) -> str | None:
            sidecar = Sidecar(accepted(text), history(text), len(text))
            return None if sidecar.is_empty() else sidecar.to_json()

        return notes

    def restore_notes(self, notes: str) -> bool:
        """Put back the notes of a crash-recovery snapshot onto the text just restored; True when they were used."""
        try:
            sidecar = Sidecar.from_json(notes)
        except (ValueError, KeyError, TypeError) as exc:
            self.message.emit(f"Where the restored text's suggestions came from could not be read back: {exc}")
            return False
        self._apply(sidecar, "the notes in the recovery file")
        return True

    def _apply(self, sidecar: Sidecar, source: str) -> None:
        grown = None if sidecar.document_chars is None else len(self.editor.toPlainText()) - sidecar.document_chars
        lost = self.provenance.restore(sidecar.accepted, grown)
        lost += self.history.restore(sidecar.history, self.editor.toPlainText())
        if lost:
            self.message.emit(f"{lost} of {source} no longer match the text "
                              "(it was edited elsewhere) and were left out")
