"""Where the model runs."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


class DeviceLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deviceLabel")
        self.setToolTip("The device the model runs on (Model ▸ Device)")
        self.show_device(None)

    def show_device(self, device: str | None) -> None:
        self.setText(f"Device: {device.upper() if device in ('cpu', 'mps') else device}" if device else "Device: —")
