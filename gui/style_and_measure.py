"""Opening Model ▸ Learn from My Writing… and Model ▸ Evaluate on My Text… for a window, and wiring their results.

At most one of each dialog per window: while one is still working, asking again brings it to the front. A new
fine-tuned model refreshes the Model menu; "Use the New Model" loads it like a click in that menu.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.training.eval_history import EvaluationHistory, history_path
from gui.dialogs.evaluation_dialog import EvaluationDialog
from gui.dialogs.fine_tune_dialog import FineTuneDialog
from gui.menus.model_menu import fill_model_menu

if TYPE_CHECKING:
    from gui.main_window import MainWindow

MESSAGE_MS = 6000


def _data_dir(window: MainWindow) -> Path | None:
    folder = getattr(window, "data_dir", None)
    return Path(folder) if folder else None


def _reuse(window: MainWindow, attribute: str):
    """The window's open dialog of this kind if it is still working (brought to the front), else None."""
    dialog = getattr(window, attribute, None)
    if dialog is None:
        return None
    if dialog.is_running():
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog
    dialog.deleteLater()
    setattr(window, attribute, None)
    return None


def open_fine_tune_dialog(window: MainWindow) -> FineTuneDialog:
    dialog = _reuse(window, "fine_tune_dialog")
    if dialog is not None:
        return dialog
    dialog = FineTuneDialog(window.bridge, window.prompts, window.models.active, _data_dir(window), window)

    def created(name: str) -> None:
        fill_model_menu(window)
        window.statusBar().showMessage(f"New model “{name}” added to the Model menu", MESSAGE_MS)

    dialog.modelCreated.connect(created)
    dialog.useModelRequested.connect(lambda name: window.models.load(name))
    window.fine_tune_dialog = dialog
    dialog.show()
    return dialog


def open_evaluation_dialog(window: MainWindow) -> EvaluationDialog:
    dialog = _reuse(window, "evaluation_dialog")
    if dialog is not None:
        return dialog
    history = EvaluationHistory(history_path(_data_dir(window)))
    dialog = EvaluationDialog(window.bridge, window.prompts, window.models.active, window.suggestions.settings,
                              history, window)
    window.evaluation_dialog = dialog
    dialog.show()
    return dialog
