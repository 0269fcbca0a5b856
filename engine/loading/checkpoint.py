"""Model folders in the Hugging Face layout: ``config.json``, ``model.safetensors``, ``tokenizer.json``.

Loading either returns a complete model or raises ``CheckpointError`` naming the file and the problem; it never
hands back a half-loaded model. Saving writes a temporary folder beside the target and renames it into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import CheckpointError
from engine.loading.config_size import check_config_size
from engine.loading.families import FAMILIES, family_of
from engine.loading.meta_build import shapes_only
from engine.loading.tokenizer import TextTokenizer
from engine.models.base import CausalLanguageModel

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TOKENIZER = "tokenizer.json"
GENERATION_CONFIG = "generation_config.json"
MODEL_CARD = "README.md"


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    tokenizer: TextTokenizer
    config: dict
    generation_config: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def eos_token_id(self) -> int | None:
        eos = self.config.get("eos_token_id")
        if isinstance(eos, list):  # some configs list several; the first is the end-of-text token
            eos = eos[0] if eos else None
        return eos

    @property
    def start_token_id(self) -> int | None:
        """The token put before a text that begins a document: the end-of-text token that separated documents in
        training, unless the config names another (a GGUF whose tokenizer adds a beginning-of-text token)."""
        return self.config.get("start_token_id", self.eos_token_id)


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise CheckpointError(path, "file is missing: a model folder needs config.json")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"cannot be read as JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(path, "must hold a JSON object")
    model_type = config.get("model_type")
    if model_type not in FAMILIES:
        supported = ", ".join(sorted(FAMILIES))
        raise CheckpointError(path, f"unknown model_type {model_type!r}; supported: {supported}")
    return config


def is_model_folder(folder: str | Path) -> bool:
    """Cheap check for menus: a config of a known family and some weights; no tensors are read."""
    folder = Path(folder)
    try:
        read_config(folder)
    except CheckpointError:
        return False
    has_weights = any((folder / name).is_file() for name in (WEIGHTS, WEIGHTS_INDEX, TORCH_WEIGHTS))
    return has_weights and (folder / TOKENIZER).is_file()


def load_checkpoint(
    folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> LoadedCheckpoint:
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(folder, "is not a folder")
    config = read_config(folder)
    family = FAMILIES[config["model_type"]]
    check_config_size(config, folder, torch.device(device), dtype)
    tokenizer = TextTokenizer.from_file(folder / TOKENIZER)
    try:
        with shapes_only():
            model = family.build(config)
    except (TypeError, ValueError, ArithmeticError, RuntimeError) as exc:
        raise CheckpointError(folder / CONFIG, f"invalid model settings: {exc}") from exc
    vocab = cast(CausalLanguageModel, model).vocab_size
    if tokenizer.vocab_size > vocab:
        raise CheckpointError(
            folder / TOKENIZER,
            f"tokenizer has {tokenizer.vocab_size} tokens but the model only {vocab}: wrong tokenizer for this model",
        )
    _check_tokenizer_covers_vocabulary(tokenizer.vocab_size, vocab, folder / TOKENIZER)
    _check_eos(config, vocab, folder / CONFIG)
    weights_file, raw = _read_weights(folder)
    state = family.import_state(raw, model)
    del raw  # the file's tensors now live only in ``state``, which lets go of each one as it is converted
    _check_state(model, state, weights_file)
    check_finite_weights(state, weights_file)
    model.load_state_dict(_converted(state, torch.device(device), dtype), strict=False, assign=True)
    _retie(model)
    _check_nothing_left_empty(model, weights_file)
    model.to(device=device, dtype=dtype).eval()
    _check_first_forward(model, weights_file)
    generation = _read_optional_json(folder / GENERATION_CONFIG)
    return LoadedCheckpoint(model, tokenizer, config, generation, folder)


def _converted(state: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The tensors in ``dtype`` on ``device``, contiguous, made one at a time while ``state`` is emptied: at most
    one tensor is held twice, so loading never needs two full copies of the model.

    Always copies: safetensors hands out views of the file's memory map, so a tensor kept as read would change
    when another program rewrites the file, and a truncated file would kill the app (SIGBUS) at the next read."""
    converted = {}
    for key in list(state):
        tensor = state.pop(key)
        wanted = dtype if tensor.is_floating_point() else tensor.dtype
        converted[key] = tensor.to(device=device, dtype=wanted, copy=True, memory_format=torch.contiguous_format)
    return converted


