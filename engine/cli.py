"""The engine's command line, headless: ``inkling complete | models | get | train | eval`` (also ``python -m engine``).

The ``inkling`` console script is ``gui.launcher``: it builds this same parser and opens the app when no
subcommand is given, so the engine never imports the app.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.commands import complete, evaluate, get, models, train
from engine.errors import InklingError

# Each offers ``add_parsers(subparsers)``, which sets ``func`` on the parsers it adds.
_SUBCOMMAND_MODULES = (complete, models, get, train, evaluate)

# What a shell reports for a program that SIGPIPE ended (128 + 13), as `yes | head -1` does: the reader went away
# before the output ended, which is how `inkling models | head -1` is meant to be used, not an error to explain.
EXIT_BROKEN_PIPE = 141


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
        code = int(args.func(args) or 0)
        # Python ignores SIGPIPE, so a reader that left shows up as BrokenPipeError at the first write or flush
        # after the pipe's buffer, often only at exit; flushing here keeps it inside this handler.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except InklingError as exc:
        print(f"inkling: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _discard_stdout() -> None:
    """Point standard output at the null device, so the interpreter's own flush at exit does not fail again on the
    closed pipe (and print 'Exception ignored ... BrokenPipeError')."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream: nothing at exit to fail
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
