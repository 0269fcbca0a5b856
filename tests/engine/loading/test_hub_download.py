"""Model ▸ Download Model…'s fetch of a Hub model folder checks each Git LFS file against the Hub's sha256
(issue 32 item 3): a file that does not match is deleted from the cache and the model is not listed."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from engine.loading.hub_cache import cached_snapshots
from engine.loading.hub_download import DownloadError, download_model


def fake_hub(source: Path, cache: Path, published: dict[str, str]) -> types.ModuleType:
    """A ``huggingface_hub`` stand-in: ``model_info`` lists ``source``'s files with ``published`` as their LFS
    sha256; ``hf_hub_download`` lays them out as the hub cache does (blobs and snapshot links)."""

    def model_info(repo_id, revision=None, files_metadata=False):
        siblings = [types.SimpleNamespace(
            rfilename=f.name, size=f.stat().st_size,
            lfs={"sha256": published[f.name], "size": f.stat().st_size} if f.name in published else None)
            for f in source.iterdir()]
        return types.SimpleNamespace(siblings=siblings, sha="feedbeef")

    def hf_hub_download(repo_id, filename, *, revision=None):
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        content = (source / filename).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        snapshot = repo / "snapshots" / revision
        blob.parent.mkdir(parents=True, exist_ok=True)
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
        blob.write_bytes(content)
        (snapshot / filename).symlink_to(blob)
        return str(snapshot / filename)

    module = types.ModuleType("huggingface_hub")
    module.HfApi = lambda: types.SimpleNamespace(model_info=model_info)
    module.hf_hub_download = hf_hub_download
    return module


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf-cache" / "hub"
    root.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_weights_matching_the_hub_sha256_install(tiny_gpt2_folder, cache, monkeypatch):
    published = {"model.safetensors": sha256_of(tiny_gpt2_folder / "model.safetensors")}
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub(tiny_gpt2_folder, cache, published))
    folder = download_model("org/tiny")
    assert (folder / "model.safetensors").is_file()
    assert [repo for repo, _snapshot in cached_snapshots()] == ["org/tiny"]


def test_weights_that_do_not_match_are_deleted_and_not_listed(tiny_gpt2_folder, cache, monkeypatch):
    published = {"model.safetensors": "0" * 64}
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub(tiny_gpt2_folder, cache, published))
    with pytest.raises(DownloadError, match="model.safetensors from org/tiny failed its checksum"):
        download_model("org/tiny")
    assert cached_snapshots() == []
    assert not any(p.name == sha256_of(tiny_gpt2_folder / "model.safetensors") for p in cache.rglob("*"))
