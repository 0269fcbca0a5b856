"""The terminal progress line of ``inkling train``: a bar, step, loss, validation bits/byte, tokens/s and ETA.

On a terminal the line is redrawn in place; when the output goes to a file or a pipe a full line is written every
``log_interval_s`` seconds instead, so logs stay readable.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

_BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_progress(report: dict) -> str:
    """One line from a trainer progress report (see ``engine.training.trainer.train``)."""
    fraction = min(max(report.get("progress", 0.0), 0.0), 1.0)
    filled = int(fraction * _BAR_WIDTH)
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    total = report.get("total_steps")
    step = f"step {report['step']}" + (f"/{total}" if total else "")
    validation = report.get("validation_bpb")
    parts = [f"[{bar}] {fraction:4.0%}", step, f"loss {report['loss']:.3f}"]
    if validation is not None and math.isfinite(validation):
        parts.append(f"val {validation:.3f} bpb")
    parts.append(f"{report['tokens_per_s']:,.0f} tok/s")
    parts.append(f"ETA {format_duration(report.get('eta_s', float('inf')))}")
    return "  ".join(parts)


class ProgressPrinter:
    """Callable given to ``train(progress=...)``."""

    def __init__(self, stream: TextIO | None = None, log_interval_s: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval_s = log_interval_s
        self._last_line = float("-inf")
        self._width = 0

    def __call__(self, report: dict) -> None:
        line = format_progress(report)
        if self.interactive:
            padding = " " * max(0, self._width - len(line))
            self.stream.write("\r" + line + padding)
            self._width = len(line)
        else:
            now = time.monotonic()
            if now - self._last_line < self.log_interval_s and report.get("progress", 0) < 1:
                return
            self._last_line = now
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the in-place line so the next message starts on a fresh one."""
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
