"""Models in the local Hugging Face hub cache: discovered, listed, loaded offline by repo id; downloads optional."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

import engine
from engine.errors import ModelNotFoundError
from engine.loading import hub_download
from engine.loading.hub_cache import hub_cache_dir
from engine.loading.registry import hub_cache_models

transformers = pytest.importorskip("transformers")

TINY_LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "max_position_embeddings": 64, "bos_token_id": 0, "eos_token_id": 0}


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf-cache" / "hub"
    root.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "no-user-models"))
    return root


def hf_llama_folder(folder: Path, tokenizer, seed: int = 0, sharded: bool = False,
                    **overrides) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=tokenizer.vocab_size, **{**TINY_LLAMA, **overrides})
    model = transformers.LlamaForCausalLM(config).eval()
    model.save_pretrained(folder, **({"max_shard_size": "20KB"} if sharded else {}))
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder, model


def add_to_cache(hub: Path, repo_id: str, source: Path, revision: str = "0123abcd", main: bool = True) -> Path:
    """Lay ``source``'s files out as huggingface_hub does: content-addressed blobs, snapshot symlinks, refs/main."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for file in sorted(source.iterdir()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    if main:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_cached_model_is_listed_with_size_and_architecture_and_loads_offline(hub, tmp_path, tiny_tokenizer):
    source, reference = hf_llama_folder(tmp_path / "src", tiny_tokenizer)
    snapshot = add_to_cache(hub, "tiny-org/tiny-llama", source)
    assert (snapshot / "model.safetensors").is_symlink()

    [info] = hub_cache_models()
    assert info.name == "tiny-org/tiny-llama"
    assert info.source == "huggingface"
    assert info.architecture == "Transformer (Llama)"
    assert info.path == snapshot
    assert info.size_bytes == (source / "model.safetensors").stat().st_size > 0
    assert "tiny-org/tiny-llama" in [m.name for m in engine.list_models()]

    lm = engine.load("tiny-org/tiny-llama", device="cpu")
    ids = torch.randint(0, tiny_tokenizer.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids)[0], reference(ids).logits, atol=1e-4, rtol=1e-4)


def test_sharded_and_gpt2_models_are_listed_too(hub, tmp_path, tiny_tokenizer):
    from tests.support.tiny_models import make_gpt2_folder

    sharded, _ = hf_llama_folder(tmp_path / "sharded", tiny_tokenizer, sharded=True)
    assert (sharded / "model.safetensors.index.json").exists()
    add_to_cache(hub, "org/sharded-llama", sharded)
    add_to_cache(hub, "gpt2-like", make_gpt2_folder(tmp_path / "gpt2", tiny_tokenizer))
    listed = {m.name: m for m in hub_cache_models()}
    assert set(listed) == {"org/sharded-llama", "gpt2-like"}
    shard_bytes = sum(f.stat().st_size for f in sharded.glob("model-*.safetensors"))
    assert listed["org/sharded-llama"].size_bytes == shard_bytes
    assert listed["gpt2-like"].architecture == "Transformer (GPT-2)"
    assert engine.load("org/sharded-llama", device="cpu").architecture == "Transformer (Llama)"


def test_incompatible_and_broken_entries_are_skipped_silently(hub, tmp_path, tiny_tokenizer):
    good, _ = hf_llama_folder(tmp_path / "good", tiny_tokenizer)
    add_to_cache(hub, "org/good", good)

    def variant(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        return folder

    def edit_config(**values):
        def change(folder: Path) -> None:
            config = json.loads((folder / "config.json").read_text())
            config.update(values)
            (folder / "config.json").write_text(json.dumps(config))
        return change

    add_to_cache(hub, "org/bert", variant("bert", edit_config(model_type="bert")))
    add_to_cache(hub, "org/longrope", variant("longrope", edit_config(
        rope_parameters={"rope_type": "longrope", "rope_theta": 1e4, "short_factor": [1], "long_factor": [1]})))
    add_to_cache(hub, "org/no-tokenizer", variant("no-tokenizer", lambda f: (f / "tokenizer.json").unlink()))
    add_to_cache(hub, "org/bad-json", variant("bad-json", lambda f: (f / "config.json").write_text("{not json")))
    dangling = add_to_cache(hub, "org/dangling", variant("dangling", lambda f: None))
    (dangling / "model.safetensors").resolve().unlink()  # the blob is gone, the snapshot link remains
    partial, _ = hf_llama_folder(tmp_path / "partial", tiny_tokenizer, sharded=True)
    next(partial.glob("model-*.safetensors")).unlink()  # a download that stopped half-way
    add_to_cache(hub, "org/partial", partial)
    (hub / "models--org--empty" / "snapshots").mkdir(parents=True)
    (hub / "datasets--org--good").mkdir()
    (hub / "models--not-a-folder").write_text("")

    assert [m.name for m in hub_cache_models()] == ["org/good"]


def test_refs_main_chooses_the_snapshot_else_the_newest(hub, tmp_path, tiny_tokenizer):
    small, _ = hf_llama_folder(tmp_path / "small", tiny_tokenizer)
    wide, _ = hf_llama_folder(tmp_path / "wide", tiny_tokenizer, hidden_size=64)
    main = add_to_cache(hub, "org/model", small, revision="aaaa")
    newer = add_to_cache(hub, "org/model", wide, revision="bbbb", main=False)
    os.utime(main, (1_000_000, 1_000_000))
    assert hub_cache_models()[0].path == main  # refs/main names "aaaa", although "bbbb" is newer
    (hub / "models--org--model" / "refs" / "main").unlink()
    assert hub_cache_models()[0].path == newer


def test_cache_location_follows_huggingface_rules(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert hub_cache_dir() == tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "explicit"))
    assert hub_cache_dir() == tmp_path / "explicit"


