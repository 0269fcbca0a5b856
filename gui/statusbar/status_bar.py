"""The window's status bar: transient messages on the left, permanent widgets on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QPlainTextEdit, QStatusBar, QWidget

from gui.statusbar.busy_indicator import BusyIndicator
from gui.statusbar.device_label import DeviceLabel
from gui.statusbar.latency_label import LatencyLabel
from gui.statusbar.memory_label import MemoryLabel
from gui.statusbar.model_label import ModelLabel
from gui.statusbar.recovery_warning import RecoveryWarning
from gui.statusbar.session_latency_label import SessionLatencyLabel
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
        self.session_latency = SessionLatencyLabel(self)
        self.model = ModelLabel(self)
        self.device = DeviceLabel(self)
        self.memory = MemoryLabel(self)
        self.recovery_warning = RecoveryWarning(self)  # hidden until a snapshot cannot be written
        self.addPermanentWidget(self.recovery_warning)
        self.addPermanentWidget(self.busy)
        self._separators: dict[QWidget, QFrame] = {}
        for widget in (self.text_count, self.latency, self.session_latency, self.memory, self.model,
                       self.device):
            self._separators[widget] = _separator(self)
            self.addPermanentWidget(self._separators[widget])
            self.addPermanentWidget(widget)
        self._set_shown(self.latency, False)  # until the first suggestion has been timed
        self._set_shown(self.session_latency, False)

    def show_latency(self, first_token_s: float | None, tokens_per_s: float | None) -> None:
        self.latency.show_stats(first_token_s, tokens_per_s)
        self._set_shown(self.latency, True)
        if first_token_s is not None:
            self.session_latency.add(first_token_s)
            self._set_shown(self.session_latency, True)

    def start_model(self, model: str) -> None:
        """A model (or the device it runs on, given in ``model``) is now in use: latency is timed afresh, and the
        figures of the one before are hidden until its first suggestion."""
        if self.session_latency.start_model(model):
            self._set_shown(self.latency, False)
            self._set_shown(self.session_latency, False)

    def _set_shown(self, widget: QWidget, shown: bool) -> None:
        widget.setVisible(shown)
        self._separators[widget].setVisible(shown)
