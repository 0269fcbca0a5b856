"""Installs the tools around a suggestion on the main window: next-token candidates and branching, re-roll and
history, and the memory of where accepted text came from (with its sidecar file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui.controllers.reroll_controller import RerollController
from gui.controllers.sidecar_controller import SidecarController
from gui.menus.suggestion_menu import build_suggestion_menu
from gui.suggestions.branching import BranchController
from gui.suggestions.provenance import ProvenanceTracker

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def install_suggestion_tools(window: MainWindow) -> None:
    from gui.main_window import STATUS_MESSAGE_MS

    window.branching = BranchController(window.editor, window.alternatives, window.suggestions, window.bridge,
                                        window)
    window.rerolls = RerollController(window.editor, window.suggestions, window.bridge, window)
    window.provenance = ProvenanceTracker(window.editor, window)
    window.sidecars = SidecarController(window.documents, window.editor, window.provenance, window.rerolls.history,
                                        window)
    for source in (window.branching, window.rerolls, window.sidecars):
        source.message.connect(lambda text: window.status.showMessage(text, STATUS_MESSAGE_MS))
    build_suggestion_menu(window)
