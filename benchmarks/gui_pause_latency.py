"""The app as a typist meets it: from the last keystroke before a pause to the first ghost character on screen.

The real window (offscreen), the real engine thread and a real model (the bundled default unless --model), the
app's default decoding settings and debounce. A simulated typist enters a held-out text a word at a time (the
keys of one word arrive together, as from a fast typist), then pauses until ghost text shows or --give-up
seconds pass (the quality gate may decide to show nothing), and ignores each suggestion (Esc) before typing on.
Measured in the same run, as the peer:

- the engine alone: the model's own time to the first streamed token for the same texts, called directly in the
  benchmark process (``lm.stream``), so the difference is what the GUI, the debounce and the engine thread add;
- start-up: window construction to engine ready (the model loaded and warmed up), and the first pause after it.

    python benchmarks/gui_pause_latency.py [--model default] [--pauses 40] [--text FILE]

Goal (issue 13): pause -> first ghost character p90 <= 170 ms with the 120 ms debounce; the first suggestion after
start-up <= 300 ms after the first pause.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_note, run_events_until

from engine.latency_stats import p50_p90  # the status bar's percentiles
from engine.quality.coverage import sample_text  # the default text: everyday prose, never typed twice


def type_text(editor, text: str) -> None:
    """Type ``text`` key by key; a line break is the Enter key (blank lines collapse to one paragraph break)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    lines = re.sub(r"\n\s*\n\s*", "\n", text).split("\n")
    for number, line in enumerate(lines):
        if number:
            QTest.keyClick(editor, Qt.Key.Key_Return)
        QTest.keyClicks(editor, line.replace("\t", " "))
    if not text[-1:].isspace():
        QTest.keyClicks(editor, " ")


def measure(model: str, pauses: int, text: str, give_up_s: float, scratch: Path) -> dict:
    """Open the window on ``model``, type ``text`` with ``pauses`` pauses, then time the engine alone on the same
    texts. Returns the raw seconds (a QApplication must exist)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import engine
    from gui import MainWindow

    app = QApplication.instance()
    # Each word with the whitespace that follows it, so paragraph breaks are typed as Enter, as a writer would.
    words = re.findall(r"\S+\s*", text)

    opened = time.perf_counter()
    window = MainWindow(model, config_dir=scratch / "config", data_dir=scratch / "data")
    window.show()
    if not run_events_until(window.engine_ready, 120):
        window.shutdown()
        raise RuntimeError("the engine did not become ready in two minutes")
    ready_s = time.perf_counter() - opened
    editor = window.editor
    shown_at: list[float] = []
    editor.ghostChanged.connect(lambda: shown_at.append(time.perf_counter()) if editor.ghost_text() else None)

    latencies: list[float] = []
    typed: list[str] = []
    at_pause: list[tuple[float, str, str]] = []  # (latency, the text's end, the ghost text shown)
    first_pause_s, no_ghost = None, 0
    for pause in range(pauses + 1):
        start = (3 * pause) % max(1, len(words) - 3)
        # The typist ignores the last suggestion (Esc), so every pause waits for a fresh one rather than showing
        # what is left of a ghost the typed words happened to match.
        QTest.keyClick(editor, Qt.Key.Key_Escape)
        shown_at.clear()
        type_text(editor, "".join(words[start:start + 3]))
        last_key = time.perf_counter()
        seen = run_events_until(lambda: bool(shown_at), give_up_s)
        if pause == 0:
            first_pause_s = shown_at[0] - last_key if seen else None
        elif seen:
            latencies.append(shown_at[0] - last_key)
            typed.append(editor.toPlainText())
            at_pause.append((latencies[-1], typed[-1][-60:], editor.ghost_text()))
        else:
            no_ghost += 1
            typed.append(editor.toPlainText())
    debounce_ms = editor.debounce_ms()
    settings = window.suggestions.settings  # the app's defaults, as the window decoded with them
    window.shutdown()
    window.close()
    app.processEvents()

    # The peer: the same model, straight from Python, on the same texts, with the same settings.
    lm = engine.load(model)
    lm.warm_up()
    engine_first = []
    for prefix in typed:
        started = time.perf_counter()
        stream = lm.stream(prefix, settings)
        for event in stream:
            if event.text:
                engine_first.append(time.perf_counter() - started)
                break
        stream.close()
    return {"ready_s": ready_s, "first_pause_s": first_pause_s, "gui_s": latencies, "no_ghost": no_ghost,
            "engine_s": engine_first, "debounce_ms": debounce_ms, "at_pause": at_pause}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--pauses", type=int, default=40)
    parser.add_argument("--text", help="a text file to type (default: a built-in paragraph, repeated)")
    parser.add_argument("--give-up", type=float, default=3.0, help="seconds to wait for ghost text at a pause")
    parser.add_argument("--slowest", type=int, default=0, help="also list this many slowest pauses: the text's end "
                                                                "and the ghost text that came")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="inkling-pause-"))
    os.environ["INKLING_USER_MODELS"] = str(scratch / "user-models")
    os.environ["INKLING_DATA_DIR"] = str(scratch / "data")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must outlive the window
    # By default the app's own sample of everyday prose (coverage calibration reads it too): 588 words, so 40
    # pauses never type a passage twice (a repeated passage is held back by the line-repeat guard).
    text = Path(args.text).read_text(encoding="utf-8")[:20000] if args.text else sample_text()
    figures = measure(args.model, args.pauses, text, args.give_up, scratch)
    latencies, engine_first = figures["gui_s"], figures["engine_s"]
    first = figures["first_pause_s"]
    print(machine_note())
    print(f"model {args.model}: start-up to engine ready {figures['ready_s'] * 1000:.0f} ms; first pause after it "
          + (f"{first * 1000:.0f} ms" if first is not None else "showed nothing"))
    if latencies:
        p50, p90 = p50_p90(latencies)
        print(f"GUI, last keystroke -> first ghost character over {len(latencies)} pauses: p50 {p50 * 1000:.0f} ms, "
              f"p90 {p90 * 1000:.0f} ms (debounce {figures['debounce_ms']} ms); {figures['no_ghost']} pause(s) "
              f"showed nothing within {args.give_up:.0f} s")
    if engine_first:
        e50, e90 = p50_p90(engine_first)
        print(f"engine alone, request -> first token: p50 {e50 * 1000:.0f} ms, p90 {e90 * 1000:.0f} ms")
        if latencies:
            print(f"ratio GUI p90 / engine p90: x{p90 / e90:.2f}; the GUI adds {(p90 - e90) * 1000:.0f} ms at p90, "
                  f"the debounce included")
    for latency, before, ghost in sorted(figures["at_pause"], reverse=True)[:args.slowest]:
        print(f"{latency * 1000:5.0f} ms  ...{before!r} -> {ghost!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
