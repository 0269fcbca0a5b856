"""What a config.json's numbers make, worked out before the model is built, so a damaged or hostile config is
refused with the field named instead of being built layer by layer until memory runs out.

Building happens on the meta device (``checkpoint.shapes_only``): the tensors take no memory, but every layer is
still a tree of Python modules, ~20-40 kB each (``num_hidden_layers: 1000000`` was ~46 GB before the process was
killed; 20,000 layers took 1.3 s of the interpreter, then failed as "219934 tensor(s) missing"). So the layer count
is checked first, from the number alone; the parameters are counted on models of one and two layers (cheap at any
width, since meta tensors are never allocated) and scaled to the config's layer count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from engine.byte_sizes import format_bytes
from engine.errors import CheckpointError, ModelTooBigError
from engine.loading.devices import available_memory_bytes
from engine.loading.families import FAMILIES
from engine.loading.meta_build import shapes_only

#: Published language models have at most a few hundred layers (Llama 3.1 405B: 126); a config far past that is
#: damaged, and building its modules alone would take seconds per thousand layers.
MAX_LAYERS = 2048
#: What one layer's modules cost in Python objects on the meta device: 21-38 kB measured with tracemalloc for the
#: GPT-2, Llama and Gemma 3 families (5 kB for the LSTM), ~46 kB of resident memory in the out-of-memory probe.
BUILD_BYTES_PER_LAYER = 64 * 1024
_CONFIG = "config.json"
_BUILD_ERRORS = (TypeError, ValueError, ArithmeticError, RuntimeError)


@dataclass(frozen=True)
class ConfigSize:
    layers_key: str
    layers: int
    fixed_parameters: int  # embeddings, final norm, head: what does not repeat per layer
    layer_parameters: int  # one layer's

    @property
    def parameters(self) -> int:
        return self.fixed_parameters + self.layers * self.layer_parameters


def config_size(config: dict, config_path: Path) -> ConfigSize | None:
    """The parameters ``config`` makes, without building it. None where the config has no layer count of its own
    (the family's default is a real model's) or where a small build fails: the full build then reports that
    error itself. ``CheckpointError`` naming the field for a layer count no model has."""
    family = FAMILIES[config["model_type"]]
    key = family.layers_key
    layers = config.get(key)
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        return None  # absent, or not a count: the config class's own check names it
    check_layer_count(layers, key, config_path)
    one, two = _parameters_with_layers(config, key, 1), _parameters_with_layers(config, key, 2)
    if one is None or two is None:
        return None
    return ConfigSize(key, layers, one - (two - one), two - one)


def _parameters_with_layers(config: dict, key: str, layers: int) -> int | None:
    small = {**config, key: layers}
    if isinstance(config.get("layer_types"), list):  # one entry per layer (Gemma 3, Qwen's sliding windows)
        small["layer_types"] = config["layer_types"][:layers]
    try:
        with shapes_only():
            model = FAMILIES[config["model_type"]].build(small)
    except _BUILD_ERRORS:
        return None
    return _count(model)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied head is one parameter, listed once


def check_config_size(config: dict, folder: Path, device: torch.device, dtype: torch.dtype) -> None:
    """Refuse, before anything is built, a config whose layer count the weights do not have or whose model cannot
    fit in the memory that is free, naming the field that makes it that big."""
    size = config_size(config, folder / _CONFIG)
    if size is None:
        return
    shapes, weights_file = checkpoint_shapes_of(folder)
    if shapes:
        check_layer_count(size.layers, size.layers_key, folder / _CONFIG, layers_held(shapes), weights_file.name)
    _check_fits(config, size, device, dtype)


def check_layer_count(layers: int, field: str, path: Path, held: int | None = None,
                      weights_name: str = "the file") -> None:
    """Refuse a layer count no model has, or more layers than the weights hold (``held``, where known), naming
    ``field``: checked from the number alone, before a model of that many layers is built."""
    if layers > MAX_LAYERS:
        raise CheckpointError(path, f"{field} is {layers:,}: no language model has more than a few hundred layers "
                                    f"(Inkling builds at most {MAX_LAYERS:,}); is {path.name} damaged?")
    if held is not None and held < layers:
        raise CheckpointError(path, f"{field} is {layers:,} but {weights_name} holds the weights of {held} "
                                    "layer(s): the settings do not match the weights")


def _check_fits(config: dict, size: ConfigSize, device: torch.device, dtype: torch.dtype) -> None:
    weights = size.parameters * dtype.itemsize
    build = size.layers * BUILD_BYTES_PER_LAYER
    if device.type == "cuda":
        checks = [(build, available_memory_bytes(), "is free"),
                  (weights, torch.cuda.mem_get_info(device)[0], "is free on the GPU")]
    else:
        checks = [(build + weights, available_memory_bytes(), "is free")]
    for needed, free, where in checks:
        if free is not None and needed > free:
            field, value = biggest_field(config, size)
            largest = PUBLISHED_LARGEST.get(field, value)
            usual = f" (published models have at most {largest:,})" if value > largest else ""
            raise ModelTooBigError(
                f"config.json: {field} = {value:,}{usual} makes the model too big to load: {size.layers:,} layers "
                f"({size.layers_key}) of {size.layer_parameters:,} parameters each plus {size.fixed_parameters:,} "
                f"= {size.parameters:,} parameters, about {format_bytes(needed)} in {str(dtype).removeprefix('torch.')}"
                f", and only {format_bytes(free)} {where}")


#: The largest value each size field has in published models (Llama 3.1 405B's widths and 126 layers, Gemma 3's
#: vocabulary): a config far past one of them has that field to blame, even where doubling any of the widths would
#: add as much as doubling it.
PUBLISHED_LARGEST = {"vocab_size": 262_144, "hidden_size": 16_384, "n_embd": 16_384, "intermediate_size": 53_248,
                     "n_inner": 65_536, "num_hidden_layers": 126, "n_layer": 126, "num_attention_heads": 128,
                     "n_head": 128, "num_key_value_heads": 128, "head_dim": 256, "n_positions": 131_072}


def biggest_field(config: dict, size: ConfigSize) -> tuple[str, int]:
    """The number in ``config`` to blame for its size: among those the parameter count grows with, the one furthest
    past what published models use, else the one whose doubling adds the most."""
    gains = {size.layers_key: size.layers * size.layer_parameters}  # what doubling the layer count adds
    for key, value in config.items():
        if key == size.layers_key or key.endswith("_id") or isinstance(value, bool) or not isinstance(value, int):
            continue  # token ids name a row, they size nothing
        if value < 1:
            continue
        doubled = config_size({**config, key: 2 * value}, Path(_CONFIG))
        if doubled is not None and doubled.parameters > size.parameters:
            gains[key] = doubled.parameters - size.parameters
    values = {key: config[key] for key in gains}
    past = {key: values[key] / PUBLISHED_LARGEST[key] for key in gains if key in PUBLISHED_LARGEST}
    if past and max(past.values()) > 1:
        key = max(past, key=lambda k: past[k])
    else:
        key = max(gains, key=lambda k: gains[k])
    return key, values[key]


def checkpoint_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape from the safetensors headers (one file, or the shards of an index), reading no tensor.
    Raises what safetensors or the file system raise."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    shapes: dict[str, tuple[int, ...]] = {}
    for name in files:
        with safe_open(str(folder / name), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def checkpoint_shapes_of(folder: Path) -> tuple[dict[str, tuple[int, ...]] | None, Path]:
    """``checkpoint_shapes`` and the file they name, or None where there are no headers to read (a
    pytorch_model.bin) or they are broken (the loader's own error then names the file)."""
    index = folder / "model.safetensors.index.json"
    weights_file = index if index.is_file() else folder / "model.safetensors"
    try:
        return checkpoint_shapes(folder), weights_file
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError):
        return None, weights_file


_LAYER_INDEX = re.compile(r"(?:^|\.)(\d+)\.")


def layers_held(names: Iterable[str]) -> int | None:
    """How many layers a checkpoint's tensor names cover (``model.layers.11.`` or GGUF's ``blk.11.`` -> 12); None
    where its names carry no layer index."""
    indices = {int(match.group(1)) for name in names if (match := _LAYER_INDEX.search(name))}
    return max(indices) + 1 if indices else None