def test_missing_cache_lists_nothing_and_unknown_repo_is_a_clear_error(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "does-not-exist"))
    assert hub_cache_models() == []
    with pytest.raises(ModelNotFoundError, match="Hugging Face cache"):
        engine.load("org/not-downloaded", device="cpu")


# --- optional download -----------------------------------------------------------------------------------------


def test_download_without_huggingface_hub_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import now raises ImportError
    assert not hub_download.hub_available()
    with pytest.raises(hub_download.DownloadError, match=r"pip install 'inkling\[hub\]'"):
        hub_download.download_model("HuggingFaceTB/SmolLM2-135M")


def test_download_fetches_only_what_inkling_reads_and_reports_progress(hub, monkeypatch, tmp_path, tiny_tokenizer):
    source, _ = hf_llama_folder(tmp_path / "remote", tiny_tokenizer, sharded=True)
    (source / "README.md").write_text("card")
    (source / "pytorch_model.bin").write_bytes(b"unused legacy weights")
    fetched: list[str] = []

    def hf_hub_download(repo_id, filename, *, revision=None, tqdm_class=None):
        fetched.append(filename)
        data = (source / filename).read_bytes()
        if tqdm_class is not None:
            bar = tqdm_class(total=len(data), unit="B")
            for start in range(0, len(data), 4096):
                bar.update(len(data[start : start + 4096]))
            bar.close()
        repo = hub / "models--org--remote"
        snapshot = repo / "snapshots" / revision
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
        (snapshot / filename).write_bytes(data)
        return str(snapshot / filename)

    class HfApi:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            siblings = [types.SimpleNamespace(rfilename=f.name, size=f.stat().st_size) for f in source.iterdir()]
            return types.SimpleNamespace(siblings=siblings, sha="feedbeef")

    fake = types.ModuleType("huggingface_hub")
    fake.HfApi, fake.hf_hub_download = HfApi, hf_hub_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    reports: list[tuple[int, int | None, str]] = []

    folder = hub_download.download_model("org/remote", progress=lambda *r: reports.append(r))

    assert "README.md" not in fetched and "pytorch_model.bin" not in fetched
    assert {"config.json", "tokenizer.json", "model.safetensors.index.json"} <= set(fetched)
    assert sum(f.startswith("model-") for f in fetched) == len(list(source.glob("model-*.safetensors")))
    done = [r[0] for r in reports]
    assert done == sorted(done) and len(reports) > len(fetched)  # byte-level updates within files
    assert reports[-1][0] == reports[-1][1] == sum((source / f).stat().st_size for f in fetched)
    assert folder == hub / "models--org--remote" / "snapshots" / "feedbeef"
    assert [m.name for m in hub_cache_models()] == ["org/remote"]


def test_download_refuses_repos_without_what_inkling_needs():
    with pytest.raises(hub_download.DownloadError, match="tokenizer.json"):
        hub_download.files_to_fetch(["config.json", "model.safetensors"])
    with pytest.raises(hub_download.DownloadError, match="weights"):
        hub_download.files_to_fetch(["config.json", "tokenizer.json", "flax_model.msgpack"])
    with pytest.raises(hub_download.DownloadError, match="repo id"):
        hub_download.download_model("not a repo id!")
