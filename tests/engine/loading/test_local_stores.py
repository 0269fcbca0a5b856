"""Models Ollama and LM Studio keep on this machine: found in fake stores built here (the layouts those apps write),
listed with what they are and whether they load, loaded by the names those apps give them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gguf import GGUFWriter

import engine
from engine.errors import ModelNotFoundError
from engine.loading import gguf_descriptions
from engine.loading.local_stores import find_store_model, lmstudio_folders, ollama_stores
from engine.loading.local_stores.lmstudio import settings_files
from engine.loading.local_stores.ollama import ollama_store_candidates, parse_name
from engine.loading.registry import list_models, resolve_model_path
from tests.support.gguf_files import tiny_config, write_model
from tests.support.local_stores import MODEL_MEDIA_TYPE, add_blob, add_manifest
from tests.support.paths import SHARED_GGUF


@pytest.fixture(scope="module")
def good_gguf(tmp_path_factory) -> Path:
    """A small Llama GGUF that loads (Q8_0, like many files people pull)."""
    path, _ = write_model(tmp_path_factory.mktemp("gguf"), tiny_config("llama"), "Q8_0", name="good.gguf")
    return path


@pytest.fixture(scope="module")
def mamba_gguf(tmp_path_factory) -> Path:
    """A GGUF of an architecture Inkling does not compute."""
    path = tmp_path_factory.mktemp("gguf") / "mamba.gguf"
    writer = GGUFWriter(str(path), "mamba")
    writer.add_file_type(15)  # Q4_K_M
    import numpy as np

    writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def ollama_store(tmp_path, monkeypatch, good_gguf, mamba_gguf) -> Path:
    store = tmp_path / "ollama-models"
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    good = add_blob(store, good_gguf.read_bytes())
    add_manifest(store, "library/smollm2/135m", good, good_gguf.stat().st_size)
    add_manifest(store, "someone/custom/v1", good)
    add_manifest(store, "org/Repo-GGUF/Q8_0", good, host="hf.co")
    add_manifest(store, "library/snake/latest", add_blob(store, mamba_gguf.read_bytes()))
    add_manifest(store, "library/gone/1b", "sha256:" + "ab" * 32, size=770_000_000)  # blob deleted by hand
    return store


def listed(source: str) -> dict[str, engine.ModelInfo]:
    return {m.name: m for m in list_models() if m.source == source}


def test_ollama_models_are_listed_by_the_names_ollama_gives_them(ollama_store, good_gguf):
    models = listed("ollama")
    assert set(models) == {"smollm2:135m", "someone/custom:v1", "hf.co/org/Repo-GGUF:Q8_0", "snake:latest",
                           "gone:1b"}
    smollm2 = models["smollm2:135m"]
    assert smollm2.problem is None
    assert (smollm2.architecture, smollm2.quantization) == ("Transformer (Llama)", "F32")
    assert smollm2.size_bytes == good_gguf.stat().st_size
    assert smollm2.path.parent == ollama_store / "blobs" and smollm2.path.name.startswith("sha256-")


def test_unsupported_and_broken_ollama_models_are_listed_with_the_reason(ollama_store):
    models = listed("ollama")
    assert "'mamba' is not one Inkling computes" in (models["snake:latest"].problem or "")
    assert models["snake:latest"].quantization == "Q4_K_M"
    gone = models["gone:1b"]
    assert gone.problem == f"the blob sha256-{'ab' * 32} is missing: run `ollama pull gone:1b` again"
    assert gone.size_bytes == 770_000_000  # what the manifest says it would take


def test_engine_load_and_inkling_complete_take_an_ollama_name(ollama_store, capsys):
    from engine.cli import main

    lm = engine.load("smollm2:135m", device="cpu")
    assert lm.name == "smollm2:135m"
    assert lm.tokenizer.decode(lm.tokenizer.encode("Once upon a time")) == "Once upon a time"
    assert resolve_model_path("registry.ollama.ai/library/smollm2:135m") == lm.path
    assert resolve_model_path("SmolLM2:135m") == lm.path  # Ollama's names ignore case
    assert main(["complete", "--model", "smollm2:135m", "--device", "cpu", "--max-new-tokens", "2", "Hello"]) == 0
    assert capsys.readouterr().out.strip()


def test_an_ollama_model_whose_blob_is_missing_is_refused_saying_what_to_do(ollama_store):
    with pytest.raises(ModelNotFoundError, match=r"Ollama model gone:1b: the blob sha256-(ab)+ is missing: run "
                                                 r"`ollama pull gone:1b` again"):
        engine.load("gone:1b", device="cpu")


def test_a_bare_model_name_means_its_latest_tag(ollama_store):
    assert find_store_model("snake").name == "snake:latest"
    assert find_store_model("smollm2") is None  # only 135m was pulled


@pytest.mark.parametrize("text, parts", [
    ("smollm2:135m", ("registry.ollama.ai", "library", "smollm2", "135m")),
    ("smollm2", ("registry.ollama.ai", "library", "smollm2", "latest")),
    ("someone/custom:v1", ("registry.ollama.ai", "someone", "custom", "v1")),
    ("hf.co/org/Repo-GGUF:Q4_K_M", ("hf.co", "org", "Repo-GGUF", "Q4_K_M")),
    ("../../etc:passwd", None), ("a/b/c/d:e", None), ("model.gguf", None), ("C:\\models\\x", None), ("", None),
])
def test_ollama_names_are_read_as_ollama_reads_them(text, parts):
    assert parse_name(text) == parts


def test_a_manifest_cannot_point_outside_the_blobs_folder(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    add_manifest(store, "library/evil/latest", "sha256:../../../../etc/passwd")
    [evil] = list(listed("ollama").values())
    assert "invalid digest" in (evil.problem or "")


def test_newer_ollama_manifests_and_manifest_lists_are_read(tmp_path, monkeypatch, good_gguf):
    """Ollama's manifests-v2 (host ollama.com, read before the legacy folder) and manifest lists, whose GGUF
    child may be stored only by its digest."""
    store = tmp_path / "store"
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    good = add_blob(store, good_gguf.read_bytes())
    add_manifest(store, "library/twice/1b", "sha256:" + "cd" * 32)  # a stale legacy manifest
    add_manifest(store, "library/twice/1b", good, folder="manifests-v2", host="ollama.com")
    child = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "config": {"digest": "sha256:" + "2" * 64}, "layers": [{"mediaType": MODEL_MEDIA_TYPE, "digest": good}]}
    child_digest = add_blob(store, json.dumps(child).encode())
    for name, children in (
            ("library/listed/1b", [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                    "runner": "mlx", "format": "safetensors", "digest": "sha256:" + "3" * 64},
                                   {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                    "runner": "ollama", "format": "gguf", "digest": child_digest}]),
            ("library/mlx-only/1b", [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "runner": "mlx", "format": "safetensors", "digest": "sha256:" + "3" * 64}])):
        path = store / "manifests-v2" / "ollama.com" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.ollama.manifest.list.v2+json",
                                    "manifests": children}), encoding="utf-8")
    models = listed("ollama")
    assert set(models) == {"twice:1b", "listed:1b", "mlx-only:1b"}
    assert models["twice:1b"].problem is None and models["listed:1b"].problem is None
    assert "holds no GGUF weights (only safetensors)" in (models["mlx-only:1b"].problem or "")


def test_the_default_ollama_store_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("OLLAMA_MODELS")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ollama" / "models").mkdir(parents=True)
    assert ollama_stores()[0] == tmp_path / ".ollama" / "models"
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "moved"))
    (tmp_path / "moved").mkdir()
    assert ollama_stores() == [tmp_path / "moved"]  # OLLAMA_MODELS replaces the defaults, as in Ollama


@pytest.fixture
def lmstudio_folder(tmp_path, monkeypatch, good_gguf, mamba_gguf) -> Path:
    folder = tmp_path / "lmstudio-models"
    monkeypatch.setenv("INKLING_LMSTUDIO_MODELS", str(folder))
    repo = folder / "lmstudio-community" / "Tiny-GGUF"
    repo.mkdir(parents=True)
    (repo / "Tiny-Q8_0.gguf").write_bytes(good_gguf.read_bytes())
    (repo / "mmproj-Tiny-F16.gguf").write_bytes(mamba_gguf.read_bytes())
    big = folder / "someone" / "Big-GGUF"
    big.mkdir(parents=True)
    for part in (1, 2):
        (big / f"Big-Q4_K_M-0000{part}-of-00002.gguf").write_bytes(mamba_gguf.read_bytes())
    (folder / "someone" / "Big-GGUF" / "README.md").write_text("not a model")
    return folder


def test_lmstudio_models_are_listed_by_publisher_repo_and_file(lmstudio_folder):
    models = listed("lmstudio")
    assert set(models) == {"lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf",
                           "lmstudio-community/Tiny-GGUF/mmproj-Tiny-F16.gguf",
                           "someone/Big-GGUF/Big-Q4_K_M-00001-of-00002.gguf"}  # one entry for a split model
    tiny = models["lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf"]
    assert tiny.problem is None and tiny.architecture == "Transformer (Llama)"
    assert "split across several files" in (models["someone/Big-GGUF/Big-Q4_K_M-00001-of-00002.gguf"].problem or "")
    assert "not one Inkling computes" in (models["lmstudio-community/Tiny-GGUF/mmproj-Tiny-F16.gguf"].problem or "")


def test_engine_load_takes_an_lmstudio_name_and_never_leaves_its_folder(lmstudio_folder):
    lm = engine.load("lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf", device="cpu")
    assert lm.name == "lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf"
    assert find_store_model("lmstudio-community/../../x.gguf") is None
    assert find_store_model("a/b/../../lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf") is None


def test_lmstudio_folders_follow_its_settings_and_home_pointer(tmp_path, monkeypatch):
    monkeypatch.delenv("INKLING_LMSTUDIO_MODELS")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    legacy = tmp_path / ".cache" / "lm-studio" / "models"
    legacy.mkdir(parents=True)
    assert lmstudio_folders() == [legacy]
    home = tmp_path / "elsewhere" / "lmstudio-home"
    (home / "models").mkdir(parents=True)
    (tmp_path / ".lmstudio-home-pointer").write_text(f"{home}\n", encoding="utf-8")
    assert lmstudio_folders() == [home / "models", legacy]
    moved = tmp_path / "big-disk" / "models"
    moved.mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps({"downloadsFolder": str(moved)}), encoding="utf-8")
    assert lmstudio_folders() == [moved, home / "models", legacy]


def test_inkling_models_lists_store_models_and_why_they_cannot_load(ollama_store, lmstudio_folder, capsys):
    from engine.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    smollm2 = next(line for line in lines if line.startswith("smollm2:135m "))
    assert " ollama " in smollm2 and "Transformer (Llama) F32" in smollm2 and "cannot load" not in smollm2
    gone = next(line for line in lines if line.startswith("gone:1b "))
    assert "cannot load: the blob sha256-" in gone
    assert any(line.startswith("lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf ") and " lmstudio " in line
               for line in lines)


def test_listing_reads_each_gguf_header_once_until_the_file_changes(ollama_store, monkeypatch, good_gguf):
    gguf_descriptions.forget_descriptions()
    reads: list[Path] = []
    original = gguf_descriptions.describe_gguf
    monkeypatch.setattr(gguf_descriptions, "describe_gguf", lambda path: (reads.append(Path(path)), original(path))[1])
    list_models()
    first = len(reads)
    assert first == 2  # the two distinct blobs; the names sharing a blob read it once
    list_models()
    assert len(reads) == first
    blob = listed("ollama")["snake:latest"].path
    blob.write_bytes(blob.read_bytes() + b"\0" * 64)  # replaced by a new pull
    list_models()
    assert reads[first:] == [blob]


def test_descriptions_are_kept_on_disk_for_the_next_start(ollama_store, monkeypatch):
    list_models()
    gguf_descriptions.forget_descriptions()  # as a new process would start
    reads: list[Path] = []
    original = gguf_descriptions.describe_gguf
    monkeypatch.setattr(gguf_descriptions, "describe_gguf", lambda path: (reads.append(Path(path)), original(path))[1])
    assert listed("ollama")["snake:latest"].problem  # the same answers, from the file
    assert reads == []
    monkeypatch.setattr(gguf_descriptions, "_code_version", lambda: "a newer Inkling")
    gguf_descriptions.forget_descriptions()
    list_models()
    assert len(reads) == 2  # a new describing code reads every file afresh


def test_a_damaged_description_cache_is_read_as_empty(ollama_store):
    gguf_descriptions.cache_path().parent.mkdir(parents=True, exist_ok=True)
    gguf_descriptions.cache_path().write_text("{ damaged", encoding="utf-8")
    gguf_descriptions.forget_descriptions()
    assert listed("ollama")["smollm2:135m"].problem is None


@pytest.mark.skipif(not SHARED_GGUF.is_file(), reason="the shared SmolLM2 GGUF is not on this machine")
def test_the_shared_smollm2_file_pulled_by_ollama_is_listed_as_it_is(tmp_path, monkeypatch):
    """What `ollama pull smollm2:135m` leaves: a manifest, and the GGUF as a blob without a suffix (linked here)."""
    store = tmp_path / "store"
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    digest = "sha256:" + "5" * 64  # not hashed: 100 MB; Inkling never checks a blob's digest
    (store / "blobs").mkdir(parents=True)
    (store / "blobs" / digest.replace(":", "-")).symlink_to(SHARED_GGUF)
    add_manifest(store, "library/smollm2/135m", digest, SHARED_GGUF.stat().st_size)
    [smollm2] = [m for m in list_models() if m.source == "ollama"]
    assert (smollm2.name, smollm2.architecture, smollm2.quantization, smollm2.problem) == (
        "smollm2:135m", "Transformer (Llama)", "Q4_1", None)
    assert resolve_model_path("smollm2:135m").resolve() == SHARED_GGUF.resolve()


@pytest.mark.parametrize("platform, service", [("linux", True), ("darwin", False), ("win32", False)])
def test_ollama_looks_where_each_platform_installs_it(tmp_path, monkeypatch, platform, service):
    monkeypatch.delenv("OLLAMA_MODELS")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "profile"))  # %USERPROFILE% on Windows
    expected = [tmp_path / "profile" / ".ollama" / "models"]
    if service:
        expected.append(Path("/usr/share/ollama/.ollama/models"))
    assert ollama_store_candidates(platform) == expected


@pytest.mark.parametrize("platform, legacy", [
    ("win32", Path("appdata") / "LM Studio" / "settings.json"),
    ("darwin", Path("home") / "Library" / "Application Support" / "LM Studio" / "settings.json"),
    ("linux", Path("config") / "LM Studio" / "settings.json"),
])
def test_lmstudio_settings_are_read_where_each_platform_kept_them(tmp_path, monkeypatch, platform, legacy):
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    lmstudio_home = tmp_path / "home" / ".lmstudio"
    assert settings_files(lmstudio_home, platform) == [lmstudio_home / "settings.json", tmp_path / legacy]


def test_a_quick_listing_never_waits_for_a_header_it_has_not_read(ollama_store, monkeypatch, good_gguf):
    gguf_descriptions.forget_descriptions()
    original = gguf_descriptions.describe_gguf
    monkeypatch.setattr(gguf_descriptions, "describe_gguf", lambda path: pytest.fail(f"read {path}"))
    quick = {m.name: m for m in list_models(read_headers=False) if m.source == "ollama"}
    smollm2 = quick["smollm2:135m"]
    assert smollm2.unread and smollm2.architecture == "?" and smollm2.problem is None
    assert smollm2.size_bytes == good_gguf.stat().st_size
    assert not quick["gone:1b"].unread and quick["gone:1b"].problem  # the store alone says why
    monkeypatch.setattr(gguf_descriptions, "describe_gguf", original)
    list_models()  # reads them (on a thread of its own, in the app)
    quick = {m.name: m for m in list_models(read_headers=False) if m.source == "ollama"}
    assert not quick["smollm2:135m"].unread and quick["smollm2:135m"].architecture == "Transformer (Llama)"
