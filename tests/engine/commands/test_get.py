"""``inkling get``: the catalogue listed headless, and one model downloaded from a local stand-in for the Hub."""

from __future__ import annotations

import pytest

from engine import cli
from engine.commands import get
from engine.loading.catalogue import CatalogueEntry
from tests.support.hub_server import FakeHub

pytest.importorskip("huggingface_hub")

CONTENT = b"GGUF" + bytes(range(256)) * 100


def entries() -> list[CatalogueEntry]:
    common = {"repo_id": "example/Tiny-GGUF", "size_bytes": len(CONTENT), "licence": "Apache-2.0"}
    return [CatalogueEntry(id="tiny", name="Tiny", file_name="tiny.gguf", architecture="llama", **common),
            CatalogueEntry(id="mamba", name="Mamba", file_name="mamba.gguf", architecture="mamba", **common)]


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setattr(get, "load_catalogue", entries)
    folder = tmp_path / "models"
    monkeypatch.setenv("INKLING_USER_MODELS", str(folder))
    return folder


def test_without_an_id_it_lists_the_catalogue(models, capsys):
    assert cli.main(["get"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["ID", "MODEL", "DOWNLOAD"]
    tiny = next(line for line in out.splitlines() if line.startswith("tiny"))
    assert "Apache-2.0" in tiny and "(estimate)" in tiny and tiny.endswith("available")
    assert next(line for line in out.splitlines() if line.startswith("mamba")).endswith("needs mamba")


def test_with_an_id_it_downloads_checks_and_names_the_model(models, capsys, monkeypatch):
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        hub.files.add("example/Tiny-GGUF", "tiny.gguf", CONTENT)
        assert cli.main(["get", "tiny"]) == 0
    captured = capsys.readouterr()
    assert (models / "tiny.gguf").read_bytes() == CONTENT
    assert "--model tiny.gguf" in captured.out
    assert "100%" in captured.err
    assert cli.main(["get", "tiny"]) == 0
    assert "already installed" in capsys.readouterr().out


def test_an_unknown_or_unavailable_id_is_explained(models, capsys):
    assert cli.main(["get", "nope"]) == 1
    assert "choose one of: tiny, mamba" in capsys.readouterr().err
    assert cli.main(["get", "mamba"]) == 1
    assert "needs the mamba family" in capsys.readouterr().err
