"""The ``inkling`` command: no arguments (or a file to open, or the app's options) starts the app; subcommands use
the engine headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Subcommand modules each offer ``add_parser(subparsers)`` which sets ``func`` on its parser.
_SUBCOMMANDS = (
    "engine.commands.complete",
    "engine.commands.models",
    "engine.training.commands",
)
_APP_OPTIONS = ("--model", "--device")  # options of the app itself: ``inkling --model mine notes.txt``


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="inkling", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Inkling: local autocomplete for writing.",
        epilog="A bare `inkling` opens the app; `inkling FILE` opens FILE in it.\n"
        "The app takes --model NAME|PATH and --device DEVICE too: `inkling --model mine notes.txt`.\n"
        "The commands above use the engine without the app.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMANDS:
        importlib.import_module(module_name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if _wants_app(argv, parser):
        from gui.app import run_app  # Qt is imported only when the app is wanted

        return run_app(argv[1:] if argv and argv[0] in ("gui", "app") else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from engine.errors import InklingError

    try:
        return int(args.func(args) or 0)
    except InklingError as exc:
        print(f"inkling: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _wants_app(argv: list[str], parser: argparse.ArgumentParser) -> bool:
    """No arguments, ``gui``/``app``, the app's own options, or a first argument that names a file rather than a
    subcommand (``inkling notes.txt``)."""
    if not argv or argv[0] in ("gui", "app") or argv[0].split("=", 1)[0] in _APP_OPTIONS:
        return True
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    first = argv[0]
    if first.startswith("-") or first in commands:
        return False
    return Path(first).exists() or Path(first).suffix != "" or "/" in first or "\\" in first


if __name__ == "__main__":
    sys.exit(main())
