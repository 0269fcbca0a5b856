"""Keystroke time in documents with one very long line, before and after the editor's long-line rule
(``gui/editor/long_lines.py``), in one run.

Each case is loaded into Inkling's editor (``GhostTextEditor.replace_text``, as File > Open does), the cursor put
in the middle of the long line, and a few characters typed through Qt's key events; a keystroke is timed from the
key press until the events it caused are processed (the line's layout included). "Before" loads the same text
with the rule switched off (word wrap at the widget's width, editable, suggestions allowed), as the app did.
A read-only document takes the key without changing: its time is what the writer waits before the app answers.

    QT_QPA_PLATFORM=offscreen python benchmarks/long_lines.py [--keystrokes 3] [--sizes-kib 256 1024 8192]

The cases: a word of N KiB with no space (``x`` repeated) and a line of N KiB of short words. The before side of
the largest cases takes tens of seconds a keystroke; ``--before-keystrokes`` bounds how many it types (1), and
words past ``--before-max-word-kib`` are not typed into before the rule at all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication  # after the platform is chosen
from PySide6.QtWidgets import QApplication

from gui.editor import long_lines
from gui.editor.ghost_text_editor import GhostTextEditor


def texts(sizes_kib: list[int]) -> dict[str, str]:
    cases = {}
    for kib in sizes_kib:
        cases[f"{kib:,} KiB word, no space"] = "x" * (kib * 1024)
        cases[f"{kib:,} KiB line of words"] = ("word " * (kib * 1024 // 5 + 1))[: kib * 1024]
    return cases


def keystroke_times(app: QCoreApplication, text: str, keystrokes: int, rule: bool) -> tuple[list[float], float, str]:
    """Seconds per keystroke, seconds to load, and what the rule decided."""
    from PySide6.QtTest import QTest

    editor = GhostTextEditor()
    editor.resize(900, 700)
    editor.show()
    saved = long_lines.LONG_LINE_CHARS, long_lines.READ_ONLY_LINE_CHARS
    if not rule:  # nothing is long enough to count: the editor behaves as before the rule
        long_lines.LONG_LINE_CHARS = long_lines.READ_ONLY_LINE_CHARS = 1 << 62
    try:
        started = time.perf_counter()
        editor.replace_text(text)
        app.processEvents()
        load_s = time.perf_counter() - started
    finally:
        long_lines.LONG_LINE_CHARS, long_lines.READ_ONLY_LINE_CHARS = saved
    decided = ("read-only, no suggestions" if editor.isReadOnly() else
               "wrap anywhere, no suggestions" if editor.long_lines.hold_suggestions else "as usual")
    cursor = editor.textCursor()
    cursor.setPosition(len(text) // 2)
    editor.setTextCursor(cursor)
    app.processEvents()
    times = []
    for _ in range(keystrokes):
        started = time.perf_counter()
        QTest.keyClicks(editor, "a")
        app.processEvents()
        times.append(time.perf_counter() - started)
    editor.close()
    editor.deleteLater()
    app.processEvents()
    return times, load_s, decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystrokes", type=int, default=3)
    parser.add_argument("--before-keystrokes", type=int, default=1)
    parser.add_argument("--sizes-kib", type=int, nargs="+", default=[256, 1024, 8192])
    parser.add_argument("--before-max-word-kib", type=int, default=1024,
                        help="longer words are not typed into before the rule (wrapping them grows faster than "
                             "their length: 256 KiB ~3 s a keystroke, 1 MiB ~30 s)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    print(f"{'case':<28} {'side':<7} {'load s':>7} {'keystroke ms (median)':>22}  decided")
    for name, text in texts(args.sizes_kib).items():
        for side, rule, count in (("before", False, args.before_keystrokes), ("after", True, args.keystrokes)):
            if not rule and "word," in name and len(text) > args.before_max_word_kib * 1024:
                print(f"{name:<28} {side:<7} {'':>7} {'not measured':>22}  (--before-max-word-kib)")
                continue
            times, load_s, decided = keystroke_times(app, text, count, rule)
            print(f"{name:<28} {side:<7} {load_s:>7.2f} {statistics.median(times) * 1000:>22.0f}  {decided}",
                  flush=True)


if __name__ == "__main__":
    main()
