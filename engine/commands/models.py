"""``inkling models``: every model Inkling can load, and the devices it can run them on."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import torch

    from engine.loading.registry import ModelInfo


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models Inkling can load and the devices it can use",
        description="List every loadable model (bundled, your own, model folders and GGUF files opened in the "
        "app, Ollama's and LM Studio's models, and those in the Hugging Face cache) with the name to pass to "
        "--model, and the compute devices available. A model that cannot be loaded is listed with the reason.",
    )
    parser.set_defaults(func=run_models)


def run_models(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from engine.loading.devices import resolve_device
    from engine.loading.local_stores import lmstudio_folders, ollama_stores
    from engine.loading.registry import bundled_models_dir, list_models, user_models_dir

    out = out or sys.stdout
    models = list_models()
    if models:
        device = resolve_device("auto")
        header = ("NAME", "SOURCE", "ARCHITECTURE", "SIZE", f"LOADS AS ({device.type})", "PATH")
        rows = [(m.name, m.source, _architecture_text(m), m.size_text, _weights_text(m, device), str(m.path))
                for m in models]
        _print_table(header, rows, out)
    else:
        print("No models found. Looked in:", file=out)
        print(f"  bundled: {bundled_models_dir()}", file=out)
        print(f"  yours:   {user_models_dir()}", file=out)
        print(f"  Ollama:  {_folders_text(ollama_stores(), 'no store (OLLAMA_MODELS moves it)')}", file=out)
        print(f"  LM Studio: {_folders_text(lmstudio_folders(), 'no models folder')}", file=out)
        print("  and the Hugging Face cache. Pass a model folder or GGUF file with --model PATH to use one elsewhere.", file=out)
    print(file=out)
    print("Devices (--device):", file=out)
    for name, description in device_descriptions():
        print(f"  {name:<8} {description}".rstrip(), file=out)
    return 0


def _folders_text(folders: Sequence, none: str) -> str:
    return ", ".join(str(folder) for folder in folders) or none


def _weights_text(model: ModelInfo, device: torch.device) -> str:
    """How engine.load will hold the weights on ``device`` and what they take (see engine.loading.weights_plan),
    or why the model cannot be loaded."""
    from engine.loading.weights_plan import plan_model_weights

    if model.problem:
        return f"cannot load: {model.problem}"
    plan = plan_model_weights(model.path, device)
    return plan.text if plan is not None else "?"


def _architecture_text(model: ModelInfo) -> str:
    return f"{model.architecture} {model.quantization}" if model.quantization else model.architecture


def device_descriptions() -> list[tuple[str, str]]:
    from engine.loading.devices import available_devices, describe_device, resolve_device

    described = []
    for name in available_devices():
        if name == "auto":
            described.append((name, f"picks {describe_device(resolve_device('auto'))}"))
        elif name.startswith("cuda"):
            described.append((name, describe_device(resolve_device(name))))
        else:
            described.append((name, ""))
    return described


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1]]
        print("  ".join(cells), file=out)
