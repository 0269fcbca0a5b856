"""Fetching a model from the Hugging Face Hub into the local hub cache (needs the optional ``huggingface_hub``).

Only what Inkling reads is downloaded: config, tokenizer, safetensors weights (or a legacy PyTorch file when a
repo has no safetensors), generation config. Once fetched, the model is listed by ``engine.loading.hub_cache`` and
loads offline by its repo id.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path

from engine.errors import InklingError
from engine.loading.checkpoint import (
    CONFIG,
    GENERATION_CONFIG,
    TOKENIZER,
    TORCH_WEIGHTS,
    WEIGHTS,
    WEIGHTS_INDEX,
)

#: progress(done_bytes, total_bytes, file_name); total_bytes is None when the Hub did not report sizes
ProgressCallback = Callable[[int, "int | None", str], None]

INSTALL_HINT = (
    "downloading models needs the optional huggingface_hub package (pip install 'inkling[hub]'); "
    "models already in the Hugging Face cache are listed and load without it"
)
_SHARD = re.compile(r"^model-\d+-of-\d+\.safetensors$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_HASH_CHUNK = 4 * 1024 * 1024


class DownloadError(InklingError):
    """The model could not be fetched: no huggingface_hub, no network, no such repo, or nothing Inkling can use."""


class DownloadCancelled(InklingError):
    """The user stopped the download; what was fetched is kept for the next try."""


def file_sha256(path: Path, cancelled: Callable[[], bool] | None = None) -> str:
    """The file's sha256 (what the Hub publishes for every Git LFS file); DownloadCancelled when asked to stop."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            if cancelled is not None and cancelled():
                raise DownloadCancelled(f"the download of {path.name} was cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def verify_fetched(path: Path, expected_sha256: str, repo_id: str, name: str) -> None:
    """Issue 32 item 3: a fetched file must hash to the sha256 the Hub published for it. One that does not is
    deleted from the cache (its blob and its snapshot link), so the model never shows up half right."""
    blob = path.resolve()
    actual = file_sha256(blob)
    if actual == expected_sha256.lower():
        return
    for doomed in (blob, path):
        doomed.unlink(missing_ok=True)
    raise DownloadError(f"{name} from {repo_id} failed its checksum (sha256 {actual}, the Hub publishes "
                        f"{expected_sha256}); it was deleted from the Hugging Face cache and is not installed")


def hub_available() -> bool:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return False
    return True


def files_to_fetch(repo_files: list[str]) -> list[str]:
    """The files of a repo that make an Inkling model folder; DownloadError when the repo lacks essentials."""
    names = set(repo_files)
    missing = [name for name in (CONFIG, TOKENIZER) if name not in names]
    if missing:
        raise DownloadError(f"the repo has no {' and no '.join(missing)}, which Inkling needs")
    wanted = [CONFIG, TOKENIZER] + [n for n in (GENERATION_CONFIG,) if n in names]
    if WEIGHTS in names:
        wanted.append(WEIGHTS)
    elif WEIGHTS_INDEX in names:
        wanted += [WEIGHTS_INDEX] + sorted(n for n in names if _SHARD.match(n))
    elif TORCH_WEIGHTS in names:
        wanted.append(TORCH_WEIGHTS)
    else:
        raise DownloadError("the repo has no model.safetensors, sharded safetensors or pytorch_model.bin weights")
    return wanted


def download_model(repo_id: str, progress: ProgressCallback | None = None, *, revision: str | None = None) -> Path:
    """Fetch ``repo_id`` into the hub cache; returns the snapshot folder. Raises DownloadError with the reason."""
    repo_id = repo_id.strip()
    if not _REPO_ID.match(repo_id):
        raise DownloadError(f"{repo_id!r} is not a Hugging Face repo id like 'HuggingFaceTB/SmolLM2-135M'")
    try:
        import huggingface_hub
    except ImportError as exc:
        raise DownloadError(INSTALL_HINT) from exc
    try:
        info = huggingface_hub.HfApi().model_info(repo_id, revision=revision, files_metadata=True)
        sizes = {s.rfilename: s.size for s in (info.siblings or [])}
        published = {s.rfilename: sha for s in (info.siblings or []) if (sha := _lfs_sha256(s))}
        wanted = files_to_fetch(list(sizes))
        known = [size for name in wanted if isinstance(size := sizes.get(name), int)]
        total = sum(known) if len(known) == len(wanted) else None
        done = 0
        path = ""  # files_to_fetch never returns an empty list
        for name in wanted:
            options: dict[str, object] = {"revision": revision or info.sha}
            if progress is not None:
                progress(done, total, name)

                def report_bytes(n: int, name: str = name, start: int = done) -> None:
                    progress(start + n, total, name)

                bar = _byte_progress_class(report_bytes)
                if bar is not None and "tqdm_class" in inspect.signature(huggingface_hub.hf_hub_download).parameters:
                    options["tqdm_class"] = bar
            path = huggingface_hub.hf_hub_download(repo_id, name, **options)
            if name in published:  # weights are Git LFS files; small git files have no sha256 to check
                verify_fetched(Path(path), published[name], repo_id, name)
            done += sizes.get(name) or 0
        if progress is not None:
            progress(done, total, "")
    except DownloadError:
        raise
    except Exception as exc:  # network, authentication, missing repo: all reported, none fatal
        raise DownloadError(f"could not download {repo_id}: {type(exc).__name__}: {exc}") from exc
    return Path(path).parent


def _lfs_sha256(sibling: object) -> str | None:
    """The sha256 the Hub lists for a Git LFS file (``lfs`` is a dict-like ``BlobLfsInfo``, a plain dict in
    older huggingface_hub versions)."""
    lfs = getattr(sibling, "lfs", None)
    sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
    return sha if isinstance(sha, str) and len(sha) == 64 else None


def _byte_progress_class(report: Callable[[int], None]):
    """A tqdm class that reports bytes of the current file instead of drawing a console bar (None without tqdm)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None

    class ReportingBar(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.bytes_seen = kwargs.get("initial") or 0

        def update(self, n: float | None = 1) -> bool | None:
            self.bytes_seen += int(n or 0)
            report(self.bytes_seen)
            return super().update(n)

    return ReportingBar
