"""Inkling desktop app (PySide6). ``gui.MainWindow()`` builds the whole window; ``gui.app.run_app`` runs it."""

from gui.main_window import MainWindow

__all__ = ["MainWindow"]
