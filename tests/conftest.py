"""Shared fixtures: tiny tokenizers and random-weight model folders that every test can build in milliseconds, and
private user folders. The helpers they are built from are in ``tests/support``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.support.samples import SAMPLE_TEXT
from tests.support.tiny_models import make_gpt2_folder

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where torch sees a CUDA GPU; elsewhere they are skipped, saying why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is false)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _private_user_data(tmp_path_factory, monkeypatch):
    """No test reads or writes the real user data folder (the model catalog, evaluation history), nor lists the
    models of this machine's Ollama or LM Studio (folders that do not exist: no store)."""
    user_data = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("INKLING_DATA_DIR", str(user_data))
    monkeypatch.setenv("INKLING_CACHE_DIR", str(user_data / "cache"))
    monkeypatch.setenv("OLLAMA_MODELS", str(user_data / "no-ollama"))
    monkeypatch.setenv("INKLING_LMSTUDIO_MODELS", str(user_data / "no-lmstudio"))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A byte-level BPE of about 400 tokens, trained on SAMPLE_TEXT; id 0 is <|endoftext|>."""
    from engine.training.bpe import train_bpe_tokenizer

    return train_bpe_tokenizer([SAMPLE_TEXT], vocab_size=400)


@pytest.fixture
def tiny_gpt2_folder(tmp_path, tiny_tokenizer) -> Path:
    return make_gpt2_folder(tmp_path / "tiny-gpt2", tiny_tokenizer)


@pytest.fixture
def tiny_gpt2(tiny_gpt2_folder):
    import engine

    return engine.load(str(tiny_gpt2_folder), device="cpu")


@pytest.fixture
def app_dirs(tmp_path, monkeypatch) -> dict:
    """Private settings, recovery and user-model folders for one window of the app."""
    dirs = {"config_dir": tmp_path / "config", "data_dir": tmp_path / "data"}
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "user-models"))
    monkeypatch.setenv("INKLING_DATA_DIR", str(dirs["data_dir"]))  # the engine's side: the model catalog
    return dirs
