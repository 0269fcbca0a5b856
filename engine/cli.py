"""The ``inkling`` command: no arguments starts the app; subcommands use the engine headless."""

from __future__ import annotations

import argparse
import sys

# Subcommand modules each offer ``add_parser(subparsers)`` which sets ``func`` on its parser.
_SUBCOMMANDS = (
    "engine.commands.complete",
    "engine.commands.models",
    "engine.training.commands",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="inkling", description="Inkling: local autocomplete for writing.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMANDS:
        importlib.import_module(module_name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("gui", "app"):
        from gui.app import run_app  # Qt is imported only when the app is wanted

        return run_app(argv[1:])
    parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
