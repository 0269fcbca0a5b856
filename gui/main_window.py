"""``MainWindow``: the editor, the Alternatives dock, menus, toolbar and status bar, wired to the engine thread.

``MainWindow()`` builds the whole app with the configured model (by default the bundled one). It builds its parts
itself (``_build_parts``), then the menus, each given only the collaborators it calls (``_build_menus``), and wires
their signals in one place (``_connect``). Everything that touches the world — settings folder, recovery folder, dialogs, the engine worker — can be passed in, which is how
the tests run it with tiny models, temporary folders and dialogs that answer at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from engine.worker.events import ModelSnapshot
from gui.alternatives_panel import AlternativesPanel
from gui.controllers.branch_controller import BranchController
from gui.controllers.document_controller import DocumentController
from gui.controllers.drop_controller import DropController
from gui.controllers.memory_controller import MemoryController
from gui.controllers.model_controller import ModelController, startup_model
from gui.controllers.model_dialogs import ModelDialogs
from gui.controllers.quality_controller import QualityController
from gui.controllers.reroll_controller import RerollController
from gui.controllers.sidecar_controller import SidecarController
from gui.controllers.suggestion_controller import SuggestionController
from gui.dialogs.find_replace_dialog import FindReplaceDialog
from gui.dialogs.prompts import Prompts
from gui.documents.document_io import DocumentError
from gui.documents.recovery import (
    DEFAULT_INTERVAL_MS,
    RecoveredDocument,
    RecoveryAutosaver,
    RecoveryStore,
    weigh_against_disk,
)
from gui.documents.sidecar import PROVENANCE_FOLDER, ProvenanceStore
from gui.documents.text_mirror import TextMirror
from gui.editor.ghost_text_editor import GhostTextEditor
from gui.editor.text_search import current_line, go_to_line, line_count
from gui.engine_bridge import EngineBridge, WorkerFactory
from gui.menus.actions import ActionRegistry
from gui.menus.decoding_menu import build_decoding_menu
from gui.menus.edit_menu import build_edit_menu
from gui.menus.file_menu import build_file_menu
from gui.menus.help_menu import build_help_menu
from gui.menus.model_menu import ModelMenu
from gui.menus.suggestion_menu import build_suggestion_menu
from gui.menus.toolbar import build_toolbar
from gui.menus.view_menu import build_view_menu
from gui.preferences import Preferences
from gui.settings.last_folder import FolderMemory, document_folders
from gui.settings.settings_store import SettingsStore
from gui.statusbar import StatusBar
from gui.statusbar.better_model_offer import offer_better_model_once
from gui.suggestions.provenance import ProvenanceTracker
from gui.theme import ThemeManager

STATUS_MESSAGE_MS = 6000


class MainWindow(QMainWindow):
    def __init__(self, model: str | os.PathLike | None = None, *, device: str | None = None,
                 config_dir: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
                 prompts: Prompts | None = None, open_path: str | os.PathLike | None = None,
                 debounce_ms: int | None = None, worker_factory: WorkerFactory | None = None,
                 recovery_interval_ms: int = DEFAULT_INTERVAL_MS) -> None:
        """``model``: a model name or folder (default: the last one used, else the bundled default);
        ``config_dir`` / ``data_dir``: where settings and recovery files live (default: the user's folders, or
        INKLING_CONFIG_DIR / INKLING_DATA_DIR); ``prompts``: answers the app's questions (default: dialogs)."""
        super().__init__()
        self.setObjectName("mainWindow")
        self.prompts = prompts or Prompts()
        self.settings_store = SettingsStore(config_dir)
        self.app_settings = self.settings_store.load()
        self._closed = False

        self.theme = ThemeManager.for_app(cast(QApplication, QApplication.instance()))
        self.theme.apply(self.app_settings.theme)
        self._build_parts(worker_factory, data_dir, device, debounce_ms, recovery_interval_ms)
        self._build_menus()
        self._restore_geometry()
        self._connect()
        self.setWindowTitle(self.documents.title())
        if self.settings_store.problem:
            self._show_message(self.settings_store.problem)

        self.bridge.start()
        if model is not None:
            self.models.load(str(model))
        else:
            name, fallback = startup_model(self.app_settings.model)
            self.models.load(name, fallback=fallback)
        if open_path is not None:
            self.documents.load(open_path)
        QTimer.singleShot(0, self.offer_recovery)

    def _build_parts(self, worker_factory: WorkerFactory | None, data_dir: str | os.PathLike | None,
                     device: str | None, debounce_ms: int | None, recovery_interval_ms: int) -> None:
        settings = self.app_settings
        self.editor = GhostTextEditor(self)
        self.editor.set_debounce_ms(debounce_ms if debounce_ms is not None else settings.debounce_ms)
        self.editor.set_suggestions_enabled(settings.suggestions_enabled)
        self.editor.set_confidence_shading(settings.confidence_shading)
        if settings.font_size:
            self.editor.set_point_size(settings.font_size)
        self.setCentralWidget(self.editor)

        self.bridge = EngineBridge(worker_factory, self)
        self.suggestions = SuggestionController(self.editor, self.bridge, settings.decoding, self)
        self.quality = QualityController(
            self.bridge, self.suggestions, settings.quality,
            os.path.join(data_dir, "coverage_calibration.json") if data_dir else None, parent=self)
        self.models = ModelController(self.bridge, self.prompts, self)
        self.models.device = device or settings.device
        self.documents = DocumentController(self.editor, self.prompts, self)
        self.models.folders = FolderMemory(settings, self._save_settings)  # where the last model was opened
        self.documents.folders = document_folders(settings, self._save_settings)
        self.drops = DropController(self.models, self.documents.open, self)  # a GGUF, a model folder, a document
        # Before the first load, which gets its configuration.
        self.memory = MemoryController(self.bridge, settings.memory_document, settings.memory_folders,
                                       Path(data_dir) / "memory" if data_dir else None, self._save_memory, self)

        self.alternatives = AlternativesPanel(self.editor, self, self)
        self.alternatives.set_confidence_shading(settings.confidence_shading)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.alternatives)
        self.status = StatusBar(self.editor, self)
        self.setStatusBar(self.status)

        # The tools around a suggestion: branching, re-roll history, where accepted text came from.
        self.branching = BranchController(self.editor, self.alternatives, self.suggestions, self.bridge, self)
        self.rerolls = RerollController(self.editor, self.suggestions, self.bridge, self)
        self.provenance = ProvenanceTracker(self.editor, self)
        self.sidecars = SidecarController(self.documents, self.editor, self.provenance, self.rerolls.history,
                                          ProvenanceStore(Path(data_dir) / PROVENANCE_FOLDER if data_dir else None),
                                          self)

        self.preferences = Preferences(settings, self._save_settings, self.editor, self.alternatives,
                                       self.suggestions, self.models, self.theme, self.prompts, self)
        self.model_dialogs = ModelDialogs(self.bridge, self.prompts, self.models, self.suggestions, data_dir,
                                          self.status.showMessage, self)
        self.better_model_offer = offer_better_model_once(settings, self._save_settings, self.status,
                                                          self.model_dialogs.open_get_models)

        self.recovery = RecoveryStore(os.path.join(data_dir, "recovery") if data_dir else None)
        self.text_mirror = TextMirror(self.editor.document(), self)  # snapshots without a toPlainText copy
        self.autosaver = RecoveryAutosaver(self.recovery, self._recovery_snapshot, self._show_message,
                                           recovery_interval_ms, self, notes=self.sidecars.notes_later,
                                           cursor=lambda: self.editor.textCursor().position(),
                                           on_status=self.status.recovery_warning.show_problem)

    def _build_menus(self) -> None:
        """In menu-bar order; the toolbar last, as it shows the menus' actions."""
        registry = ActionRegistry(self)
        # Not ``actions``: that is QWidget.actions(), the list the shortcuts are added to.
        self.named_actions: dict[str, QAction] = registry.named
        bar = self.menuBar()
        self.recent_menu = build_file_menu(bar, registry, self.documents, self.preferences, self.close)
        self.finder = FindReplaceDialog(self.editor, self)
        build_edit_menu(bar, registry, self.editor, self.finder, self._go_to_line)
        self.model_menu = ModelMenu(self.models, self.memory, self.model_dialogs, self.preferences, registry,
                                    self.prompts, self)
        bar.addMenu(self.model_menu)
        self.coverage_slider = build_decoding_menu(bar, registry, self.suggestions, self.quality, self.prompts,
                                                   self, self.preferences.edit_decoding_settings)
        build_suggestion_menu(bar, registry, self.rerolls, self.branching)
        build_view_menu(bar, registry, self.preferences, self.alternatives)
        build_help_menu(bar, registry, self.prompts, self.models, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea,
                        build_toolbar(registry, self.editor.request_suggestion_now, self.theme.changed, self))

    def _go_to_line(self) -> None:
        line = self.prompts.go_to_line(self, current_line(self.editor), line_count(self.editor))
        if line is not None:
            go_to_line(self.editor, line)

    # --- the testable surface -------------------------------------------------------------------------

    def engine_ready(self) -> bool:
        """True once a model is loaded (and suggestions can be made)."""
        return self.bridge.is_ready()

    # --- wiring ---------------------------------------------------------------------------------------

    def _connect(self) -> None:
        status = self.status
        self.bridge.busyChanged.connect(self._loading_changed)
        self.bridge.engineWarning.connect(self._show_message)
        self.models.loadStarted.connect(status.model.show_loading)
        self.models.modelChanged.connect(self._model_changed)
        self.models.loadFailed.connect(self._model_failed)
        self.models.noModel.connect(self._no_model)
        self.models.catalogProblem.connect(self._show_message)
        self.setAcceptDrops(True)  # drops on the toolbar, status bar or panel; the editor takes its own
        self.drops.watch(self.editor.viewport(), self)
        self.drops.message.connect(self._show_message)
        self.models.fallbackUsed.connect(
            lambda name, why: self._show_message(f"Could not load {name} ({why}); using the bundled model"))
        self.suggestions.statsUpdated.connect(lambda s: status.show_latency(s.first_token_s, s.tokens_per_s))
        self.suggestions.problem.connect(self._show_message)
        self.suggestions.settingsChanged.connect(self._decoding_changed)
        self.documents.titleChanged.connect(self.setWindowTitle)
        self.documents.message.connect(self._show_message)
        self.documents.fileOpened.connect(self.preferences.remember_file)
        self.editor.textReplaced.connect(status.text_count.text_replaced)
        self.alternatives.visibilityChanged.connect(self._panel_visibility_changed)
        self.quality.changed.connect(self._quality_changed)
        self.quality.message.connect(self._show_message)
        for source in (self.branching, self.rerolls, self.sidecars, self.memory):
            source.message.connect(self._show_message)
        memory_label = status.memory
        self.memory.stateChanged.connect(memory_label.show_state)
        self.memory.indexingProgress.connect(memory_label.show_indexing)
        self.memory.indexingEnded.connect(self._memory_indexing_ended)
        memory_label.set_decoding_memory(self.suggestions.settings.memory)
        self.suggestions.settingsChanged.connect(lambda s: memory_label.set_decoding_memory(s.memory))

    def _memory_indexing_ended(self, _folder: str, _added: bool) -> None:
        if self.memory.state is not None:
            self.status.memory.show_state(self.memory.state)

    def _show_message(self, text: str) -> None:
        self.status.showMessage(text, STATUS_MESSAGE_MS)

    # --- engine events --------------------------------------------------------------------------------

    def _loading_changed(self, loading: bool) -> None:
        self.status.busy.set_busy("loading", "Loading model…" if loading else None)

    def _model_changed(self, model: ModelSnapshot, request_id: int) -> None:
        self.status.model.show_model(model.name, model.architecture, model.parameters)
        self.status.device.show_device(model.device)
        self.status.start_model(f"{os.path.basename(model.name) or model.name} on {model.device}")
        if not self.editor.is_current(request_id):  # not the engine retrying this suggestion on the CPU
            self.editor.dismiss()
        self.app_settings.model = model.name
        self.app_settings.device = self.models.device
        self._save_settings()
        self._show_message(f"Model {os.path.basename(model.name) or model.name} ready on {model.device}")

    def _model_failed(self, message: str) -> None:
        active = self.models.active
        if active is not None:
            self.status.model.show_model(active.name, active.architecture, active.parameters)

    def _no_model(self, message: str) -> None:
        self.status.model.show_missing(message)
        self.status.device.show_device(None)
        self._show_message("No model loaded: you can write, but there are no suggestions")

    # --- settings and recovery ------------------------------------------------------------------------

    def _decoding_changed(self, settings) -> None:
        self.app_settings.decoding = settings
        self._save_settings()

    def _quality_changed(self, quality) -> None:
        self.app_settings.quality = quality
        self._save_settings()

    def _panel_visibility_changed(self, visible: bool) -> None:
        if not self.isVisible() or self._closed:
            return  # hiding the whole window is not the user hiding the panel
        self.app_settings.alternatives_visible = visible
        self._save_settings()

    def _save_memory(self, document: bool, folders: list[str]) -> None:
        self.app_settings.memory_document = document
        self.app_settings.memory_folders = list(folders)
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            self.settings_store.save(self.app_settings)
        except (DocumentError, OSError) as exc:
            self._show_message(f"Settings not saved: {exc}")

    def _restore_geometry(self) -> None:
        restored = False
        if self.app_settings.geometry:
            restored = self.restoreGeometry(QByteArray.fromBase64(self.app_settings.geometry.encode("ascii")))
        if self.app_settings.window_state:
            self.restoreState(QByteArray.fromBase64(self.app_settings.window_state.encode("ascii")))
        if not restored:
            self.resize(1100, 720)
            self.resizeDocks([self.alternatives], [300], Qt.Orientation.Horizontal)
        self.alternatives.setVisible(self.app_settings.alternatives_visible)

    def _recovery_snapshot(self) -> tuple[list[str], str | None, bool, int]:
        document = self.editor.document()
        path = str(self.documents.path) if self.documents.path else None
        if not document.isModified():
            return [], path, False, document.revision()
        return self.text_mirror.lines(), path, True, document.revision()

    def offer_recovery(self) -> bool:
        """If a previous session crashed with unsaved text, offer to restore it; True when restored."""
        if self._closed:
            return False
        orphans = self.recovery.orphans()
        if not orphans:
            return False
        if self.editor.document().isModified():  # never overwrite what the user already typed here
            self.recovery.keep_orphans(orphans)
            return False
        offered, note = self._worth_offering(orphans)
        if not offered:
            return False
        if not self.prompts.offer_restore(self, offered, note):
            self.recovery.discard_orphans(offered)
            return False
        newest, rest = offered[0], offered[1:]
        self.recovery.keep_orphans(rest)
        self.documents.restore(newest.text, newest.path)
        if newest.notes:
            self.sidecars.restore_notes(newest.notes)
        if newest.cursor is not None:
            self.editor.set_cursor_position(newest.cursor)
        self.autosaver.save_now()  # the text is in our snapshot before the old one is deleted
        self._show_message(f"Restored unsaved text of {newest.title}")
        return True

    def _worth_offering(self, orphans: list[RecoveredDocument]) -> tuple[list[RecoveredDocument], str]:
        """The snapshots newer than their file on disk and different from it, newest first, and what the newest's
        note says; the others go: deleted when the file holds the same text, set aside when the file is newer."""
        offered: list[RecoveredDocument] = []
        first_note = ""
        for orphan in orphans:
            verdict = weigh_against_disk(orphan)
            if verdict.offer:
                first_note = first_note if offered else verdict.note
                offered.append(orphan)
            elif verdict.same:
                self.recovery.discard_orphans([orphan])
            else:
                [kept] = self.recovery.set_aside([orphan])
                self._show_message(f"Not offered the crash-recovery text of {orphan.title}: {verdict.note} "
                                   f"It was kept as {kept}.")
        return offered, first_note

    # --- closing --------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and not self.documents.maybe_save():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Save settings, drop the recovery snapshot, stop the engine thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.app_settings.geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        self.app_settings.window_state = bytes(self.saveState().toBase64().data()).decode("ascii")
        self._save_settings()
        self.autosaver.stop()
        self.editor.dismiss()
        self.recovery.close()
        self.model_dialogs.shutdown()
        self.models.shutdown()
        self.bridge.shutdown()
