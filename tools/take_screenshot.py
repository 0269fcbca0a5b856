"""Take docs/screenshot.png: the real Inkling window on an X11 display, with ghost text and the Alternatives panel.

Run it under a virtual display (Debian: ``apt-get install xvfb imagemagick``)::

    xvfb-run -a -s "-screen 0 1280x800x24" python tools/take_screenshot.py --model default

The window's own X11 contents are captured with ImageMagick's ``import`` (what a user would see, minus the window
frame, since Xvfb runs no window manager); without ``import`` it falls back to Qt's ``QWidget.grab``. Settings and
recovery files go to a temporary folder, so the user's own are never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE_TEXT = (
    "The Keeper\n\n"
    "For forty years the old lighthouse had stood at the end of the harbour wall. Ships came and went, the town "
    "grew and shrank again, and the light turned every night without fail.\n\n"
    "Every evening the keeper climbed its hundred and twelve stairs to light the lamp. He knew each step by its "
    "sound, and he counted them aloud, as his father had done before him.\n\n"
    "On the night of the storm, the"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or folder (default: the bundled one)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--text", default=SAMPLE_TEXT, help="the text typed before the suggestion")
    parser.add_argument("--size", default="1200x720", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--theme", default="light", choices=("light", "dark", "system"))
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="inkling-screenshot-"))
    os.environ["INKLING_CONFIG_DIR"] = str(scratch / "config")
    os.environ["INKLING_DATA_DIR"] = str(scratch / "data")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from engine.decoding.settings import DecodingSettings
    from gui.dialogs.prompts import Prompts
    from gui.main_window import MainWindow

    class NoDialogs(Prompts):  # an unattended run must never wait for a click
        def offer_model_folder(self, parent, message):
            print(f"no model: {message}", file=sys.stderr)
            return False

        def error(self, parent, title, message):
            print(f"{title}: {message}", file=sys.stderr)

        def offer_restore(self, parent, documents):
            return False

    app = QApplication.instance() or QApplication(["inkling"])
    app.setApplicationName("Inkling")
    window = MainWindow(args.model, prompts=NoDialogs(), debounce_ms=60000)
    window.set_theme(args.theme)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.move(0, 0)
    window.show()

    def wait_until(condition, seconds: float) -> bool:
        loop = QEventLoop()
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        return condition()

    if not wait_until(lambda: window.engine_ready() or window.models.last_error, 120) or not window.engine_ready():
        print(f"the model did not load: {window.models.last_error}", file=sys.stderr)
        return 1
    window.suggestions.set_settings(DecodingSettings(strategy="beam", num_beams=5, num_alternatives=4,
                                                     max_new_tokens=12, no_repeat_ngram_size=3, stop="sentence"))
    editor = window.editor
    editor.setPlainText(args.text)
    editor.move_cursor_to_end()
    editor.setFocus()
    editor.request_suggestion_now()
    if not wait_until(lambda: editor.pending_request is None and editor.ghost_text(), 120):
        print("no suggestion arrived", file=sys.stderr)
        return 1
    wait_until(lambda: False, 0.5)  # let the last paint land on the display

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if os.environ.get("DISPLAY") and shutil.which("import"):
        subprocess.run(["import", "-window", str(int(window.winId())), str(out)], check=True)
    else:
        window.grab().save(str(out))
    print(f"saved {out} ({window.models.active.name}, ghost text {editor.ghost_text()!r})")
    window.shutdown()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
