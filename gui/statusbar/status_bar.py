"""The window's status bar: transient messages on the left, permanent widgets on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QPlainTextEdit, QStatusBar, QWidget

from gui.statusbar.busy_indicator import BusyIndicator
from gui.statusbar.device_label import DeviceLabel
from gui.statusbar.latency_label import LatencyLabel
from gui.statusbar.model_label import ModelLabel
from gui.statusbar.text_count_label import TextCountLabel


def _separator(parent: QWidget) -> QFrame:
    line = QFrame(parent)
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class StatusBar(QStatusBar):
    def __init__(self, editor: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.busy = BusyIndicator(self)
        self.text_count = TextCountLabel(editor, self)
        self.latency = LatencyLabel(self)
        self.model = ModelLabel(self)
        self.device = DeviceLabel(self)
        self.addPermanentWidget(self.busy)
        for widget in (self.text_count, self.latency, self.model, self.device):
            self.addPermanentWidget(_separator(self))
            self.addPermanentWidget(widget)
