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
    python benchmarks/gui_pause_latency.py --model FILE --against no-read-ahead --rounds 2 [--busy 1]

``--against`` also measures the app with one of its choices undone, in turns with the app as it is, in the same
run: ``no-read-ahead`` (the text is read only when the debounce fires), ``one-core-fewer`` / ``all-cores`` (the
decoding steps pinned to that thread count instead of ``engine.decoding.threads``' choice). ``--busy N`` keeps N
other processes spinning meanwhile, a machine where other programs hold cores.

Goal (issue 13): pause -> first ghost character p90 <= 170 ms with the 120 ms debounce; the first suggestion after
start-up <= 300 ms after the first pause.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def changed(against: str | None) -> Iterator[None]:
    """The app with ``against`` undone for the block (see the module's text); None: the app as it is."""
    from engine.decoding.threads import StepThreads
    from gui.controllers.suggestion_controller import SuggestionController

    owner: type
    if against == "no-read-ahead":
        owner, name, replacement = SuggestionController, "read_ahead", lambda self: None
    elif against in ("one-core-fewer", "all-cores"):
        pick = min if against == "one-core-fewer" else max
        owner, name, replacement = StepThreads, "choose", lambda self: pick(self.counts) if self.counts else None
    else:
        yield
        return
    original = owner.__dict__[name]
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` processes that spin on a core each while the block runs."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def report(label: str, figures: dict, give_up_s: float, slowest: int) -> None:
    latencies, engine_first = figures["gui_s"], figures["engine_s"]
    if latencies:
        p50, p90 = p50_p90(latencies)
        print(f"{label}GUI, last keystroke -> first ghost character over {len(latencies)} pauses: p50 "
              f"{p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (debounce {figures['debounce_ms']} ms); "
              f"{figures['no_ghost']} pause(s) showed nothing within {give_up_s:.0f} s")
    if engine_first:
        e50, e90 = p50_p90(engine_first)
        print(f"{label}engine alone, request -> first token: p50 {e50 * 1000:.0f} ms, p90 {e90 * 1000:.0f} ms")
        if latencies:
            print(f"{label}ratio GUI p90 / engine p90: x{p90 / e90:.2f}; the GUI adds {(p90 - e90) * 1000:.0f} ms "
                  f"at p90, the debounce included")
    for latency, before, ghost in sorted(figures["at_pause"], reverse=True)[:slowest]:
        print(f"{latency * 1000:5.0f} ms  ...{before!r} -> {ghost!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--pauses", type=int, default=40)
    parser.add_argument("--text", help="a text file to type (default: a built-in paragraph, repeated)")
    parser.add_argument("--give-up", type=float, default=3.0, help="seconds to wait for ghost text at a pause")
    parser.add_argument("--slowest", type=int, default=0, help="also list this many slowest pauses: the text's end "
                                                                "and the ghost text that came")
    parser.add_argument("--against", choices=("no-read-ahead", "one-core-fewer", "all-cores"),
                        help="also measure the app with this choice undone, in turns, in the same run")
    parser.add_argument("--rounds", type=int, default=1, help="turns of each (with --against)")
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning on a core each meanwhile")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="inkling-pause-"))
    os.environ["INKLING_USER_MODELS"] = str(scratch / "user-models")
    os.environ["INKLING_DATA_DIR"] = str(scratch / "data")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must outlive the window
    # By default the app's own sample of everyday prose (coverage calibration reads it too): 588 words, so 40
    # pauses never type a passage twice (a repeated passage is held back by the line-repeat guard).
    text = Path(args.text).read_text(encoding="utf-8")[:20000] if args.text else sample_text()
    variants = [None, args.against] if args.against else [None]
    runs: dict[str | None, list[dict]] = {variant: [] for variant in variants}
    with busy_processes(args.busy):
        for _ in range(args.rounds if args.against else 1):
            for variant in variants:
                with changed(variant):
                    runs[variant].append(measure(args.model, args.pauses, text, args.give_up, scratch))
    print(machine_note() + (f"; {args.busy} other process(es) spinning" if args.busy else ""))
    figures = runs[None][0]
    first = figures["first_pause_s"]
    print(f"model {args.model}: start-up to engine ready {figures['ready_s'] * 1000:.0f} ms; first pause after it "
          + (f"{first * 1000:.0f} ms" if first is not None else "showed nothing"))
    for variant in variants:
        for number, figures in enumerate(runs[variant], 1):
            label = f"[{variant or 'the app'}, round {number}] " if args.against else ""
            report(label, figures, args.give_up, args.slowest)
    if args.against:
        p90s = {variant: statistics.median(p50_p90(f["gui_s"])[1] for f in runs[variant] if f["gui_s"])
                for variant in variants}
        print(f"pause -> ghost p90, median of the rounds: the app {p90s[None] * 1000:.0f} ms, {args.against} "
              f"{p90s[args.against] * 1000:.0f} ms (x{p90s[args.against] / p90s[None]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
