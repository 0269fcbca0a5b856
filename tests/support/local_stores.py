"""Fake Ollama model stores, laid out as ``ollama pull`` writes them: content-addressed blobs and manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"


def add_blob(store: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()
    (store / "blobs").mkdir(parents=True, exist_ok=True)
    (store / "blobs" / f"sha256-{digest}").write_bytes(content)
    return f"sha256:{digest}"


def add_manifest(store: Path, name: str, model_digest: str | None, size: int = 0, folder: str = "manifests",
                 host: str = "registry.ollama.ai", extra_layers: tuple[dict, ...] = ()) -> Path:
    """``name`` as ``namespace/model/tag``; a manifest as ``ollama pull`` writes it."""
    layers = [*extra_layers]
    if model_digest is not None:
        layers.insert(0, {"mediaType": MODEL_MEDIA_TYPE, "digest": model_digest, "size": size})
    layers.append({"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64,
                   "size": 12})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": "sha256:" + "2" * 64, "size": 400},
                "layers": layers}
    path = store / folder / host / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path
