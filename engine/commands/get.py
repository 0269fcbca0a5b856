"""``inkling get [ID]``: the catalogue of better models, and downloading one, headless (what Model ▸ Get Models… does).

Without an id it lists the catalogue; with one it downloads that GGUF into the user models folder, verified and
resumable (``engine.loading.gguf_download``), and says the name to pass to ``--model``. Ctrl+C stops it; the part
fetched is kept and the next ``inkling get ID`` resumes it.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from engine.byte_sizes import format_bytes
from engine.errors import InklingError
from engine.loading.catalogue import CatalogueEntry, load_catalogue

#: On a terminal the progress line is redrawn in place; into a log, one line at most this often.
LOG_PROGRESS_EVERY_S = 30.0


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser(
        "get",
        help="list the catalogue of better models, or download one of them",
        description="Without ID: list the models Inkling offers to download (licence, size, memory, speed to "
        "expect on a 2-core CPU). With ID: download that GGUF file from the Hugging Face Hub into your models "
        "folder, check its sha256, and print the name to pass to --model. Needs the optional huggingface_hub "
        "(pip install 'inkling[hub]'); HF_ENDPOINT points it at a mirror.",
    )
    parser.add_argument("id", nargs="?", help="the catalogue id of the model to download (see `inkling get`)")
    parser.set_defaults(func=run_get)


def run_get(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    entries = load_catalogue()
    if not args.id:
        _print_catalogue(entries, out)
        return 0
    entry = next((e for e in entries if e.id == args.id), None)
    if entry is None:
        raise InklingError(f"no model {args.id!r} in the catalogue; choose one of: {', '.join(e.id for e in entries)}")
    if entry.unavailable_reason:
        raise InklingError(f"{entry.name} {entry.unavailable_reason}")
    if entry.is_installed():
        print(f"{entry.name} is already installed: inkling complete --model {entry.file_name}", file=out)
        return 0
    from engine.loading.gguf_download import HubFile, download_gguf

    print(f"Downloading {entry.name} ({format_bytes(entry.size_bytes)}, {entry.licence}) from {entry.repo_id}",
          file=err)
    report = _progress_printer(err)
    path = download_gguf(HubFile(entry.repo_id, entry.file_name, entry.revision, entry.sha256), progress=report)
    if err.isatty():
        print(file=err)
    print(f"Installed and checked {path}; use it with: inkling complete --model {path.name}", file=out)
    return 0


def _print_catalogue(entries: list[CatalogueEntry], out: TextIO) -> None:
    header = ("ID", "MODEL", "DOWNLOAD", "MEMORY", "SPEED (2 CPU cores)", "LICENCE", "STATUS")
    rows = [(e.id, e.name, format_bytes(e.size_bytes), f"~{format_bytes(e.memory_bytes)}", _speed(e), e.licence, _status(e))
            for e in entries]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), file=out)
    print("\nDownload one with: inkling get ID", file=out)


def _speed(entry: CatalogueEntry) -> str:
    text = f"~{entry.tokens_per_second:.1f} tokens/s" if entry.tokens_per_second < 10 else (
        f"~{entry.tokens_per_second:.0f} tokens/s")
    return f"{text} (estimate)" if entry.speed_is_estimate else text


def _status(entry: CatalogueEntry) -> str:
    if entry.unavailable_reason:
        return f"needs {entry.architecture}"
    return "installed" if entry.is_installed() else "available"


def _progress_printer(err: TextIO):
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        share = f" ({100 * done / total:.0f}%)" if total else ""
        line = f"{format_bytes(done)} of {format_bytes(total)}{share}" if total else format_bytes(done)
        if err.isatty():
            print(f"\r{line}   ", end="", file=err, flush=True)
        elif time.monotonic() - last[0] >= LOG_PROGRESS_EVERY_S or (total and done >= total):
            last[0] = time.monotonic()
            print(line, file=err, flush=True)

    return report
