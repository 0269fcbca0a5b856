"""The models Ollama has pulled, found in its store without Ollama running.

Ollama's layout (its ``manifest`` and ``types/model`` packages): ``<store>/manifests/<host>/<namespace>/<model>/<tag>``
is a JSON manifest (newer versions also keep ``<store>/manifests-v2/...``, a link to a manifest blob, which wins);
the layer whose ``mediaType`` is ``application/vnd.ollama.image.model`` names the weights by digest,
``sha256:<hex>``, stored as ``<store>/blobs/sha256-<hex>``: a GGUF file. A manifest list (newer versions) holds one
manifest per runner; the GGUF one is the one Inkling can read. The store is ``OLLAMA_MODELS`` when set, else
``~/.ollama/models`` (``%USERPROFILE%\\.ollama\\models`` on Windows) and, for Linux's service install,
``/usr/share/ollama/.ollama/models``.

Users know a model as ``model:tag`` (``smollm2:135m``): the default host and the ``library`` namespace are left
out, another namespace is kept (``ns/model:tag``), and so is another host (``hf.co/org/repo:Q4_K_M``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.loading.local_stores.found_model import FoundModel, existing_folders

SOURCE = "ollama"
MODEL_LAYER = "application/vnd.ollama.image.model"
ADAPTER_LAYER = "application/vnd.ollama.image.adapter"
MANIFEST_LIST = "application/vnd.ollama.manifest.list.v2+json"
DEFAULT_HOSTS = ("registry.ollama.ai", "ollama.com")  # the legacy and the v2 name of the same public registry
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MANIFEST_DIRS = ("manifests-v2", "manifests")  # v2 first: where both hold a name, Ollama reads v2
_DIGEST = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")
_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few hundred bytes; never read a stray large file whole


def ollama_stores() -> list[Path]:
    """The store folders that exist, of ``ollama_store_candidates``."""
    return existing_folders(ollama_store_candidates())


def ollama_store_candidates(platform: str = sys.platform) -> list[Path]:
    """``OLLAMA_MODELS`` alone when it is set (as Ollama does), else the defaults of ``platform``: the user's
    ``.ollama/models`` (``Path.home()`` is ``%USERPROFILE%`` on Windows), and on Linux the service install's."""
    override = os.environ.get("OLLAMA_MODELS")
    if override:
        return [Path(override).expanduser()]
    candidates = [Path.home() / ".ollama" / "models"]
    if platform.startswith("linux"):
        candidates.append(Path("/usr/share/ollama/.ollama/models"))
    return candidates


def ollama_models() -> list[FoundModel]:
    """Every model named by a manifest, sorted by name; those whose weights cannot be used carry their problem."""
    found: dict[str, FoundModel] = {}
    for store in ollama_stores():
        for parts, manifest in _manifests(store):
            name = display_name(parts)
            key = name.lower()
            if key not in found:
                found[key] = _read_manifest(store, name, manifest)
    return sorted(found.values(), key=lambda model: model.name.lower())


def find_ollama_model(name: str) -> FoundModel | None:
    """The model Ollama knows as ``name`` (``smollm2``, ``smollm2:135m``, ``library/smollm2:135m``,
    ``registry.ollama.ai/library/smollm2:135m``...), else None."""
    parts = parse_name(name)
    if parts is None:
        return None
    wanted = display_name(parts).lower()
    for store in ollama_stores():
        for found_parts, manifest in _manifests(store):
            if display_name(found_parts).lower() == wanted:
                return _read_manifest(store, display_name(found_parts), manifest)
    return None


def display_name(parts: tuple[str, str, str, str]) -> str:
    """``(host, namespace, model, tag)`` as ``ollama list`` shows it."""
    host, namespace, model, tag = parts
    if host.lower() in DEFAULT_HOSTS:
        prefix = "" if namespace.lower() == DEFAULT_NAMESPACE else f"{namespace}/"
    else:
        prefix = f"{host}/{namespace}/"
    return f"{prefix}{model}:{tag}"