def _check_eos(config: dict, vocab: int | None, config_path: Path) -> None:
    eos = config.get("eos_token_id")
    ids = eos if isinstance(eos, list) else [eos]
    for token in ids:
        if token is None:
            continue
        if isinstance(token, bool) or not isinstance(token, int) or token < 0 or (vocab is not None and token >= vocab):
            raise CheckpointError(
                config_path, f"eos_token_id {token!r} is not a token of the model's vocabulary of {vocab} (or null)"
            )


def save_checkpoint(
    folder: str | Path,
    model: nn.Module,
    tokenizer: TextTokenizer,
    *,
    model_card: str | None = None,
    generation_config: dict | None = None,
    dtype: torch.dtype | None = None,
    extra_writer: Callable[[Path], None] | None = None,
) -> Path:
    """Write a complete model folder atomically; an existing folder is replaced only once the new one is whole."""
    folder = Path(folder)
    family = family_of(model)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        state = {
            k: (v.detach().to("cpu", dtype=dtype) if dtype and v.is_floating_point() else v.detach().cpu())
            for k, v in _untied_state(model).items()
        }
        save_file(family.export_state(state, model), str(staging / WEIGHTS), metadata={"format": "pt"})
        config = family.config_to_dict(model)
        if dtype is not None:
            config["torch_dtype"] = str(dtype).removeprefix("torch.")
        _write_json(staging / CONFIG, config)
        tokenizer.backend.save(str(staging / TOKENIZER))
        if generation_config:
            _write_json(staging / GENERATION_CONFIG, generation_config)
        if model_card:
            (staging / MODEL_CARD).write_text(model_card, encoding="utf-8")
        if extra_writer is not None:  # e.g. the trainer's resume state, so it is replaced together with the model
            extra_writer(staging)
        _make_readable(staging)
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _make_readable(staging: Path) -> None:
    """Give the staged folder the permissions of any folder made under the current umask.

    mkdtemp creates 0700 and safetensors writes 0600, which would leave a saved model unreadable to other users
    (and to a packaging step run as another user). A probe folder made with mode 0777 reveals the umask without
    os.umask()'s process-wide, thread-unsafe set-and-restore.
    """
    probe = staging / ".umask-probe"  # staging is ours and fresh: nothing else can hold this name
    probe.mkdir(mode=0o777)
    dir_mode = probe.stat().st_mode & 0o777
    probe.rmdir()
    file_mode = dir_mode & 0o666
    for root, dirs, files in os.walk(staging):
        os.chmod(root, dir_mode)
        for name in dirs:
            os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)


