"""``MemoryController``: Model ▸ Memory seen from the GUI thread: the "This document" switch, folders added
(indexed on the engine thread with progress and cancel), forgotten, and re-applied to every newly loaded model.

The controller never touches the model: every change is an ``engine.memory.jobs`` job submitted through the
bridge, and the job's ``MemoryState`` comes back in a signal. The switch and the folder list are the app's
settings (``AppSettings.memory_document`` / ``memory_folders``), so they outlive the session and model changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.byte_sizes import format_bytes
from engine.memory import jobs
from engine.memory.jobs import MemoryState
from engine.worker.events import EngineError, TaskFinished
from gui.engine_bridge import EngineBridge
from gui.jobs.job_runner import JobRunner


class MemoryController(QObject):
    stateChanged = Signal(object)  # MemoryState, after every change
    indexingProgress = Signal(str, int, int)  # folder, files done, files in all
    indexingStarted = Signal(str)  # folder
    indexingEnded = Signal(str, bool)  # folder, whether it was added (False: cancelled or failed)
    message = Signal(str)  # for the status bar

    def __init__(self, bridge: EngineBridge, document: bool, folders: list[str], root: Path | None,
                 save: Callable[[bool, list[str]], None], parent: QObject | None = None) -> None:
        """``save(document, folders)`` persists the configuration whenever it changes."""
        super().__init__(parent)
        self.bridge = bridge
        self.document = document
        self.folders = list(folders)
        self.root = root
        self.state: MemoryState | None = None
        self._save = save
        self._pending: set[int] = set()
        self._indexer = JobRunner(bridge, self)
        self._indexing_folder: str | None = None
        self._indexer.progressed.connect(self._on_progress)
        self._indexer.finished.connect(self._on_indexed)
        self._indexer.cancelled.connect(lambda _result: self._end_indexing(False, "Memory: indexing cancelled"))
        self._indexer.failed.connect(lambda why: self._end_indexing(False, f"Memory: could not add the folder: {why}"))
        bridge.modelLoaded.connect(lambda _event: self._submit(jobs.configure(self.document, self.folders,
                                                                              self.root)))
        bridge.taskFinished.connect(self._on_finished)
        bridge.engineError.connect(self._on_error)

    # --- commands ---------------------------------------------------------------------------------------

    def set_document(self, on: bool) -> None:
        if on == self.document:
            return
        self.document = on
        self._save(self.document, self.folders)
        self._submit(jobs.set_document(on))

    def add_folder(self, folder: str) -> bool:
        """Start indexing ``folder``; False when another folder is being indexed."""
        if self.is_indexing():
            return False
        self._indexing_folder = str(Path(folder).resolve())
        self._indexer.start(jobs.add_folder(self._indexing_folder, self.root))
        self.indexingStarted.emit(self._indexing_folder)
        return True

    def cancel_indexing(self) -> None:
        self._indexer.cancel()

    def is_indexing(self) -> bool:
        return self._indexer.is_running()

    def forget(self, folder: str) -> None:
        self.folders = [f for f in self.folders if f != folder]
        self._save(self.document, self.folders)
        self._submit(jobs.forget_folder(folder, self.root))

    # --- events -----------------------------------------------------------------------------------------

    def _submit(self, job) -> None:
        self._pending.add(self.bridge.submit(job))

    def _on_finished(self, event: TaskFinished) -> None:
        if event.request_id in self._pending:
            self._pending.discard(event.request_id)
            if isinstance(event.result, MemoryState):
                self._set_state(event.result)

    def _on_error(self, event: EngineError) -> None:
        if event.request_id in self._pending:
            self._pending.discard(event.request_id)
            self.message.emit(f"Memory: {event.message}")

    def _on_progress(self, payload: dict) -> None:
        self.indexingProgress.emit(str(payload.get("folder", "")), int(payload.get("done", 0)),
                                   int(payload.get("total", 0)))

    def _on_indexed(self, state: MemoryState | None) -> None:
        folder = self._indexing_folder
        if state is None:  # the job saw the cancel before the runner did
            self._end_indexing(False, "Memory: indexing cancelled")
            return
        assert folder is not None  # add_folder set it for this job
        if folder not in self.folders:
            self.folders.append(folder)
            self._save(self.document, self.folders)
        self._set_state(state)
        added = next((f for f in state.folders if f.folder == folder), None)
        summary = f"Memory: {Path(folder).name} added" if added is None else (
            f"Memory: {Path(folder).name} added ({added.files} files, {format_bytes(added.text_bytes)}"
            + (f"; {added.skipped} skipped" if added.skipped else "") + ")")
        self._end_indexing(True, summary)

    def _end_indexing(self, added: bool, text: str) -> None:
        folder, self._indexing_folder = self._indexing_folder, None
        self.message.emit(text)
        self.indexingEnded.emit(folder or "", added)

    def _set_state(self, state: MemoryState) -> None:
        self.state = state
        for text in state.messages:
            self.message.emit(text)
        self.stateChanged.emit(state)
