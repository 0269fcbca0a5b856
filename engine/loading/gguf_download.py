"""Downloading one GGUF file from the Hugging Face Hub into the user models folder (needs ``huggingface_hub``).

The file is written under a hidden name (``.NAME.SHA.part``, which ``list_models`` skips) and renamed into place only
once it is complete and its sha256 matches, so a partial or corrupt download never shows up as a model. The hidden
part survives a cancel or a broken connection and the next download of the same file resumes from it (an HTTP
Range request); a part of another version of the file (another sha256) is never resumed into.

Which sha256 is expected: the catalogue's when it records one, else the Hub's (the Git LFS sha256 it reports as
the file's ETag). Both are compared before anything is fetched, so a file changed on the Hub since the catalogue
was written is refused at once. A file the Hub gives no sha256 for is refused: nothing unverified is installed.

Uses huggingface_hub's own metadata request and download loop (``get_hf_file_metadata``, ``http_get``): its
headers, token, redirects to the CDN and retries on a dropped connection; ``hf_hub_download`` would keep the file in
its cache under another name and deletes a partial file on every error, so it could not resume after a cancel.
"""

from __future__ import annotations

import errno
import inspect
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from engine.byte_sizes import format_bytes
from engine.loading.hub_download import INSTALL_HINT, DownloadCancelled, DownloadError, file_sha256
from engine.loading.registry import user_models_dir

#: progress(done_bytes, total_bytes): total is None when the Hub did not say
ByteProgress = Callable[[int, "int | None"], None]
PART_SUFFIX = ".part"
#: Room left free beyond the file itself, so a download never fills the disk to its last byte.
FREE_SPACE_MARGIN = 50_000_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Interrupted(DownloadError):
    """The transfer stopped part way (network, server); what arrived is kept in the part."""


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    file_name: str
    revision: str = "main"
    sha256: str | None = None  # what the file must hash to, when known beforehand (the catalogue's)

    @property
    def label(self) -> str:
        return f"{self.repo_id}/{self.file_name}"


def part_path(folder: Path, file_name: str, sha256: str) -> Path:
    """The hidden file a download of ``file_name`` with this sha256 is written to until it is verified."""
    return folder / f".{file_name}.{sha256[:16]}{PART_SUFFIX}"


def fetched_bytes(folder: Path, file_name: str) -> int:
    """What earlier, unfinished downloads of ``file_name`` left in ``folder`` (0 when none): the next one resumes."""
    try:
        parts = list(folder.glob(f".{glob_escape(file_name)}.*{PART_SUFFIX}"))
        return max((part.stat().st_size for part in parts), default=0)
    except OSError:
        return 0


def download_gguf(remote: HubFile, *, folder: Path | None = None, progress: ByteProgress | None = None,
                  cancelled: Callable[[], bool] | None = None, endpoint: str | None = None) -> Path:
    """Fetch ``remote`` into ``folder`` (the user models folder by default); returns the installed file.

    ``cancelled`` is polled as data arrives (DownloadCancelled once it says so); ``endpoint`` replaces the Hub's
    address (default: ``HF_ENDPOINT`` as set now, else huggingface.co). DownloadError says what went wrong.
    """
    hub = _hub()
    folder = folder or user_models_dir()
    final = folder / remote.file_name
    if final.is_file():
        return final
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    metadata = _metadata(hub, remote, endpoint)
    expected = _expected_sha256(remote, metadata.etag)
    total = metadata.size
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the models folder {folder}: {exc.strerror or exc}") from exc
    part = part_path(folder, remote.file_name, expected)
    have = part.stat().st_size if part.is_file() else 0
    if total is not None and have > total:  # not a prefix of this file: start again
        part.unlink()
        have = 0
    check_free_space(folder, (total or 0) - have, remote.file_name)
    while True:
        try:
            _fetch(hub, metadata.location, part, have, total, remote, progress, cancelled)
            break
        except _Interrupted:
            # Older huggingface_hub versions give up at the first broken connection, newer ones after five tries
            # without data: go on from what arrived, for as long as each try brings more.
            fetched = part.stat().st_size if part.is_file() else 0
            if fetched <= have:
                raise
            have = fetched
    actual = file_sha256(part, cancelled)
    if actual != expected:
        part.unlink(missing_ok=True)  # a corrupt part is no use to resume from
        raise DownloadError(f"{remote.file_name} from {remote.repo_id} failed its checksum (sha256 {actual}, "
                            f"expected {expected}); it was deleted and is not installed")
    os.replace(part, final)
    return final


def check_free_space(folder: Path, needed: int, file_name: str) -> None:
    """DownloadError naming the folder when it cannot take ``needed`` more bytes (and a margin)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # unknown: the write itself will say if the disk fills
    if needed > 0 and free < needed + FREE_SPACE_MARGIN:
        raise DownloadError(f"not enough free disk space for {file_name}: it needs {format_bytes(needed)} more and "
                            f"{folder} has {format_bytes(free)} free (keeping {format_bytes(FREE_SPACE_MARGIN)} spare); "
                            "free some space and try again")


def _hub() -> Any:
    """huggingface_hub's ``file_download`` module: the download functions used here all live in it."""
    try:
        from huggingface_hub import file_download
    except ImportError as exc:
        raise DownloadError(INSTALL_HINT) from exc
    return file_download


