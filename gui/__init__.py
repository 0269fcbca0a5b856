"""Inkling desktop app (PySide6). ``gui.MainWindow()`` builds the whole window; ``gui.app.run_app`` runs it;
``gui.launcher`` is the ``inkling`` command."""

from __future__ import annotations

from typing import Any

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    # Deferred: ``inkling models`` imports this package (gui.launcher) and must run without importing Qt.
    if name == "MainWindow":
        from gui.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module 'gui' has no attribute {name!r}")
