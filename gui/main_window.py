"""``MainWindow``: the editor, the Alternatives dock, menus, toolbar and status bar, wired to the engine thread.

``MainWindow()`` builds the whole app with the configured model (by default the bundled one). Everything that
touches the world — settings folder, recovery folder, dialogs, the engine worker — can be passed in, which is how
the tests run it with tiny models, temporary folders and dialogs that answer at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from engine.worker.events import ModelLoaded
from gui.alternatives_panel import AlternativesPanel
from gui.dialogs.prompts import Prompts
from gui.document_controller import DocumentController
from gui.document_io import DocumentError
from gui.editor.ghost_text_editor import GhostTextEditor, default_editor_font
from gui.engine_bridge import EngineBridge, WorkerFactory
from gui.last_folder import FolderMemory
from gui.memory_wiring import install_memory
from gui.menus import (
    build_decoding_menu,
    build_file_menu,
    build_help_menu,
    build_model_menu,
    build_toolbar,
    build_view_menu,
)
from gui.menus.file_menu import fill_recent_menu
from gui.menus.model_menu import fill_model_menu
from gui.model_controller import ModelController, startup_model
from gui.presets import apply_preset
from gui.quality_controller import QualityController
from gui.recovery import DEFAULT_INTERVAL_MS, RecoveryAutosaver, RecoveryStore
from gui.settings_store import MAX_FONT_SIZE, MIN_FONT_SIZE, SettingsStore
from gui.statusbar import StatusBar
from gui.suggestion_controller import SuggestionController
from gui.suggestion_tools import install_suggestion_tools
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
        self.actions: dict[str, QAction] = {}
        self._closed = False

        self.theme = ThemeManager.for_app(QApplication.instance())
        self.theme.apply(self.app_settings.theme)

        self.editor = GhostTextEditor(self)
        self.editor.set_debounce_ms(debounce_ms if debounce_ms is not None else self.app_settings.debounce_ms)
        self.editor.set_suggestions_enabled(self.app_settings.suggestions_enabled)
        self.editor.set_confidence_shading(self.app_settings.confidence_shading)
        if self.app_settings.font_size:
            self.editor.set_point_size(self.app_settings.font_size)
        self.setCentralWidget(self.editor)

        self.bridge = EngineBridge(worker_factory, self)
        self.suggestions = SuggestionController(self.editor, self.bridge, self.app_settings.decoding, self)
        self.quality = QualityController(
            self.bridge, self.suggestions, self.app_settings.quality,
            os.path.join(data_dir, "coverage_calibration.json") if data_dir else None, parent=self)
        self.quality.changed.connect(self._quality_changed)
        self.quality.message.connect(self._show_message)
        self.models = ModelController(self.bridge, self.prompts, self)
        self.models.device = device or self.app_settings.device
        self.documents = DocumentController(self.editor, self.prompts, self)
        self.folders = FolderMemory(self.app_settings, self._save_settings)
        self.documents.folders = self.models.folders = self.folders

        self.alternatives = AlternativesPanel(self.editor, self, self)
        self.alternatives.set_confidence_shading(self.app_settings.confidence_shading)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.alternatives)
        self.status = StatusBar(self.editor, self)
        self.setStatusBar(self.status)
        install_memory(self, data_dir)  # Model ▸ Memory; before the first load, which gets its configuration

        build_file_menu(self)
        build_model_menu(self)
        build_decoding_menu(self)
        build_view_menu(self)
        build_help_menu(self)
        build_toolbar(self)
        install_suggestion_tools(self)  # branching, re-roll history, where accepted text came from
        self._restore_geometry()

        self.data_dir = data_dir  # also holds fine-tuning runs and the evaluation history
        self.recovery = RecoveryStore(os.path.join(data_dir, "recovery") if data_dir else None)
        self.autosaver = RecoveryAutosaver(self.recovery, self._recovery_snapshot, self._show_message,
                                           recovery_interval_ms, self, notes=self.sidecars.notes_json,
                                           cursor=lambda: self.editor.textCursor().position())
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

    # --- the testable surface -------------------------------------------------------------------------

    def engine_ready(self) -> bool:
        """True once a model is loaded (and suggestions can be made)."""
        return self.bridge.is_ready()

    # --- wiring ---------------------------------------------------------------------------------------

    def add_action(self, menu: QMenu | None, name: str, text: str, slot: Callable, shortcut=None,
                   checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        self.actions[name] = action
        return action

    def _connect(self) -> None:
        status = self.status
        self.bridge.busyChanged.connect(self._loading_changed)
        self.bridge.engineWarning.connect(self._show_message)
        self.models.loadStarted.connect(status.model.show_loading)
        self.models.modelChanged.connect(self._model_changed)
        self.models.loadFailed.connect(self._model_failed)
        self.models.noModel.connect(self._no_model)
        self.models.catalogProblem.connect(self._show_message)
        self.models.fallbackUsed.connect(
            lambda name, why: self._show_message(f"Could not load {name} ({why}); using the bundled model"))
        self.suggestions.statsUpdated.connect(lambda s: status.show_latency(s.first_token_s, s.tokens_per_s))
        self.suggestions.problem.connect(self._show_message)
        self.suggestions.settingsChanged.connect(self._decoding_changed)
        self.documents.titleChanged.connect(self.setWindowTitle)
        self.documents.message.connect(self._show_message)
        self.documents.fileOpened.connect(self._remember_file)
        self.alternatives.visibilityChanged.connect(self._panel_visibility_changed)

    def _show_message(self, text: str) -> None:
        self.status.showMessage(text, STATUS_MESSAGE_MS)

    # --- engine events --------------------------------------------------------------------------------

    def _loading_changed(self, loading: bool) -> None:
        self.status.busy.set_busy("loading", "Loading model…" if loading else None)

    def _model_changed(self, event: ModelLoaded) -> None:
        self.status.model.show_model(event.name, event.architecture, event.parameters)
        self.status.device.show_device(event.device)
        if event.request_id != self.editor.pending_request:  # not the engine retrying this suggestion on the CPU
            self.editor.dismiss()
        self.app_settings.model = event.name
        self.app_settings.device = self.models.device
        self._save_settings()
        fill_model_menu(self)
        self._show_message(f"Model {os.path.basename(event.name) or event.name} ready on {event.device}")

    def _model_failed(self, message: str) -> None:
        active = self.models.active
        if active is not None:
            self.status.model.show_model(active.name, active.architecture, active.parameters)
            fill_model_menu(self)  # put the tick back on the model still in use

    def _no_model(self, message: str) -> None:
        self.status.model.show_missing(message)
        self.status.device.show_device(None)
        self._show_message("No model loaded: you can write, but there are no suggestions")

    # --- commands (menus, toolbar) --------------------------------------------------------------------

    def set_device(self, device: str) -> None:
        self.models.set_device(device)
        self.app_settings.device = device
        self._save_settings()

    def set_strategy(self, strategy: str) -> None:
        self.suggestions.set_settings(self.suggestions.settings.replace(strategy=strategy))

    def apply_preset(self, name: str) -> None:
        self.suggestions.set_settings(apply_preset(self.suggestions.settings, name))

    def set_stop_rule(self, stop: str | None) -> None:
        self.suggestions.set_settings(self.suggestions.settings.replace(stop=stop))

    def edit_decoding_settings(self) -> None:
        result = self.prompts.edit_decoding(self, self.suggestions.settings, self.editor.debounce_ms())
        if result is None:
            return
        settings, debounce_ms = result
        self.editor.set_debounce_ms(debounce_ms)
        self.app_settings.debounce_ms = debounce_ms
        self.suggestions.set_settings(settings)
        self._save_settings()

    def _decoding_changed(self, settings) -> None:
        self.app_settings.decoding = settings
        self._save_settings()

    def _quality_changed(self, quality) -> None:
        self.app_settings.quality = quality
        self._save_settings()

    def set_suggestions_enabled(self, enabled: bool) -> None:
        self.editor.set_suggestions_enabled(enabled)
        self.alternatives.refresh()
        self.app_settings.suggestions_enabled = enabled
        self._save_settings()

    def set_confidence_shading(self, enabled: bool) -> None:
        self.editor.set_confidence_shading(enabled)
        self.alternatives.set_confidence_shading(enabled)
        self.app_settings.confidence_shading = enabled
        self._save_settings()

    def change_font_size(self, step: int) -> None:
        """+1 / -1 point, or 0 for the default size."""
        if step == 0:
            size = default_editor_font().pointSize()
            self.app_settings.font_size = None
        else:
            size = max(MIN_FONT_SIZE, min(MAX_FONT_SIZE, self.editor.point_size() + step))
            self.app_settings.font_size = size
        self.editor.set_point_size(size)
        self._save_settings()

    def set_theme(self, mode: str) -> None:
        self.theme.apply(mode)
        self.app_settings.theme = self.theme.mode
        self._save_settings()

    def show_shortcuts(self) -> None:
        self.prompts.show_shortcuts(self)

    def show_about(self) -> None:
        self.prompts.show_about(self, self.models.active)

    def clear_recent_files(self) -> None:
        self.app_settings.recent_files = []
        self._save_settings()
        fill_recent_menu(self)

    def _remember_file(self, path: str) -> None:
        self.app_settings.add_recent_file(os.path.abspath(path))
        self._save_settings()
        fill_recent_menu(self)

    def _panel_visibility_changed(self, visible: bool) -> None:
        if not self.isVisible() or self._closed:
            return  # hiding the whole window is not the user hiding the panel
        self.app_settings.alternatives_visible = visible
        self._save_settings()

    # --- settings and recovery ------------------------------------------------------------------------

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

    def _recovery_snapshot(self) -> tuple[str, str | None, bool, int]:
        document = self.editor.document()
        path = str(self.documents.path) if self.documents.path else None
        return self.editor.toPlainText(), path, document.isModified(), document.revision()

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
        if not self.prompts.offer_restore(self, orphans):
            self.recovery.discard_orphans(orphans)
            return False
        newest, rest = orphans[0], orphans[1:]
        self.recovery.keep_orphans(rest)
        self.documents.restore(newest.text, newest.path)
        if newest.notes:
            self.sidecars.restore_notes(newest.notes)
        if newest.cursor is not None:
            self.editor.set_cursor_position(newest.cursor)
        self.autosaver.save_now()  # the text is in our snapshot before the old one is deleted
        self._show_message(f"Restored unsaved text of {newest.title}")
        return True

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
        self.app_settings.geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        self.app_settings.window_state = bytes(self.saveState().toBase64()).decode("ascii")
        self._save_settings()
        self.autosaver.stop()
        self.editor.dismiss()
        self.recovery.close()
        download = getattr(self, "download_dialog", None)
        if download is not None:
            download.runner.cancel()  # a hub download keeps what it finished; the rest is fetched next time
        self.bridge.shutdown()
