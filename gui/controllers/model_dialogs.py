"""``ModelDialogs``: opens Model ▸ Download Model…, Learn from My Writing… and Evaluate on My Text…, and wires
their results.

At most one of each dialog at a time: while one is still working, asking again brings it to the front. A new model
(downloaded or fine-tuned) needs nothing from here to show in the Model menu, which lists the models afresh each
time it opens; "Use the New Model" loads it like a click in that menu.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from engine.jobs.eval_history import EvaluationHistory, history_path
from gui.controllers.model_controller import ModelController
from gui.controllers.suggestion_controller import SuggestionController
from gui.dialogs.download_dialog import DownloadDialog
from gui.dialogs.evaluation_dialog import EvaluationDialog
from gui.dialogs.fine_tune_dialog import FineTuneDialog
from gui.dialogs.get_models_dialog import GetModelsDialog
from gui.dialogs.prompts import Prompts
from gui.engine_bridge import EngineBridge

MESSAGE_MS = 6000
RunningDialog = TypeVar("RunningDialog", FineTuneDialog, EvaluationDialog, GetModelsDialog)
DOWNLOADED_MESSAGE_MS = 8000


class ModelDialogs(QObject):
    def __init__(self, bridge: EngineBridge, prompts: Prompts, models: ModelController,
                 suggestions: SuggestionController, data_dir: str | os.PathLike | None,
                 show_message: Callable[[str, int], None], dialog_parent: QWidget) -> None:
        """``data_dir``: holds fine-tuning runs and the evaluation history (None: the user data folder);
        ``show_message(text, milliseconds)``: the status bar's."""
        super().__init__(dialog_parent)
        self.bridge = bridge
        self.prompts = prompts
        self.models = models
        self.suggestions = suggestions
        self.data_dir = Path(data_dir) if data_dir else None
        self.show_message = show_message
        self._parent = dialog_parent
        self.download: DownloadDialog | None = None
        self.fine_tune: FineTuneDialog | None = None
        self.evaluation: EvaluationDialog | None = None
        self.get_models: GetModelsDialog | None = None

    def open_download(self) -> DownloadDialog | None:
        """Ask for a repo id, then download it; on success the Model menu lists it, on failure an error says why."""
        if self.download is not None and self.download.is_running():
            self.download.raise_()
            return self.download
        repo_id = self.prompts.hub_repo_id(self._parent)
        if not repo_id or not repo_id.strip():
            return None
        dialog = DownloadDialog(repo_id.strip(), self._parent)
        self.download = dialog
        dialog.downloaded.connect(
            lambda _folder: self.show_message(f"Downloaded {dialog.repo_id}; choose it in the Model menu", DOWNLOADED_MESSAGE_MS))
        dialog.failed.connect(lambda message: self.prompts.error(self._parent, "Download failed", message))
        dialog.show()
        dialog.start()
        return dialog

    def open_get_models(self) -> GetModelsDialog:
        """The catalogue of better models; a downloaded one can be used at once from the dialog."""
        if (running := _running(self.get_models)) is not None:
            return running
        dialog = GetModelsDialog(self._parent)
        dialog.installed.connect(
            lambda name: self.show_message(f"Downloaded {name}; choose it in the Model menu", DOWNLOADED_MESSAGE_MS))
        dialog.useModelRequested.connect(lambda name: self.models.load(name))
        self.get_models = dialog
        dialog.show()
        return dialog

    def open_fine_tune(self) -> FineTuneDialog:
        if (running := _running(self.fine_tune)) is not None:
            return running
        dialog = FineTuneDialog(self.bridge, self.prompts, self.models.active, self.data_dir, self._parent)
        dialog.modelCreated.connect(lambda name: self.show_message(f"New model “{name}” added to the Model menu", MESSAGE_MS))
        dialog.useModelRequested.connect(lambda name: self.models.load(name))
        self.fine_tune = dialog
        dialog.show()
        return dialog

    def open_evaluation(self) -> EvaluationDialog:
        if (running := _running(self.evaluation)) is not None:
            return running
        history = EvaluationHistory(history_path(self.data_dir))
        dialog = EvaluationDialog(self.bridge, self.prompts, self.models.active, self.suggestions.settings,
                                  history, self._parent)
        self.evaluation = dialog
        dialog.show()
        return dialog

    def shutdown(self) -> None:
        if self.download is not None:
            self.download.runner.cancel()  # a hub download keeps what it finished; the rest is fetched next time
        if self.get_models is not None:
            self.get_models.runner.cancel()  # its partial file stays hidden and the next download resumes it


def _running(dialog: RunningDialog | None) -> RunningDialog | None:
    """``dialog`` brought to the front if it is still working; else None (and a finished one is let go)."""
    if dialog is None:
        return None
    if dialog.is_running():
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog
    dialog.deleteLater()
    return None
