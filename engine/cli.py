"""The engine's command line, headless: ``inkling complete | models | train | eval`` (also ``python -m engine``).

The ``inkling`` console script is ``gui.launcher``: it builds this same parser and opens the app when no
subcommand is given, so the engine never imports the app.
"""

from __future__ import annotations

import argparse
import sys

from engine.commands import complete, models
from engine.errors import InklingError
from engine.training import commands as training_commands

# Each offers ``add_parsers(subparsers)``, which sets ``func`` on the parsers it adds.
_SUBCOMMAND_MODULES = (complete, models, training_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inkling", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Inkling: local autocomplete for writing.",
        epilog="The commands above use the engine without the app.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _SUBCOMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def subcommand_names(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommands ``parser`` (one from ``build_parser``) accepts."""
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices}


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Parse ``argv`` with ``parser`` and run its subcommand; the exit status. No subcommand prints the help."""
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):  # argparse leaves ``func`` unset when no subcommand was given
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InklingError as exc:
        print(f"inkling: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
