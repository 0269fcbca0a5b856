"""A small spinner-like bar with a reason, shown while the engine works for the user."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


class BusyIndicator(QWidget):
    """Several things may be busy at once (a model load, a suggestion); the most important reason is shown."""

    # Earlier reasons win: a model load matters more than a suggestion streaming.
    ORDER = ("loading", "suggesting")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("busyIndicator")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # indeterminate
        self.bar.setFixedSize(56, 10)
        self.bar.setTextVisible(False)
        self.label = QLabel(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.label)
        self._reasons: dict[str, str] = {}
        self._update()

    def set_busy(self, key: str, message: str | None) -> None:
        """``message`` None clears ``key``."""
        if message is None:
            self._reasons.pop(key, None)
        else:
            self._reasons[key] = message
        self._update()

    def is_busy(self, key: str | None = None) -> bool:
        return bool(self._reasons) if key is None else key in self._reasons

    def message(self) -> str:
        for key in self.ORDER:
            if key in self._reasons:
                return self._reasons[key]
        return next(iter(self._reasons.values()), "")

    def _update(self) -> None:
        self.label.setText(self.message())
        self.setVisible(bool(self._reasons))
