"""The model catalogue of Model ▸ Get Models…: its data file, and which entries the engine can run."""

from __future__ import annotations

import json

import pytest

from engine.loading import catalogue, gguf_file
from engine.loading.catalogue import CatalogueError, load_catalogue


def test_the_shipped_catalogue_offers_what_the_issue_asks_for():
    entries = load_catalogue()
    names = " ".join(entry.name for entry in entries)
    for wanted in ("SmolLM2 135M", "SmolLM2 360M", "Qwen2.5 0.5B", "Qwen3 0.6B", "Gemma 3 270M", "Gemma 3 1B",
                   "Qwen2.5 1.5B"):
        assert wanted in names
    for entry in entries:
        assert entry.licence and entry.size_bytes > 0 and "/" in entry.repo_id
        assert entry.memory_bytes > entry.size_bytes
        assert entry.tokens_per_second > 0


def test_the_catalogue_is_shipped_as_package_data():
    assert catalogue.CATALOGUE_FILE.parent.name == "loading"  # inside the engine package: pyproject's "*.json"


def test_an_entry_is_available_only_when_the_engine_computes_its_architecture(monkeypatch):
    gemma = next(entry for entry in load_catalogue() if entry.architecture == "gemma3")
    monkeypatch.setattr(gguf_file, "ARCHITECTURE_MODEL_TYPES", {"llama": "llama"})
    assert not gemma.available
    assert "gemma3" in gemma.unavailable_reason and "llama" in gemma.unavailable_reason
    monkeypatch.setattr(gguf_file, "ARCHITECTURE_MODEL_TYPES", {"llama": "llama", "gemma3": "gemma3"})
    assert gemma.available and gemma.unavailable_reason is None


def test_every_llama_qwen_and_gemma_entry_is_available():
    for entry in load_catalogue():
        if entry.architecture in ("llama", "qwen2", "qwen3", "gemma3"):
            assert entry.available, entry.name


def test_speed_is_an_estimate_until_measured(tmp_path):
    path = tmp_path / "catalogue.json"
    base = {"id": "a", "name": "A", "repo_id": "o/a", "file_name": "a.gguf", "size_bytes": 100_000_000,
            "architecture": "llama", "licence": "MIT"}
    path.write_text(json.dumps({"models": [base, {**base, "id": "b", "measured_tokens_per_second": 31.5}]}))
    estimated, measured = load_catalogue(path)
    assert estimated.speed_is_estimate and estimated.tokens_per_second == pytest.approx(25.0)
    assert not measured.speed_is_estimate and measured.tokens_per_second == 31.5


def test_installed_means_the_file_is_in_the_models_folder(tmp_path):
    entry = load_catalogue()[0]
    assert not entry.is_installed(tmp_path)
    (tmp_path / f".{entry.file_name}.0123.part").write_bytes(b"half")  # a partial download is not installed
    assert not entry.is_installed(tmp_path)
    entry.installed_path(tmp_path).write_bytes(b"GGUF")
    assert entry.is_installed(tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    ({"sha256": "XYZ"}, "sha256 must be"),
    ({"file_name": "../evil.gguf"}, "plain .gguf file name"),
    ({"file_name": "model.bin"}, "plain .gguf file name"),
    ({"licence": ""}, "lacks licence"),
    ({"size_bytes": -1}, "size_bytes"),
])
def test_a_bad_entry_is_named_with_the_file(tmp_path, change, message):
    path = tmp_path / "catalogue.json"
    entry = {"id": "a", "name": "A", "repo_id": "o/a", "file_name": "a.gguf", "size_bytes": 1,
             "architecture": "llama", "licence": "MIT", **change}
    path.write_text(json.dumps({"models": [entry]}))
    with pytest.raises(CatalogueError, match=message) as caught:
        load_catalogue(path)
    assert str(path) in str(caught.value)
