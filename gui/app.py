"""``inkling`` with no arguments: start the desktop app."""

from __future__ import annotations

import argparse
import sys


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


def run_app(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    warning = broken_pyside_warning()
    if warning:
        print(warning, file=sys.stderr)

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "inkling"])
    app.setApplicationName("Inkling")
    app.setApplicationDisplayName("Inkling")
    app.setDesktopFileName("inkling")
    window = MainWindow(args.model, device=args.device, open_path=args.file)
    window.show()
    window.editor.setFocus()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_app())
