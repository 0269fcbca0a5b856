"""A small bar chart of one figure over evaluation runs, drawn with QPainter (no plotting library).

One bar per run, oldest on the left, the run just measured drawn in the highlight colour; the value is written on
each bar and the model's name under it. Colours come from the palette, so it follows the light and dark themes.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.jobs.eval_history import EvaluationRun


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    percent: bool = False
    unit: str = ""

    def value(self, run: EvaluationRun) -> float | None:
        if self.key.startswith("em"):
            return run.exact_match.get(self.key[2:])
        return getattr(run, self.key)

    def format(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.percent:
            return f"{value * 100:.1f}%"
        if self.unit == "ms":
            return f"{value:.0f} ms"
        return f"{value:.3f}"


METRICS = (
    Metric("ksr", "Keystroke savings", True, percent=True),
    Metric("em1", "ExactMatch@1", True, percent=True),
    Metric("em3", "ExactMatch@3", True, percent=True),
    Metric("em5", "ExactMatch@5", True, percent=True),
    Metric("bits_per_byte", "Bits per byte", False),
    Metric("latency_p50_ms", "Latency p50", False, unit="ms"),
    Metric("latency_p90_ms", "Latency p90", False, unit="ms"),
)
METRICS_BY_KEY = {m.key: m for m in METRICS}
MAX_BARS = 12


class EvaluationChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluationChart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(160)
        self.shown_metric = METRICS[0]
        self.runs: list[EvaluationRun] = []
        self.highlight: EvaluationRun | None = None

    def sizeHint(self) -> QSize:
        return QSize(520, 220)

    def set_runs(self, runs: list[EvaluationRun], highlight: EvaluationRun | None = None) -> None:
        """Show the last ``MAX_BARS`` of ``runs`` (oldest first); ``highlight`` is drawn in the accent colour."""
        self.runs = list(runs)[-MAX_BARS:]
        self.highlight = highlight
        self.update()

    def set_metric(self, key: str) -> None:
        self.shown_metric = METRICS_BY_KEY[key]
        self.update()

    def title(self) -> str:
        better = "higher is better" if self.shown_metric.higher_is_better else "lower is better"
        return f"{self.shown_metric.label} ({better})"

    def bar_rects(self) -> list[QRectF]:
        """Where each bar of the current runs is drawn (empty for runs without a value), left to right."""
        plot = self._plot_area()
        values = [self.shown_metric.value(run) for run in self.runs]
        known = [v for v in values if v is not None]
        top = max(known, default=0.0)
        top = top * 1.15 if top > 0 else 1.0
        slot = plot.width() / max(len(self.runs), 1)
        width = min(slot * 0.7, 56.0)
        rects = []
        for i, value in enumerate(values):
            if value is None:
                rects.append(QRectF())
                continue
            height = plot.height() * max(value, 0.0) / top
            left = plot.left() + slot * i + (slot - width) / 2
            rects.append(QRectF(left, plot.bottom() - height, width, height))
        return rects

    def _plot_area(self) -> QRectF:
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        top = 8 + line * 2.2  # the title, then room for the value written above the tallest bar
        bottom = line * 2 + 10  # model name and date under each bar
        return QRectF(12, top, max(10, self.width() - 24), max(10, self.height() - top - bottom))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        text_color = palette.color(QPalette.ColorRole.Text)
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        painter.setPen(text_color)
        painter.drawText(QRectF(12, 6, self.width() - 24, line), Qt.AlignmentFlag.AlignLeft, self.title())
        plot = self._plot_area()
        grid = QColor(text_color)
        grid.setAlpha(50)
        painter.setPen(QPen(grid, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        if not self.runs:
            painter.setPen(text_color)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No evaluations yet")
            painter.end()
            return
        accent = palette.color(QPalette.ColorRole.Highlight)
        other = QColor(text_color)
        other.setAlpha(110)
        faint = QColor(text_color)
        faint.setAlpha(160)
        slot = plot.width() / len(self.runs)
        for index, (run, rect) in enumerate(zip(self.runs, self.bar_rects())):
            if not rect.isNull():
                painter.fillRect(rect, accent if run is self.highlight else other)
                painter.setPen(text_color)
                painter.drawText(QRectF(rect.center().x() - slot / 2, rect.top() - line - 2, slot, line),
                                 Qt.AlignmentFlag.AlignCenter,
                                 self.shown_metric.format(self.shown_metric.value(run)))
            label_rect = QRectF(plot.left() + slot * index, plot.bottom() + 4, slot, line)
            painter.setPen(text_color)
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter,
                             metrics.elidedText(run.model_name, Qt.TextElideMode.ElideMiddle, int(slot) - 4))
            when = run.when[5:16].replace("T", " ")  # "MM-DD HH:MM"
            painter.setPen(accent if run is self.highlight else faint)
            painter.drawText(label_rect.translated(0, line), Qt.AlignmentFlag.AlignCenter,
                             metrics.elidedText(when, Qt.TextElideMode.ElideRight, int(slot) - 4))
        painter.end()
