"""Named model sizes for ``inkling train --size``: config dicts per architecture."""

from __future__ import annotations

from engine.loading.families import FAMILIES


# The modern layout (Qwen3 in transformers): rotary positions, RMSNorm, QK-norm, gated ReLU^2 MLP, tied
# embeddings. Heads of 64 dims; the MLP is 3x wide so its three matrices hold what a 4x two-matrix MLP does.
def _qwen3(layers: int, width: int, context: int) -> dict:
    return {"num_hidden_layers": layers, "hidden_size": width, "intermediate_size": 3 * width,
            "num_attention_heads": max(1, width // 64), "num_key_value_heads": max(1, width // 64),
            "head_dim": min(64, width), "max_position_embeddings": context, "hidden_act": "relu2",
            "tie_word_embeddings": True, "rope_theta": 10000.0, "rms_norm_eps": 1e-6}


QWEN3_SIZES = {
    "tiny": _qwen3(2, 64, 128),
    "small": _qwen3(6, 256, 512),
    "base": _qwen3(8, 384, 1024),
    "large": _qwen3(12, 512, 1024),
}

GPT2_SIZES = {
    "tiny": {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_positions": 128},
    "small": {"n_layer": 4, "n_embd": 256, "n_head": 8, "n_positions": 256},
    "base": {"n_layer": 6, "n_embd": 320, "n_head": 8, "n_positions": 512},
    "large": {"n_layer": 8, "n_embd": 512, "n_head": 8, "n_positions": 512},
}

# Sized to match the Qwen3-layout model of the same name in parameters (vocab 8192: small ~5.0M, base ~9.7M).
# No dropout: the bundled runs see less than one epoch of a large corpus, where dropout only slows learning.
_LSTM = {"attention_kind": "additive", "dropout": 0.0}
ATTENTION_LSTM_SIZES = {
    "tiny": dict(_LSTM, n_layer=2, n_embd=32, hidden_size=48, attention_window=4),
    "small": dict(_LSTM, n_layer=2, n_embd=256, hidden_size=384, attention_window=8),
    "base": dict(_LSTM, n_layer=3, n_embd=320, hidden_size=512, attention_window=8),
}

SIZES: dict[str, dict[str, dict]] = {"qwen3": QWEN3_SIZES, "gpt2": GPT2_SIZES,
                                     "attention-lstm": ATTENTION_LSTM_SIZES}
MODEL_TYPES = {"qwen3": "qwen3", "gpt2": "gpt2", "attention-lstm": "inkling-attention-lstm"}
DEFAULT_ARCH = "qwen3"
#: Earlier names of an --arch, still accepted with the same meaning (runs and recipes saved with them resume).
ARCH_ALIASES = {"transformer": "qwen3"}
ARCH_CHOICES = (*SIZES, *ARCH_ALIASES)


def arch_name(arch: str) -> str:
    """The --arch ``arch`` stands for: itself, or the name an alias of it has now."""
    return ARCH_ALIASES.get(arch, arch)


def new_model_config(arch: str, size: str, vocab_size: int, eos_token_id: int | None) -> dict:
    if arch_name(arch) not in SIZES:
        raise ValueError(f"unknown --arch {arch!r}; choose from {', '.join(SIZES)}")
    arch = arch_name(arch)
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
