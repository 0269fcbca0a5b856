"""Model folders in the Hugging Face layout: interchange with transformers, atomic saves, one clear error per fault."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import engine.loading.checkpoint
from engine.errors import CheckpointError
from engine.loading.checkpoint import load_checkpoint, save_checkpoint
from engine.models.gpt2 import GPT2Config, GPT2Transformer
from tests.support.tiny_models import make_gpt2_folder

transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4


def _tokens(vocab: int, length: int = 24, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def _our_logits(folder: Path, tokens: torch.Tensor) -> torch.Tensor:
    loaded = load_checkpoint(folder)
    with torch.no_grad():
        return loaded.model(tokens)[0]


def _random_hf_model(vocab: int, eos_token_id: int | None = 0, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=eos_token_id, eos_token_id=eos_token_id)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model


def _hf_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(tokens).logits


# --- interchange with transformers --------------------------------------------------------------------------


def test_our_checkpoint_loads_into_transformers_with_the_same_logits(tmp_path, tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "ours", tiny_tokenizer, n_positions=64)
    tokens = _tokens(tiny_tokenizer.vocab_size)
    reference, info = transformers.GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    torch.testing.assert_close(_our_logits(folder, tokens), _hf_logits(reference.eval(), tokens),
                               atol=TOLERANCE, rtol=0)


def _hf_folder(path: Path, tokenizer, eos_token_id: int | None = 0):
    model = _random_hf_model(tokenizer.vocab_size, eos_token_id)
    model.save_pretrained(path)
    tokenizer.backend.save(str(path / "tokenizer.json"))
    return model


def test_folder_saved_by_transformers_loads_with_the_same_logits(tmp_path, tiny_tokenizer):
    reference = _hf_folder(tmp_path / "hf", tiny_tokenizer)
    assert any(k.startswith("transformer.") for k in load_file(tmp_path / "hf" / "model.safetensors"))
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(tmp_path / "hf", tokens), _hf_logits(reference, tokens),
                               atol=TOLERANCE, rtol=0)


def test_safetensors_without_the_transformer_prefix_load(tmp_path, tiny_tokenizer):
    """The layout of the original gpt2 / distilgpt2 repositories: bare ``h.0.attn...`` keys."""
    folder = tmp_path / "bare"
    reference = _hf_folder(folder, tiny_tokenizer)
    raw = load_file(folder / "model.safetensors")
    save_file({k.removeprefix("transformer."): v for k, v in raw.items()}, folder / "model.safetensors")
    assert not any(k.startswith("transformer.") for k in load_file(folder / "model.safetensors"))
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(folder, tokens), _hf_logits(reference, tokens), atol=TOLERANCE, rtol=0)


def test_pytorch_model_bin_written_by_transformers_loads(tmp_path, tiny_tokenizer):
    """save_pretrained(safe_serialization=False) writes pytorch_model.bin up to transformers 4.x."""
    reference = _random_hf_model(tiny_tokenizer.vocab_size)
    folder = tmp_path / "bin"
    reference.save_pretrained(folder, safe_serialization=False)
    if not (folder / "pytorch_model.bin").is_file():
        pytest.skip(f"transformers {transformers.__version__} no longer writes pytorch_model.bin (see the next test)")
    (folder / "model.safetensors").unlink(missing_ok=True)
    tiny_tokenizer.backend.save(str(folder / "tokenizer.json"))
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(folder, tokens), _hf_logits(reference, tokens), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("prefix", ["", "transformer."], ids=["bare-keys", "prefixed-keys"])
def test_pytorch_model_bin_only_folder_loads(tmp_path, tiny_tokenizer, prefix):
    """The .bin layout of older transformers and of the original gpt2 repository, written with torch.save.

    transformers 5 ignores safe_serialization=False, so the file is made here as older versions made it: the whole
    state dict, tied lm_head.weight and the causal-mask buffers (attn.bias, attn.masked_bias) included.
    """
    folder = tmp_path / "bin"
    reference = _hf_folder(folder, tiny_tokenizer)
    (folder / "model.safetensors").unlink()
    state = {}
    for key, tensor in reference.state_dict().items():
        state[prefix + key.removeprefix("transformer.") if key.startswith("transformer.") else key] = tensor
    for layer in range(2):
        state[f"{prefix}h.{layer}.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64, dtype=torch.bool))
        state[f"{prefix}h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    assert "lm_head.weight" in state
    torch.save(state, folder / "pytorch_model.bin")
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(folder, tokens), _hf_logits(reference, tokens), atol=TOLERANCE, rtol=0)


def test_sharded_safetensors_folder_loads(tmp_path, tiny_tokenizer):
    folder = tmp_path / "sharded"
    reference = _hf_folder(folder, tiny_tokenizer)
    raw = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    keys = sorted(raw)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, shard_keys in shards.items():
        save_file({k: raw[k] for k in shard_keys}, folder / name)
    weight_map = {k: name for name, shard_keys in shards.items() for k in shard_keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(folder, tokens), _hf_logits(reference, tokens), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(("written", "expected"), [(0, 0), (7, 7), (None, None), ([5, 9], 5)],
                         ids=["id-0", "id-7", "null", "list"])
def test_eos_token_id_comes_from_config_json(tmp_path, tiny_tokenizer, written, expected):
    folder = make_gpt2_folder(tmp_path / "m", tiny_tokenizer)
    config = json.loads((folder / "config.json").read_text())
    config["eos_token_id"] = written
    (folder / "config.json").write_text(json.dumps(config))
    assert load_checkpoint(folder).eos_token_id == expected


def test_saved_config_records_eos_and_reloads_identically(tmp_path, tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "m", tiny_tokenizer, eos_token_id=None)
    assert json.loads((folder / "config.json").read_text())["eos_token_id"] is None
    loaded = load_checkpoint(folder)
    assert loaded.eos_token_id is None
    again = save_checkpoint(tmp_path / "again", loaded.model, loaded.tokenizer)
    tokens = _tokens(tiny_tokenizer.vocab_size)
    torch.testing.assert_close(_our_logits(again, tokens), _our_logits(folder, tokens), atol=0, rtol=0)
    assert (again / "tokenizer.json").read_text() == (folder / "tokenizer.json").read_text()


# --- atomic saves and permissions ---------------------------------------------------------------------------


def _tiny_model(vocab: int, seed: int) -> GPT2Transformer:
    torch.manual_seed(seed)
    return GPT2Transformer(GPT2Config(vocab_size=vocab, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                      eos_token_id=0))


def test_a_failing_save_leaves_the_previous_folder_intact_and_no_temporary_folders(tmp_path, tiny_tokenizer,
                                                                                   monkeypatch):
    folder = tmp_path / "model"
    save_checkpoint(folder, _tiny_model(tiny_tokenizer.vocab_size, seed=1), tiny_tokenizer)
    tokens = _tokens(tiny_tokenizer.vocab_size)
    before = _our_logits(folder, tokens)
    files_before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.loading.checkpoint, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(folder, _tiny_model(tiny_tokenizer.vocab_size, seed=2), tiny_tokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files_before
    torch.testing.assert_close(_our_logits(folder, tokens), before, atol=0, rtol=0)


def test_a_failure_after_the_weights_are_written_also_leaves_nothing_behind(tmp_path, tiny_tokenizer):
    folder = tmp_path / "model"
    save_checkpoint(folder, _tiny_model(tiny_tokenizer.vocab_size, seed=1), tiny_tokenizer)
    files_before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def interrupted(staging: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(folder, _tiny_model(tiny_tokenizer.vocab_size, seed=2), tiny_tokenizer,
                        extra_writer=interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files_before


def test_saving_over_an_existing_folder_replaces_it_whole(tmp_path, tiny_tokenizer):
    folder = tmp_path / "model"
    save_checkpoint(folder, _tiny_model(tiny_tokenizer.vocab_size, seed=1), tiny_tokenizer,
                    model_card="# old card\n")
    new = _tiny_model(tiny_tokenizer.vocab_size, seed=2).eval()
    save_checkpoint(folder, new, tiny_tokenizer)
    tokens = _tokens(tiny_tokenizer.vocab_size, length=16)
    with torch.no_grad():
        expected = new(tokens)[0]
    torch.testing.assert_close(_our_logits(folder, tokens), expected, atol=0, rtol=0)
    assert not (folder / "README.md").exists()  # the old folder's files do not linger in the new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(("umask", "dir_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)],
                         ids=["umask-022", "umask-077"])
def test_saved_folder_gets_the_permissions_of_an_ordinary_folder(tmp_path, tiny_tokenizer, umask, dir_mode,
                                                                  file_mode):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    previous = os.umask(umask)
    try:
        folder = save_checkpoint(tmp_path / "model", _tiny_model(tiny_tokenizer.vocab_size, seed=1), tiny_tokenizer,
                                 model_card="# card\n", generation_config={"max_new_tokens": 8})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == dir_mode
    files = sorted(folder.iterdir())
    assert {p.name for p in files} == {"config.json", "model.safetensors", "tokenizer.json", "README.md",
                                       "generation_config.json"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: file_mode for p in files}


# --- malformed folders: one CheckpointError naming the file and the problem --------------------------------


def _rewrite_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _rewrite_weights(folder: Path, change) -> None:
    raw = load_file(folder / "model.safetensors")
    change(raw)
    save_file(raw, folder / "model.safetensors")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN_FOLDERS = {
    "missing-config": (lambda f: (f / "config.json").unlink(), "config.json", "missing"),
    "missing-weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors", "missing"),
    "missing-tokenizer": (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json", "missing"),
    "truncated-safetensors": (lambda f: _truncate(f / "model.safetensors"), "model.safetensors", "truncated"),
    "garbage-safetensors": (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 3), "model.safetensors",
                            "truncated"),
    "shape-mismatch": (lambda f: _rewrite_config(f, n_positions=256), "model.safetensors", "shape"),
    "missing-tensors": (lambda f: _rewrite_weights(f, lambda raw: raw.pop("transformer.ln_f.weight")),
                        "model.safetensors", "ln_f.weight"),
    "unexpected-tensors": (
        lambda f: _rewrite_weights(f, lambda raw: raw.update({"transformer.h.2.ln_1.weight": torch.ones(32)})),
        "model.safetensors", "unexpected tensor 'h.2.ln_1.weight'"),
    "unknown-model-type": (lambda f: _rewrite_config(f, model_type="bert"), "config.json", "unknown model_type"),
    "missing-model-type": (lambda f: _rewrite_config(f, model_type=None), "config.json", "unknown model_type"),
    "invalid-config-json": (lambda f: (f / "config.json").write_text('{"model_type": "gpt2",'), "config.json",
                            "JSON"),
    "config-not-an-object": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json", "JSON object"),
    "invalid-tokenizer-json": (lambda f: (f / "tokenizer.json").write_text("{not json"), "tokenizer.json",
                               "not a valid Hugging Face tokenizer"),
    "tokenizer-larger-than-model": (lambda f: _rewrite_config(f, vocab_size=300), "tokenizer.json",
                                    "tokenizer has 400 tokens but the model only 300"),
    "unsupported-activation": (lambda f: _rewrite_config(f, activation_function="relu"), "config.json",
                               "activation_function 'relu' is not supported"),
    "untied-embeddings": (lambda f: _rewrite_config(f, tie_word_embeddings=False), "config.json",
                          "tie_word_embeddings"),
    "heads-do-not-divide-width": (lambda f: _rewrite_config(f, n_head=5), "config.json", "not divisible"),
    "zero-layers": (lambda f: _rewrite_config(f, n_layer=0), "config.json", "n_layer must be a positive integer"),
    "eos-outside-vocabulary": (lambda f: _rewrite_config(f, eos_token_id=50256), "config.json", "eos_token_id 50256"),
    "invalid-generation-config": (lambda f: (f / "generation_config.json").write_text("{"),
                                  "generation_config.json", "JSON"),
}


@pytest.mark.parametrize("case", list(BROKEN_FOLDERS))
def test_every_malformed_folder_raises_one_clear_checkpoint_error(tmp_path, tiny_tokenizer, case):
    break_folder, file_name, problem = BROKEN_FOLDERS[case]
    folder = make_gpt2_folder(tmp_path / "broken", tiny_tokenizer)
    break_folder(folder)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(folder)
    assert caught.value.path == folder / file_name
    assert problem in caught.value.problem
    assert str(caught.value).startswith(str(folder / file_name))


def test_missing_tensors_are_listed_by_name(tmp_path, tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "m", tiny_tokenizer)
    # The first layer's: without the last one the layer count itself is refused (test_config_size.py).
    _rewrite_weights(folder, lambda raw: [raw.pop(k) for k in list(raw) if k.startswith("transformer.h.0.")])
    with pytest.raises(CheckpointError, match=r"12 tensor\(s\) missing: h\.0\.") as caught:
        load_checkpoint(folder)
    assert caught.value.path == folder / "model.safetensors"


def test_a_corrupt_pytorch_model_bin_is_a_checkpoint_error(tmp_path, tiny_tokenizer):
    folder = make_gpt2_folder(tmp_path / "m", tiny_tokenizer)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not a zip archive")
    with pytest.raises(CheckpointError, match="cannot be read as PyTorch weights") as caught:
        load_checkpoint(folder)
    assert caught.value.path == folder / "pytorch_model.bin"


def test_a_path_that_is_not_a_folder_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="is not a folder"):
        load_checkpoint(tmp_path / "nowhere")


# --- loading cost ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_loading_makes_no_random_weights_and_keeps_one_copy_of_each_tensor(tmp_path, tiny_tokenizer, monkeypatch,
                                                                          dtype):
    model = GPT2Transformer(GPT2Config(vocab_size=tiny_tokenizer.vocab_size, n_positions=32, n_embd=32, n_layer=2,
                                       n_head=4))
    folder = save_checkpoint(tmp_path / "m", model, tiny_tokenizer)
    saved = load_file(str(folder / "model.safetensors"))
    initialised = []
    real_normal = torch.Tensor.normal_
    monkeypatch.setattr(torch.Tensor, "normal_", lambda self, *a, **k: initialised.append(self) or real_normal(
        self, *a, **k))

    model = load_checkpoint(folder, dtype=dtype).model
    assert initialised == []  # built on the meta device: the weights come straight from the file
    params = dict(model.named_parameters())
    assert all(p.device.type == "cpu" and p.dtype == dtype and p.is_contiguous() for p in params.values())
    # Conv1D weights arrive transposed; they are stored the nn.Linear way, and equal the file's.
    weight = params["h.0.attn.c_attn.weight"]
    assert torch.equal(weight, saved["transformer.h.0.attn.c_attn.weight"].t().to(dtype))


@pytest.mark.parametrize("garbage", [float("nan"), float("inf")])
def test_weights_that_predict_nan_or_inf_are_refused_at_load(tmp_path, tiny_tokenizer, garbage):
    folder = make_gpt2_folder(tmp_path / "garbage", tiny_tokenizer)
    weights = folder / "model.safetensors"
    state = load_file(weights)
    name = next(k for k in state if k.endswith("ln_f.weight"))
    state[name] = torch.full_like(state[name], garbage)
    save_file(state, weights)
    with pytest.raises(CheckpointError, match="NaN or infinite") as caught:
        load_checkpoint(folder)
    assert caught.value.path == weights


def test_nan_weights_in_rows_the_first_forward_never_reads_are_refused_naming_the_tensor(tmp_path, tiny_tokenizer):
    """Position rows 20 and up: one token at position 0 looked fine, then every longer suggestion failed."""
    folder = make_gpt2_folder(tmp_path / "garbage", tiny_tokenizer)
    weights = folder / "model.safetensors"
    state = load_file(weights)
    state["transformer.wpe.weight"][20:] = float("nan")
    save_file(state, weights)
    with pytest.raises(CheckpointError, match=r"tensor 'wpe.weight' holds NaN.*108 of 128 rows, from row 20"):
        load_checkpoint(folder)


@pytest.mark.parametrize(("model_vocab", "refused"), [(8192, True), (400 + 47, False), (400 + 1024, False)])
def test_a_tokenizer_far_smaller_than_the_vocabulary_is_refused_padding_is_not(tmp_path, tiny_tokenizer,
                                                                              model_vocab, refused):
    assert tiny_tokenizer.vocab_size == 400
    folder = save_checkpoint(tmp_path / "m", _tiny_model(model_vocab, seed=0), tiny_tokenizer)
    if not refused:
        assert load_checkpoint(folder).model.vocab_size == model_vocab
        return
    with pytest.raises(CheckpointError, match="tokenizer has 400 tokens but the model 8192.*wrong tokenizer") as caught:
        load_checkpoint(folder)
    assert caught.value.path == folder / "tokenizer.json"


def test_a_loaded_model_keeps_its_weights_when_its_file_is_rewritten(tmp_path, tiny_tokenizer):
    # safetensors maps the file: weights kept as read would follow another program's writes (or SIGBUS on a
    # truncated file). The loader copies every tensor into memory of its own.
    import engine

    folder = make_gpt2_folder(tmp_path / "m", tiny_tokenizer)
    lm = engine.load(str(folder), dtype=torch.float32, weights="float")
    tokens = torch.tensor([[1, 2, 3, 4]])
    with torch.inference_mode():
        before = lm.model(tokens)[0]
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:  # rewritten in place, as another program would
        handle.seek(size // 2)
        handle.write(b"\0" * (size - size // 2))
    with torch.inference_mode():
        torch.testing.assert_close(lm.model(tokens)[0], before)
