"""Models already in the local Hugging Face hub cache, listed by repo id and loadable offline.

The cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``) holds one folder per repo,
``models--ORG--NAME``, with ``refs/main`` naming the current revision and ``snapshots/REV/`` holding its files
as symlinks into ``blobs/``. A snapshot is offered when it is a complete model folder of a family we implement;
anything else (other architectures, partial downloads, broken links) is skipped without a word.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.errors import CheckpointError
from engine.loading.checkpoint import WEIGHTS, WEIGHTS_INDEX, is_model_folder, read_config, shapes_only
from engine.loading.families import FAMILIES

_REPO_PREFIX = "models--"


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, by the same rules it uses itself."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def cached_snapshots() -> list[tuple[str, Path]]:
    """(repo id, snapshot folder) of every compatible model in the hub cache, sorted by repo id; ``engine.loading.registry``
    describes them."""
    root = hub_cache_dir()
    try:
        repos = sorted(p for p in root.iterdir() if p.name.startswith(_REPO_PREFIX) and p.is_dir())
    except OSError:
        return []
    found = []
    for repo in repos:
        try:
            snapshot = _usable_snapshot(repo)
        except (OSError, ValueError, CheckpointError):  # a broken entry must not hide the others
            snapshot = None
        if snapshot is not None:
            found.append((repo.name[len(_REPO_PREFIX) :].replace("--", "/"), snapshot))
    return found


def snapshot_of(repo: Path) -> Path | None:
    """The revision ``refs/main`` points at when present, else the most recently written snapshot."""
    snapshots = repo / "snapshots"
    ref = repo / "refs" / "main"
    if ref.is_file():
        revision = ref.read_text(encoding="utf-8").strip()
        if revision and (snapshots / revision).is_dir():
            return snapshots / revision
    if not snapshots.is_dir():
        return None
    candidates = [p for p in snapshots.iterdir() if p.is_dir()]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def _usable_snapshot(repo: Path) -> Path | None:
    """The repo's snapshot when it is a complete model folder we can build."""
    snapshot = snapshot_of(repo)
    if snapshot is None or not is_model_folder(snapshot) or not _weights_complete(snapshot):
        return None
    return snapshot if _buildable(snapshot, read_config(snapshot)) else None


def _weights_complete(snapshot: Path) -> bool:
    """Every shard an index lists is there (a download may have stopped half-way); links must resolve."""
    if (snapshot / WEIGHTS).is_file():
        return True
    index = snapshot / WEIGHTS_INDEX
    if not index.is_file():
        return True  # legacy pytorch_model.bin, checked by is_model_folder
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return False
    return bool(shards) and all(isinstance(s, str) and (snapshot / s).is_file() for s in shards)


# (config.json's resolved path, size, mtime) -> buildable: listings are repeated, configs rarely change.
_BUILDABLE: dict[tuple[str, int, int], bool] = {}


def _buildable(snapshot: Path, config: dict) -> bool:
    """The config describes a model we can build: built on the meta device, so no memory and no weights."""
    file = (snapshot / "config.json").resolve()
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    if key not in _BUILDABLE:
        try:
            with shapes_only():
                FAMILIES[config["model_type"]].build(config)
            _BUILDABLE[key] = True
        except Exception:  # noqa: BLE001 - any refusal of the config means "not compatible", not an error
            _BUILDABLE[key] = False
    return _BUILDABLE[key]
