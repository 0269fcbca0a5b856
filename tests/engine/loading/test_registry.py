"""Model names to folders: bundled and user models listed, broken folders skipped, names and paths resolved."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import engine
from engine.errors import CheckpointError, ModelNotFoundError
from engine.loading import registry
from engine.loading.registry import ModelInfo, list_models, resolve_model_path, user_models_dir
from tests.support.tiny_models import make_gpt2_folder


@pytest.fixture
def model_dirs(tmp_path, monkeypatch, tiny_tokenizer):
    """A bundled and a user models folder, each with good and broken entries; an empty Hugging Face cache."""
    bundled = tmp_path / "bundled"
    user = tmp_path / "user"
    monkeypatch.setattr(registry, "bundled_models_dir", lambda: bundled)
    monkeypatch.setenv("INKLING_USER_MODELS", str(user))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.chdir(tmp_path)  # relative names must not be found by accident in the test runner's folder

    alpha = make_gpt2_folder(bundled / "alpha", tiny_tokenizer, seed=1)
    make_gpt2_folder(user / "beta", tiny_tokenizer, seed=2)
    make_gpt2_folder(user / "gamma", tiny_tokenizer, seed=3)
    make_gpt2_folder(user / "alpha", tiny_tokenizer, seed=4)  # same name as a bundled model

    broken_config = shutil.copytree(alpha, user / "broken-config")
    (broken_config / "config.json").write_text("{ not json")
    (shutil.copytree(alpha, user / "no-weights") / "model.safetensors").unlink()
    (shutil.copytree(alpha, user / "no-tokenizer") / "tokenizer.json").unlink()
    unknown = shutil.copytree(alpha, user / "unknown-family")
    (unknown / "config.json").write_text('{"model_type": "bert"}')
    shutil.copytree(alpha, bundled / ".alpha.old-1234")  # what a crash between two renames leaves behind
    shutil.copytree(alpha, user / ".beta.x8k2")  # a save in progress
    (user / "notes.txt").write_text("not a model")
    return bundled, user


def test_models_are_listed_bundled_first_then_user_and_broken_ones_are_skipped(model_dirs):
    bundled, user = model_dirs
    models = list_models()
    assert [(m.source, m.name) for m in models] == [
        ("bundled", "alpha"), ("user", "alpha"), ("user", "beta"), ("user", "gamma"),
    ]
    assert models[0] == ModelInfo("alpha", bundled / "alpha", "bundled", "Transformer (GPT-2)",
                                  (bundled / "alpha" / "model.safetensors").stat().st_size)
    assert [m.path for m in models[1:]] == [user / "alpha", user / "beta", user / "gamma"]


def test_nothing_is_listed_when_the_folders_do_not_exist(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "bundled_models_dir", lambda: tmp_path / "no-bundled")
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "no-user"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-cache"))
    assert list_models() == []


def test_user_models_dir_follows_the_environment_override(tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "mine"))
    assert user_models_dir() == tmp_path / "mine"
    monkeypatch.delenv("INKLING_USER_MODELS")
    assert user_models_dir().parts[-2:] == ("inkling", "models")


def test_a_name_resolves_to_the_bundled_model_before_the_users(model_dirs):
    bundled, user = model_dirs
    assert resolve_model_path("alpha") == bundled / "alpha"
    assert resolve_model_path("beta") == user / "beta"


def test_a_folder_path_resolves_to_itself(model_dirs, tmp_path, tiny_tokenizer):
    elsewhere = make_gpt2_folder(tmp_path / "somewhere" / "my-model", tiny_tokenizer)
    assert resolve_model_path(str(elsewhere)) == elsewhere
    assert resolve_model_path(elsewhere) == elsewhere
    assert resolve_model_path("somewhere/my-model") == Path("somewhere/my-model")  # relative to the working folder


def test_load_by_name_loads_that_folder(model_dirs):
    _, user = model_dirs
    lm = engine.load("gamma", device="cpu")
    assert lm.path == user / "gamma"
    assert lm.name == "gamma"


def test_a_broken_folder_of_that_name_reports_its_problem_rather_than_not_found(model_dirs):
    _, user = model_dirs
    with pytest.raises(CheckpointError) as caught:
        engine.load("broken-config", device="cpu")
    assert caught.value.path == user / "broken-config" / "config.json"


@pytest.mark.parametrize("name", ["nonexistent", "alpha/extra", ".alpha.old-1234", ".beta.x8k2"])
def test_an_unknown_name_is_a_clear_model_not_found_error(model_dirs, name):
    with pytest.raises(ModelNotFoundError, match="inkling models") as caught:
        resolve_model_path(name)
    assert repr(name) in str(caught.value)


def test_an_empty_name_is_a_model_not_found_error(model_dirs):
    with pytest.raises(ModelNotFoundError, match="no model name or path given"):
        resolve_model_path("  ")


def test_dot_names_are_paths_not_entries_of_the_models_folders(model_dirs):
    bundled, _ = model_dirs
    assert resolve_model_path("..") == Path("..")  # the working folder's parent, as a path would mean
    assert resolve_model_path("..") != bundled / ".."


def test_default_is_a_clear_error_until_a_default_model_is_bundled(model_dirs, tiny_tokenizer):
    bundled, _ = model_dirs
    with pytest.raises(ModelNotFoundError, match="bundled default model is missing"):
        resolve_model_path("default")
    make_gpt2_folder(bundled / "default", tiny_tokenizer)
    assert resolve_model_path("default") == bundled / "default"


def test_size_text_is_human_readable():
    assert ModelInfo("m", Path("m"), "user", "Transformer (GPT-2)", 497_000_000).size_text == "497 MB"


def test_a_folder_the_user_opened_is_listed_by_its_path_until_it_is_gone(model_dirs, tmp_path, tiny_tokenizer):
    from engine.loading.model_catalog import catalog_path, remember_model

    elsewhere = make_gpt2_folder(tmp_path / "projects" / "my-model", tiny_tokenizer, seed=5)
    remember_model(elsewhere)
    remember_model(model_dirs[1] / "beta")  # already listed as a user model: not twice
    opened = [m for m in list_models() if m.source == "opened"]
    assert [(m.name, m.path) for m in opened] == [(str(elsewhere.resolve()), elsewhere.resolve())]
    assert resolve_model_path(opened[0].name) == elsewhere.resolve()
    shutil.rmtree(elsewhere)
    assert not [m for m in list_models() if m.source == "opened"]
    catalog_path().write_text("{ damaged", encoding="utf-8")
    assert [m.source for m in list_models()] == ["bundled", "user", "user", "user"]
