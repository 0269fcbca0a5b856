"""Which model is loaded (or why none is)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QWidget


def format_parameters(count: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}".replace(".0", "")
    return str(count)


def display_name(name: str) -> str:
    """A folder path shows as its last part; a model name as itself."""
    return Path(name).name or name if ("/" in name or "\\" in name) else name


class ModelLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelLabel")
        self.show_missing("No model loaded")

    def show_model(self, name: str, architecture: str, parameters: int) -> None:
        self.setText(f"Model: {display_name(name)}")
        self.setToolTip(f"{name}\n{architecture}, {format_parameters(parameters)} parameters")

    def show_loading(self, name: str) -> None:
        self.setText(f"Loading {display_name(name)}…")
        self.setToolTip("")

    def show_missing(self, reason: str) -> None:
        self.setText("No model — Model ▸ Open Model…")
        self.setToolTip(reason)
