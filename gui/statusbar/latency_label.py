"""How fast the last suggestion came: time to its first token and tokens per second."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


def format_latency(first_token_s: float | None, tokens_per_s: float | None) -> str:
    parts = []
    if first_token_s is not None:
        parts.append(f"first token {first_token_s * 1000:.0f} ms")
    if tokens_per_s is not None:
        parts.append(f"{tokens_per_s:.0f} tok/s")
    return " · ".join(parts) if parts else "—"


class LatencyLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("latencyLabel")
        self.setToolTip("Last suggestion: time from the request to its first token, and generation speed")
        self.setText("")

    def show_stats(self, first_token_s: float | None, tokens_per_s: float | None) -> None:
        self.setText(format_latency(first_token_s, tokens_per_s))
