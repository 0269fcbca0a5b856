"""Suggestion latency of the model in use: the median and the 90th percentile of the time to the first token.

Per model (and device): one slow model, or a first load, says nothing about the next one, so its figures start
afresh when the model changes.
"""

from __future__ import annotations

import collections

from PySide6.QtWidgets import QLabel, QWidget

from engine.latency_stats import p50_p90

# A long session keeps this many of its latest suggestions; enough for stable percentiles, bounded in memory.
MAX_SAMPLES = 10_000


class SessionLatencyLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sessionLatencyLabel")
        self._samples: collections.deque[float] = collections.deque(maxlen=MAX_SAMPLES)
        self._model = ""  # whose suggestions the samples time
        self.setText("")

    def start_model(self, model: str) -> bool:
        """Time ``model``'s suggestions from now on; the samples of another model are dropped. True when the
        model is another one than before."""
        if model == self._model:
            return False
        self._model = model
        self._samples.clear()
        self._show()
        return True

    def add(self, first_token_s: float) -> None:
        self._samples.append(first_token_s)
        self._show()

    def count(self) -> int:
        return len(self._samples)

    def percentiles_ms(self) -> tuple[float | None, float | None]:
        p50, p90 = p50_p90(self._samples)
        return (None if p50 is None else p50 * 1000, None if p90 is None else p90 * 1000)

    def _show(self) -> None:
        p50, p90 = self.percentiles_ms()
        if p50 is None:
            self.setText("")
            self.setToolTip("")
            return
        self.setText(f"p50 {p50:.0f} ms · p90 {p90:.0f} ms")
        count = len(self._samples)
        model = f" of {self._model}" if self._model else ""
        self.setToolTip(f"Time to the first token of a suggestion, over the last {count:,} suggestion"
                        f"{'s' * (count != 1)}{model} in this session: half came faster than p50, nine in ten "
                        "faster than p90")
