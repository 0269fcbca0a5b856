"""``inkling`` with no arguments: start the desktop app."""

from __future__ import annotations

import argparse
import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import cast

from gui.xcb_check import missing_libraries_message, missing_xcb_libraries


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inkling", description="Inkling: a writing assistant with local suggestions.")
    parser.add_argument("file", nargs="?", help="a text file to open")
    parser.add_argument("--model", help="model name or folder (default: the last one used, else the bundled one)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the last one used)")
    return parser


def broken_pyside_warning() -> str | None:
    """PySide6 6.12.0 on Python 3.11 corrupts reference counts while a second Python thread runs (the engine's)."""
    import PySide6

    if PySide6.__version__ == "6.12.0" and sys.version_info < (3, 12):
        return ("warning: PySide6 6.12.0 on Python 3.11 crashes when a background thread runs; "
                "install another release, e.g. pip install 'PySide6-Essentials==6.11.2'")
    return None


def display_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
                    find_library: Callable[[str], str | None] = ctypes.util.find_library,
                    missing_libraries: Callable[[], list[str] | None] = missing_xcb_libraries) -> str | None:
    """Why Qt cannot open a window here, said plainly; Qt itself would abort the process with a terse message
    that names libxcb-cursor0 whatever is missing."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM") or environ.get("WAYLAND_DISPLAY"):
        return None
    if not environ.get("DISPLAY"):
        return ("inkling: there is no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set). "
                "Start it from a desktop session; the engine works without one: see `inkling --help`.")
    missing = missing_libraries()
    if missing:
        return missing_libraries_message(missing)
    if missing is None and find_library("xcb-cursor") is None:  # no ldd to ask: the most common gap
        return ("inkling: Qt needs the system library libxcb-cursor0 to open a window on X11. Install it "
                "(Debian/Ubuntu: sudo apt install libxcb-cursor0; Fedora: sudo dnf install xcb-util-cursor) "
                "and start Inkling again.")
    return None


def run_app(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    warning = broken_pyside_warning()
    if warning:
        print(warning, file=sys.stderr)

    from gui.main_window import MainWindow

    app = cast("QApplication | None", QApplication.instance()) or QApplication(
        [sys.argv[0] if sys.argv else "inkling"])
    app.setApplicationName("Inkling")
    app.setApplicationDisplayName("Inkling")
    app.setDesktopFileName("inkling")
    window = MainWindow(args.model, device=args.device, open_path=args.file)
    window.show()
    window.editor.setFocus()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_app())
