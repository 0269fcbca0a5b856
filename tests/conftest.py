"""Shared fixtures: tiny tokenizers and random-weight model folders that every test can build in milliseconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where torch sees a CUDA GPU; elsewhere they are skipped, saying why."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is false)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


SAMPLE_TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the warm sun, and the fox runs into the "
    "forest. A brother and a sister walked along the river; they talked of books, of music and of the weather. "
    "\"Where are you going?\" she asked. \"Home,\" he said, \"before the rain comes.\"\n\n"
    "It was a bright cold day in April, and the clocks were striking thirteen. Hello world! Numbers: 1, 2, 3.\n"
) * 4


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


def make_gpt2_folder(path: Path, tokenizer, *, n_layer=2, n_embd=32, n_head=4, n_positions=128,
                     eos_token_id=0, seed=0) -> Path:
    """Save a random-weight GPT-2 model folder of our own with the given tokenizer."""
    from engine.loading.checkpoint import save_checkpoint
    from engine.models.transformer import Transformer, TransformerConfig

    torch.manual_seed(seed)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, n_positions=n_positions, n_embd=n_embd,
                               n_layer=n_layer, n_head=n_head, eos_token_id=eos_token_id,
                               bos_token_id=eos_token_id)
    model = Transformer(config)
    # Random init gives near-uniform predictions; sharper logits make decoding tests meaningful.
    with torch.no_grad():
        model.wte.weight.mul_(25)
    return save_checkpoint(path, model, tokenizer)


@pytest.fixture
def tiny_gpt2_folder(tmp_path, tiny_tokenizer) -> Path:
    return make_gpt2_folder(tmp_path / "tiny-gpt2", tiny_tokenizer)


@pytest.fixture
def tiny_gpt2(tiny_gpt2_folder):
    import engine

    return engine.load(str(tiny_gpt2_folder), device="cpu")


def make_writing_folder(folder: Path, file_name: str, copies: int = 3) -> Path:
    """A folder of the user's own writing to fine-tune on: ``copies`` files of SAMPLE_TEXT named
    ``file_name.format(i)``."""
    folder.mkdir()
    for i in range(copies):
        (folder / file_name.format(i)).write_text(SAMPLE_TEXT, encoding="utf-8")
    return folder


def plain_settings(**changes):
    """``DecodingSettings.plain`` with token healing and the model's special tokens on, as the app reads a prompt:
    for tests of the decoding machinery itself (caching, scripted continuations). Parity with transformers uses
    ``DecodingSettings.plain()`` itself."""
    from engine.decoding.settings import DecodingSettings

    return DecodingSettings.plain(**{"token_healing": True, "special_tokens": True, **changes})
