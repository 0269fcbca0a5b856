"""Named model sizes for ``inkling train --size``: config dicts per architecture."""

from __future__ import annotations

from engine.families import FAMILIES

TRANSFORMER_SIZES = {
    "tiny": dict(n_layer=2, n_embd=64, n_head=2, n_positions=128),
    "small": dict(n_layer=4, n_embd=256, n_head=8, n_positions=256),
    "base": dict(n_layer=6, n_embd=320, n_head=8, n_positions=512),
    "large": dict(n_layer=8, n_embd=512, n_head=8, n_positions=512),
}

SIZES: dict[str, dict[str, dict]] = {"transformer": TRANSFORMER_SIZES}
MODEL_TYPES = {"transformer": "gpt2"}


def new_model_config(arch: str, size: str, vocab_size: int, eos_token_id: int | None) -> dict:
    if arch not in SIZES:
        raise ValueError(f"unknown --arch {arch!r}; choose from {', '.join(SIZES)}")
    if size not in SIZES[arch]:
        raise ValueError(f"unknown --size {size!r} for {arch}; choose from {', '.join(SIZES[arch])}")
    return dict(
        SIZES[arch][size],
        model_type=MODEL_TYPES[arch],
        vocab_size=vocab_size,
        eos_token_id=eos_token_id,
        bos_token_id=eos_token_id,
    )


def build_new_model(arch: str, size: str, vocab_size: int, eos_token_id: int | None):
    config = new_model_config(arch, size, vocab_size, eos_token_id)
    return FAMILIES[config["model_type"]].build(config)
