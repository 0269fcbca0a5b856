"""The ``inkling`` command: the engine's subcommands headless, and the app for everything else.

``inkling`` alone, ``inkling gui|app``, the app's own options or a file to open start the app; ``inkling complete
| models | train | eval`` run the engine's command line (``engine.cli``) without importing Qt.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine import cli

APP_COMMANDS = ("gui", "app")
_APP_OPTIONS = ("--model", "--device")  # options of the app itself: ``inkling --model mine notes.txt``


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = cli.build_parser()
    parser.epilog = ("A bare `inkling` opens the app; `inkling FILE` opens FILE in it.\n"
                     "The app takes --model NAME|PATH and --device DEVICE too: `inkling --model mine notes.txt`.\n"
                     "The commands above use the engine without the app.")
    if wants_app(argv, cli.subcommand_names(parser)):
        import gui.app  # Qt is imported only when the app is wanted

        return gui.app.run_app(argv[1:] if argv and argv[0] in APP_COMMANDS else argv)
    return cli.run(parser, argv)


def wants_app(argv: list[str], subcommands: set[str]) -> bool:
    """No arguments, ``gui``/``app``, the app's own options, or a first argument that names a file rather than a
    subcommand (``inkling notes.txt``)."""
    if not argv or argv[0] in APP_COMMANDS or argv[0].split("=", 1)[0] in _APP_OPTIONS:
        return True
    first = argv[0]
    if first.startswith("-") or first in subcommands:
        return False
    return Path(first).exists() or Path(first).suffix != "" or "/" in first or "\\" in first


if __name__ == "__main__":
    sys.exit(main())
