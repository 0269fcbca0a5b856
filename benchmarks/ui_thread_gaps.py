"""How steadily the GUI thread runs while a suggestion streams: the gaps between the ticks of a 5 ms timer.

The real window (offscreen) and the real engine thread on a real model (the bundled default unless --model), greedy
decoding of --tokens tokens with no stop rule. A 5 ms QTimer on the GUI thread records each tick; the gaps between
ticks from the first streamed token to the last are what a user would feel as a stalled editor. The model never
runs on the GUI thread (tests/gui/test_streaming.py checks that), but both threads share one GIL, so the gaps show
how long the engine thread keeps the GUI thread waiting. Measured in the same run, in turns, as the peer: the same
timer in the same window with nothing streaming, for as long as the streaming round before it took.

    python benchmarks/ui_thread_gaps.py [--model default] [--tokens 200] [--rounds 5] [--threads 2]

Goal: worst gap while streaming under 50 ms on an idle machine (another process holding the cores can stop the
engine thread while it holds the GIL, so a loaded machine measures itself, not Inkling).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_note, parse_args_with_threads, run_events_until

PROMPT = "The rain had stopped by the time the carriage reached the gate, and the lamps along the drive were"
TICK_MS = 5


def _gaps(ticks: list[float], start: float, end: float) -> list[float]:
    during = [t for t in ticks if start <= t <= end]
    return [b - a for a, b in itertools.pairwise(during)]


def measure(model: str, tokens: int, rounds: int, scratch: Path, device: str = "cpu") -> dict:
    """Open the window on ``model`` and time the 5 ms timer's gaps over ``rounds`` streaming rounds, each followed
    by an idle round of the same length. Returns the gaps in seconds and the stream's events per round (one per
    token, then the last one that says it is done); a QApplication must exist."""
    from PySide6.QtCore import QTimer

    import engine
    from gui import MainWindow

    # A long debounce: only the benchmark's own requests run, none started by setting the text.
    window = MainWindow(model, device=device, config_dir=scratch / "config", data_dir=scratch / "data",
                        debounce_ms=60_000)
    window.show()
    try:
        if not run_events_until(window.engine_ready, 120):
            raise RuntimeError("the engine did not become ready in two minutes")
        window.suggestions.set_settings(engine.DecodingSettings.plain(max_new_tokens=tokens))
        editor = window.editor
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        token_times: list[float] = []
        window.bridge.suggestionToken.connect(lambda rid, event: token_times.append(time.perf_counter()))
        finished: list = []
        window.bridge.suggestionFinished.connect(
            lambda event: finished.append(event) if not event.cancelled else None)
        editor.replace_text(PROMPT)
        editor.moveCursor(editor.textCursor().MoveOperation.End)

        streaming, idle, events = [], [], []
        timer.start()
        for _ in range(rounds):
            ticks.clear()
            token_times.clear()
            finished.clear()
            editor.request_suggestion_now()
            if not run_events_until(lambda: bool(finished), 120):
                raise RuntimeError("a suggestion did not finish in two minutes")
            if len(token_times) >= 2:
                streaming.extend(_gaps(ticks, token_times[0], token_times[-1]))
            events.append(len(token_times))
            took = token_times[-1] - token_times[0] if len(token_times) >= 2 else 0.1
            ticks.clear()
            quiet_from = time.perf_counter()
            run_events_until(lambda: False, took)
            idle.extend(_gaps(ticks, quiet_from, time.perf_counter()))
        timer.stop()
    finally:
        window.shutdown()
        window.close()
    return {"streaming_s": streaming, "idle_s": idle, "events": events}


def _summary(gaps: list[float]) -> str:
    if not gaps:
        return "no gaps measured"
    return (f"median {statistics.median(gaps) * 1000:.1f} ms, worst {max(gaps) * 1000:.1f} ms "
            f"over {len(gaps)} gaps")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per suggestion (greedy, no stop rule)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parse_args_with_threads(parser)

    scratch = Path(tempfile.mkdtemp(prefix="inkling-ui-gaps-"))
    os.environ["INKLING_USER_MODELS"] = str(scratch / "user-models")
    os.environ["INKLING_DATA_DIR"] = str(scratch / "data")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must outlive the window
    figures = measure(args.model, args.tokens, args.rounds, scratch, args.device)
    print(machine_note())
    print(f"model {args.model} on {args.device}: {args.rounds} rounds, stream events per round "
          f"{figures['events']}; a {TICK_MS} ms timer on the GUI thread")
    print(f"while streaming: {_summary(figures['streaming_s'])}")
    print(f"idle (same window, nothing streaming): {_summary(figures['idle_s'])}")
    if figures["streaming_s"] and figures["idle_s"]:
        print(f"ratio worst streaming / worst idle: x{max(figures['streaming_s']) / max(figures['idle_s']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