def _replace_folder(staging: Path, folder: Path) -> None:
    if not folder.exists():
        os.replace(staging, folder)
        return
    # A unique empty name beside the target: a leftover from a crashed save can never be in the way.
    retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    retired.rmdir()
    os.replace(folder, retired)
    try:
        os.replace(staging, folder)
    except OSError:
        os.replace(retired, folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _untied_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict without duplicate entries for weights shared between modules (safetensors refuses those)."""
    seen: set[int] = set()
    state = {}
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen and tensor.numel() > 0:
            continue
        seen.add(tensor.data_ptr())
        state[key] = tensor
    return state


def _retie(model: nn.Module) -> None:
    tie = getattr(model, "tie_weights", None)
    if callable(tie):
        tie()


def _read_weights(folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    single = folder / WEIGHTS
    if single.is_file():
        return single, _load_safetensors(single)
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        return index, _load_sharded(folder, index)
    legacy = folder / TORCH_WEIGHTS
    if legacy.is_file():
        try:
            raw = torch.load(legacy, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(legacy, f"cannot be read as PyTorch weights: {exc}") from exc
        if not isinstance(raw, dict) or not all(isinstance(t, torch.Tensor) for t in raw.values()):
            raise CheckpointError(legacy, "does not hold a state dict of tensors")
        return legacy, raw
    raise CheckpointError(single, "file is missing: no model.safetensors or pytorch_model.bin in the folder")


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"corrupt or truncated safetensors file: {exc}") from exc


def _load_sharded(folder: Path, index: Path) -> dict[str, torch.Tensor]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(index, f"not a valid safetensors index: {exc}") from exc
    raw: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        path = folder / shard
        if not path.is_file():
            raise CheckpointError(path, "file is missing: listed in model.safetensors.index.json")
        raw.update(_load_safetensors(path))
    return raw


def _check_state(model: nn.Module, state: dict[str, torch.Tensor], weights_file: Path) -> None:
    expected = model.state_dict()
    tied = _tied_aliases(model)
    for key, tensor in state.items():
        if key not in expected:
            raise CheckpointError(weights_file, f"unexpected tensor {key!r}: does the config match the weights?")
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                weights_file,
                f"tensor {key!r} has shape {tuple(tensor.shape)}, the config implies {tuple(expected[key].shape)}",
            )
    _refuse_missing([k for k in expected if k not in state and k not in tied], weights_file)


def _tied_aliases(model: nn.Module) -> set[str]:
    """Keys whose parameter is shared with an earlier key; a checkpoint may omit them. (By identity, not by data
    pointer: the model is built on the meta device, where every tensor has the same null pointer.)"""
    seen: set[int] = set()
    aliases = set()
    for key, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            aliases.add(key)
        seen.add(id(param))
    return aliases


def _check_nothing_left_empty(model: nn.Module, weights_file: Path) -> None:
    _refuse_missing([key for key, param in model.named_parameters() if param.is_meta], weights_file)


# A model's embedding is often padded past its tokenizer to a faster matrix shape (GPT-2: 50,257 tokens in 50,304
# rows; Qwen2.5: 151,665 in 152,064); a gap beyond this is a tokenizer from another model.
def allowed_vocabulary_padding(vocab: int) -> int:
    return max(1024, vocab // 16)


def _check_tokenizer_covers_vocabulary(tokens: int, vocab: int, tokenizer_path: Path) -> None:
    """Refuse a tokenizer far smaller than the model's vocabulary: its suggestions would be another model's ids
    read as this tokenizer's words, garbage without a word of warning."""
    allowed = allowed_vocabulary_padding(vocab)
    if vocab - tokens > allowed:
        raise CheckpointError(
            tokenizer_path,
            f"tokenizer has {tokens} tokens but the model {vocab}: {vocab - tokens} of the model's ids would have no "
            f"text (a padded vocabulary leaves at most {allowed}): wrong tokenizer for this model")


_FINITE_CHUNK = 1 << 24  # values checked at a time: the check's temporary stays small next to a big tensor


def check_finite_weights(state: dict[str, torch.Tensor], weights_file: Path) -> None:
    """Refuse NaN or infinite values in any floating-point tensor, naming it. One forward at position 0 missed
    damage in rows it does not read (position rows 20 and up, say): the model loaded as ready and then failed at
    every suggestion."""
    for key, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        flat = tensor.reshape(-1)
        total = torch.float64 if tensor.dtype == torch.float64 else torch.float32
        for start in range(0, flat.numel(), _FINITE_CHUNK):
            chunk = flat[start : start + _FINITE_CHUNK]
            # A sum is finite only if every value is (NaN and inf propagate), and costs ~40x less than isfinite;
            # the exact test runs only to tell a damaged tensor from a sum that overflowed.
            if not torch.isfinite(chunk.sum(dtype=total)) and not torch.isfinite(chunk).all():
                raise CheckpointError(weights_file, f"the weights are damaged: tensor {key!r} holds NaN or infinite "
                                                    f"values ({_where_not_finite(tensor)}; a corrupt or wrongly "
                                                    "converted file?)")


def _where_not_finite(tensor: torch.Tensor) -> str:
    bad = ~torch.isfinite(tensor.reshape(tensor.shape[0], -1) if tensor.dim() > 1 else tensor.reshape(-1, 1))
    rows = bad.any(dim=1).nonzero().flatten()
    return f"{int(bad.sum())} values in {rows.numel()} of {bad.shape[0]} rows, from row {int(rows[0])}"


def _check_first_forward(model: nn.Module, weights_file: Path) -> None:
    # Weights with a valid header but garbage values (NaN/inf) would load as "ready" and then never suggest;
    # one token through the model finds them while the user still knows which folder they picked.
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits, _ = model(torch.zeros(1, 1, dtype=torch.long, device=device))
    if not torch.isfinite(logits).all():
        raise CheckpointError(weights_file, "the weights are damaged: the model's first prediction holds NaN or "
                                            "infinite values (a corrupt or wrongly converted file?)")


def _refuse_missing(missing: list[str], weights_file: Path) -> None:
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CheckpointError(weights_file, f"{len(missing)} tensor(s) missing: {shown}")


def _read_optional_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"cannot be read as JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