def parse_name(text: str) -> tuple[str, str, str, str] | None:
    """``[host/][namespace/]model[:tag]`` with Ollama's defaults filled in; None for what cannot be an Ollama name
    (a path, a file name)."""
    text = text.strip()
    if not text or text.lower().endswith(".gguf") or "\\" in text:
        return None
    path, _, tag = text.rpartition(":") if ":" in text.rsplit("/", 1)[-1] else (text, "", "")
    pieces = path.split("/")
    if len(pieces) > 3 or not all(_PART.match(piece) for piece in pieces) or (tag and not _PART.match(tag)):
        return None
    if any(piece in (".", "..") for piece in pieces) or tag in (".", ".."):
        return None
    host = pieces[-3] if len(pieces) == 3 else DEFAULT_HOSTS[0]
    namespace = pieces[-2] if len(pieces) >= 2 else DEFAULT_NAMESPACE
    return host, namespace, pieces[-1], tag or DEFAULT_TAG


def _manifests(store: Path) -> Iterator[tuple[tuple[str, str, str, str], Path]]:
    for folder in MANIFEST_DIRS:
        root = store / folder
        if not root.is_dir():
            continue
        for manifest in sorted(root.glob("*/*/*/*")):
            if manifest.is_file() and not manifest.name.startswith("."):
                host, namespace, model, tag = manifest.relative_to(root).parts
                yield (host, namespace, model, tag), manifest


def _read_manifest(store: Path, name: str, path: Path) -> FoundModel:
    """The GGUF blob a manifest names, or the manifest with the reason it cannot be loaded."""
    try:
        manifest = _json_file(path)
        if manifest.get("mediaType") == MANIFEST_LIST:
            manifest = _gguf_child(store, manifest)
    except _ManifestProblem as exc:
        return FoundModel(name, path, SOURCE, f"its manifest {path} {exc}")
    layers = [layer for layer in manifest.get("layers") or [] if isinstance(layer, dict)]
    model = next((layer for layer in layers if layer.get("mediaType") == MODEL_LAYER), None)
    if model is None:
        return FoundModel(name, path, SOURCE, "Ollama holds no weights for it on this machine (its manifest has no "
                                              "model layer: a cloud model, or one that was never fully pulled)")
    digest = _DIGEST.match(str(model.get("digest", "")))
    raw_size = model.get("size")
    size = raw_size if isinstance(raw_size, int) else 0
    if digest is None:
        return FoundModel(name, path, SOURCE, f"its manifest {path} names its weights by an invalid digest "
                                              f"{model.get('digest')!r}", size)
    blob_name = f"sha256-{digest.group(1).lower()}"
    blob = store / "blobs" / blob_name
    if not blob.is_file():
        return FoundModel(name, blob, SOURCE, f"the blob {blob_name} is missing: run `ollama pull {name}` again",
                          size)
    if any(layer.get("mediaType") == ADAPTER_LAYER for layer in layers):
        return FoundModel(name, blob, SOURCE, "Ollama applies a LoRA adapter to these weights, and Inkling does "
                                              "not apply adapters (the base model alone would not be this model)",
                          size)
    return FoundModel(name, blob, SOURCE, None, size)


class _ManifestProblem(Exception):
    """Why a manifest cannot be used, worded to follow "its manifest <path>"."""


def _json_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise _ManifestProblem(f"cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise _ManifestProblem("is too large to be a manifest")
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _ManifestProblem(f"is not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise _ManifestProblem("is not a JSON object")
    return parsed


def _gguf_child(store: Path, manifest_list: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a list that Ollama's own (GGUF) runners read; a child may be stored only by digest."""
    children = [child for child in manifest_list.get("manifests") or [] if isinstance(child, dict)]
    formats = sorted({str(child.get("format") or child.get("runner") or "?") for child in children})
    for child in children:
        if str(child.get("format", "")).lower() == "gguf" or str(child.get("runner", "")).lower() in (
                "ollama", "llamacpp"):
            if child.get("layers"):
                return child
            digest = _DIGEST.match(str(child.get("digest", "")))
            if digest is None:
                raise _ManifestProblem("lists a GGUF manifest without a valid digest")
            blob_name = f"sha256-{digest.group(1).lower()}"
            if not (store / "blobs" / blob_name).is_file():
                raise _ManifestProblem(f"lists a GGUF manifest, blob {blob_name}, that is missing: pull the model "
                                       "again")
            return _json_file(store / "blobs" / blob_name)
    raise _ManifestProblem(f"holds no GGUF weights (only {', '.join(formats) or 'nothing'}), which Inkling "
                           "cannot read")
