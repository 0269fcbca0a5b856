"""A config.json's numbers are weighed before the model is built: an absurd layer count, a layer count the weights
do not have, or sizes that cannot fit in memory are refused at once, naming the field (issue 32 item 11)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import engine
import engine.loading.config_size
from engine.errors import CheckpointError, ModelTooBigError
from engine.loading import checkpoint
from engine.loading.checkpoint import load_checkpoint, save_checkpoint, shapes_only
from engine.loading.config_size import MAX_LAYERS, biggest_field, config_size
from engine.loading.families import FAMILIES
from engine.models.attention_lstm import AttentionLSTM, AttentionLSTMConfig
from engine.models.gemma3 import Gemma3Config, Gemma3Transformer
from engine.models.llama import LlamaConfig, LlamaTransformer
from tests.support.tiny_models import make_gpt2_folder


def _rewrite_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}), encoding="utf-8")


def _folders(tmp_path: Path, tokenizer) -> dict[str, Path]:
    vocab = tokenizer.vocab_size
    models = {
        "gpt2": None,
        "llama": LlamaTransformer(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=48,
                                              num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2)),
        "gemma3": Gemma3Transformer(Gemma3Config(vocab_size=vocab, hidden_size=32, intermediate_size=48,
                                                 num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                                 head_dim=8, layer_types=["sliding_attention", "full_attention",
                                                                          "sliding_attention"])),
        "lstm": AttentionLSTM(AttentionLSTMConfig(vocab_size=vocab, n_embd=32, hidden_size=32, n_layer=3)),
    }
    folders = {}
    for name, model in models.items():
        if model is None:
            folders[name] = make_gpt2_folder(tmp_path / name, tokenizer, n_layer=3)
        else:
            folders[name] = save_checkpoint(tmp_path / name, model, tokenizer)
    return folders


def test_the_estimate_is_the_parameter_count_of_every_family(tmp_path, tiny_tokenizer):
    for name, folder in _folders(tmp_path, tiny_tokenizer).items():
        config = checkpoint.read_config(folder)
        size = config_size(config, folder / "config.json")
        assert size is not None and size.layers == 3, name
        with shapes_only():
            model = FAMILIES[config["model_type"]].build(config)
        assert size.parameters == sum(p.numel() for p in model.parameters()), name
        assert size.layers_key == ("n_layer" if name in ("gpt2", "lstm") else "num_hidden_layers")


def test_a_million_layers_is_refused_at_once_naming_the_field(tmp_path, tiny_tokenizer, monkeypatch):
    folder = _folders(tmp_path, tiny_tokenizer)["llama"]
    _rewrite_config(folder, num_hidden_layers=1_000_000)
    built = []
    family = FAMILIES["llama"]
    monkeypatch.setitem(FAMILIES, "llama", dataclasses.replace(family, build=lambda c: built.append(c) or family.build(c)))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"config\.json: num_hidden_layers is 1,000,000: no language model"):
        engine.load(str(folder), device="cpu")
    assert not built  # refused from the number alone: not even the one-layer model used for counting
    assert time.perf_counter() - started < 5  # generous for a loaded 2-core machine; it took minutes, then OOM


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma3"])
def test_more_layers_than_the_weights_hold_is_refused_before_building(tmp_path, tiny_tokenizer, family):
    folder = _folders(tmp_path, tiny_tokenizer)[family]
    key = "n_layer" if family == "gpt2" else "num_hidden_layers"
    changes: dict = {key: MAX_LAYERS}
    if family == "gemma3":
        changes["layer_types"] = ["full_attention"] * MAX_LAYERS
    _rewrite_config(folder, **changes)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=rf"config\.json: {key} is 2,048 but model\.safetensors holds the "
                                              r"weights of 3 layer\(s\): the settings do not match the weights"):
        load_checkpoint(folder)
    # Without the check: 2,048 layers built one by one (seconds here), then "N tensor(s) missing".
    assert time.perf_counter() - started < 2


def test_sizes_that_cannot_fit_are_refused_naming_the_biggest_field(tmp_path, tiny_tokenizer, monkeypatch):
    folder = _folders(tmp_path, tiny_tokenizer)["llama"]
    monkeypatch.setattr(engine.loading.config_size, "available_memory_bytes", lambda: 8 * 10**9)
    read = []
    original = checkpoint._read_weights
    monkeypatch.setattr(checkpoint, "_read_weights", lambda *a: read.append(a) or original(*a))
    _rewrite_config(folder, intermediate_size=20_000_000)
    with pytest.raises(ModelTooBigError, match=r"config\.json: intermediate_size = 20,000,000 \(published models "
                                               r"have at most 53,248\) makes the model too big to load: 3 layers \(num_hidden_layers\) of [\d,]+ parameters "
                                               r"each .* about [\d.]+ GB in float32, and only 8 GB is free"):
        load_checkpoint(folder)
    _rewrite_config(folder, intermediate_size=48, hidden_size=4_000_000)
    with pytest.raises(ModelTooBigError, match=r"hidden_size = 4,000,000 \(published models have at most 16,384\) makes the model too big"):
        load_checkpoint(folder)
    assert not read  # nothing of the weights was read


def test_a_config_the_memory_holds_still_loads(tmp_path, tiny_tokenizer, monkeypatch):
    folders = _folders(tmp_path, tiny_tokenizer)
    monkeypatch.setattr(engine.loading.config_size, "available_memory_bytes", lambda: 10**9)
    for folder in folders.values():
        load_checkpoint(folder)


def test_the_build_itself_counts_against_free_memory(tmp_path, tiny_tokenizer, monkeypatch):
    # 2,000 tiny layers: a few MB of weights but ~128 MB of modules. A pytorch_model.bin has no headers to count its
    # layers from, so only the memory check stands between such a config and the build.
    folder = _folders(tmp_path, tiny_tokenizer)["llama"]
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    load_checkpoint(folder)
    _rewrite_config(folder, num_hidden_layers=2000)
    monkeypatch.setattr(engine.loading.config_size, "available_memory_bytes", lambda: 50 * 10**6)
    with pytest.raises(ModelTooBigError, match=r"num_hidden_layers = 2,000 \(published models have at most 126\) "
                                               r"makes the model too big .* only 50 MB is free"):
        load_checkpoint(folder)


def test_the_biggest_field_is_the_one_the_count_grows_with_most():
    config = {"model_type": "llama", "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 96,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "eos_token_id": 999}
    for changes, field in (({"vocab_size": 10**7}, "vocab_size"), ({"num_hidden_layers": 1000}, "num_hidden_layers"),
                           ({"hidden_size": 4096}, "hidden_size"), ({"intermediate_size": 10**6}, "intermediate_size")):
        changed = {**config, **changes}
        size = config_size(changed, Path("config.json"))
        assert size is not None
        assert biggest_field(changed, size) == (field, changes[field])



@pytest.mark.parametrize(("layers", "problem"), [
    (1_000_000, r"metadata llama\.block_count is 1,000,000: no language model has more than a few hundred layers"),
    (40, r"metadata llama\.block_count is 40 but the file holds the weights of 2 layer\(s\)"),
])
def test_a_gguf_whose_block_count_its_tensors_do_not_have_is_refused_before_building(tmp_path, layers, problem):
    pytest.importorskip("gguf")
    from engine.loading.gguf_checkpoint import load_gguf
    from tests.support.gguf_files import write_llama_gguf
    from tests.support.paths import BUNDLED_TOKENIZER

    config = {"model_type": "llama", "vocab_size": 8192, "hidden_size": 32, "intermediate_size": 48,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    with shapes_only():
        shapes = {k: v.shape for k, v in LlamaTransformer(LlamaConfig.from_hf_dict(config)).state_dict().items()}
    state = {key: torch.zeros(shape) for key, shape in shapes.items() if "rotary" not in key}
    path = write_llama_gguf(tmp_path / "m.gguf", {**config, "num_hidden_layers": layers}, state, BUNDLED_TOKENIZER)
    family = FAMILIES["llama"]
    built = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(FAMILIES, "llama", dataclasses.replace(family, build=lambda c: built.append(c) or family.build(c)))
        with pytest.raises(CheckpointError, match=problem):
            load_gguf(path)
    assert not built
