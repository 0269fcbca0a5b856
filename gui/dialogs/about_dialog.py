"""Help ▸ About: what Inkling is, the model and device in use, and the versions of what it runs on."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from engine.worker.events import ModelSnapshot
from gui.statusbar.model_label import format_parameters


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def about_lines(model: ModelSnapshot | None) -> list[tuple[str, str]]:
    import torch

    if model is None:
        model_text, device_text = "none loaded", "—"
    else:
        context = f", context {model.max_context} tokens" if model.max_context else ""
        model_text = f"{model.name} ({model.architecture}, {format_parameters(model.parameters)} parameters{context})"
        device_text = model.device
    return [
        ("Model", model_text),
        ("Device", device_text),
        ("Inkling", _version("inkling")),
        ("Python", platform.python_version()),
        ("PyTorch", torch.__version__),
        ("PySide6 / Qt", f"{pyside_version} / {qVersion()}"),
        ("tokenizers", _version("tokenizers")),
    ]


class AboutDialog(QDialog):
    def __init__(self, model: ModelSnapshot | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Inkling")
        self.setObjectName("aboutDialog")
        rows = "".join(f"<tr><td style='padding-right:14px;color:palette(placeholder-text)'>{k}</td><td>{v}</td></tr>"
                       for k, v in about_lines(model))
        self.label = QLabel(
            "<h2 style='margin-bottom:2px'>Inkling</h2>"
            "<p>A private writing assistant: a language model on your own computer suggests how your text "
            "might continue.</p>"
            f"<table>{rows}</table>", self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 14)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)