def _metadata(hub: Any, remote: HubFile, endpoint: str | None) -> Any:
    url = hub.hf_hub_url(remote.repo_id, remote.file_name, revision=remote.revision, endpoint=endpoint)
    try:
        # Only recent versions take the endpoint here (for their Xet metadata); the URL already carries it.
        extra = {"endpoint": endpoint} if "endpoint" in inspect.signature(hub.get_hf_file_metadata).parameters else {}
        return hub.get_hf_file_metadata(url, **extra)
    except Exception as exc:  # offline, no such repo or file, gated: all reported the same way
        raise DownloadError(f"cannot fetch {remote.label} from the Hugging Face Hub: {_reason(exc)}") from exc


def _expected_sha256(remote: HubFile, etag: str | None) -> str:
    hub_sha = etag.lower() if etag and _SHA256.match(etag.lower()) else None
    if remote.sha256 and hub_sha and remote.sha256 != hub_sha:
        raise DownloadError(f"{remote.label} on the Hub (sha256 {hub_sha}) is not the file the catalogue names "
                            f"(sha256 {remote.sha256}): it was changed after the catalogue was written; "
                            "nothing was downloaded")
    expected = remote.sha256 or hub_sha
    if expected is None:
        raise DownloadError(f"the Hub gives no sha256 for {remote.label} and the catalogue records none, so the "
                            "download could not be verified; nothing was downloaded")
    return expected


def _fetch(hub: Any, url: str, part: Path, have: int, total: int | None, remote: HubFile,
           progress: ByteProgress | None, cancelled: Callable[[], bool] | None) -> None:
    if total is not None and have == total:
        return
    if progress is not None:
        progress(have, total)
    reporter = _ByteReporter(have, total, progress, cancelled, remote.file_name)
    options = _progress_option(hub, reporter)
    try:
        with open(part, "ab") as out:
            hub.http_get(url, out, resume_size=have, headers=hub.build_hf_headers(), expected_size=total,
                         displayed_filename=remote.file_name, **options)
    except DownloadCancelled:
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            # The part is what filled the disk: give the space back to the writer's other programs.
            part.unlink(missing_ok=True)
            raise DownloadError(f"the disk filled up while downloading {remote.file_name} into {part.parent}; "
                                "the partial file was deleted and nothing is installed") from exc
        raise _Interrupted(_interrupted(remote, part, exc)) from exc
    except Exception as exc:  # the connection broke for good, the Hub refused: resumable next time
        raise _Interrupted(_interrupted(remote, part, exc)) from exc


def _interrupted(remote: HubFile, part: Path, exc: BaseException) -> str:
    kept = part.stat().st_size if part.is_file() else 0
    resume = f"; the {format_bytes(kept)} already fetched are kept and the next try resumes from there" if kept else ""
    return f"the download of {remote.label} stopped: {_reason(exc)}{resume}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _progress_option(hub: Any, reporter: _ByteReporter) -> dict[str, Any]:
    """How this huggingface_hub's ``http_get`` takes a progress bar: ``_tqdm_bar`` (every version from 0.2x to 2.x;
    its retries after a dropped connection reuse it, so the count stays right), else ``tqdm_class``."""
    parameters = inspect.signature(hub.http_get).parameters
    if "_tqdm_bar" in parameters:
        return {"_tqdm_bar": reporter}
    if "tqdm_class" in parameters:
        return {"tqdm_class": lambda *args, **kwargs: reporter}
    raise DownloadError("this huggingface_hub's download function takes no progress bar, so a download could be "
                        "neither followed nor cancelled; pip install -U 'inkling[hub]'")


class _ByteReporter:
    """The progress bar handed to ``http_get``: instead of drawing a bar it reports bytes and raises
    DownloadCancelled when asked to stop (``http_get`` calls ``update`` once per chunk that arrives, before writing
    it, so a cancelled part ends on a whole chunk)."""

    def __init__(self, initial: int, total: int | None, progress: ByteProgress | None,
                 cancelled: Callable[[], bool] | None, file_name: str) -> None:
        self.done = initial
        self.total = total
        self.progress = progress
        self.cancelled = cancelled
        self.file_name = file_name

    def __enter__(self) -> _ByteReporter:  # noqa: PYI034 (the package targets Pythons without typing.Self)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: float | None = 1) -> None:
        self.done += int(n or 0)
        if self.cancelled is not None and self.cancelled():
            raise DownloadCancelled(f"the download of {self.file_name} was cancelled")
        if self.progress is not None:
            self.progress(self.done, self.total)

    def close(self) -> None:
        return None
