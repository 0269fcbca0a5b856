"""tools/grow_model.py: a wider MLP that computes exactly what the trained one did, and whose new units can learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

import engine
from engine.loading.checkpoint import save_checkpoint
from engine.models.llama import LlamaConfig, LlamaTransformer
from tests.support.paths import REPO

TOOLS = REPO / "tools"


def _qwen3_folder(path: Path, tokenizer) -> Path:
    torch.manual_seed(0)
    config = LlamaConfig(model_type="qwen3", qk_norm=True, vocab_size=tokenizer.vocab_size, hidden_size=32,
                         intermediate_size=48, num_hidden_layers=2, num_attention_heads=2, head_dim=16,
                         max_position_embeddings=64, hidden_act="relu2", tie_word_embeddings=True,
                         eos_token_id=0, bos_token_id=0)
    model = LlamaTransformer(config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.2)  # trained-looking weights: nonzero output projections, sharp logits
    return save_checkpoint(path, model, tokenizer)


def test_the_grown_model_predicts_what_the_original_did(tmp_path, tiny_tokenizer):
    source = _qwen3_folder(tmp_path / "small", tiny_tokenizer)
    target = tmp_path / "wide"
    subprocess.run([sys.executable, str(TOOLS / "grow_model.py"), str(source), str(target),
                    "--intermediate-size", "80"], check=True, capture_output=True)
    small, wide = engine.load(str(source), weights="float"), engine.load(str(target), weights="float")
    assert wide.model.config.intermediate_size == 80
    assert wide.parameter_count > small.parameter_count
    ids = torch.tensor([tiny_tokenizer.encode("The captain watched the coast grow small")])
    with torch.no_grad():
        expected, _ = small.model(ids)
        grown, _ = wide.model(ids)
    torch.testing.assert_close(grown, expected, rtol=1e-5, atol=1e-5)
    layer = wide.model.model.layers[0].mlp
    # The new units read the input (so they get gradients) and write nothing yet (so nothing changed).
    assert layer.gate_proj.weight[48:].abs().sum() > 0 and layer.up_proj.weight[48:].abs().sum() > 0
    assert layer.down_proj.weight[:, 48:].abs().sum() == 0


def test_a_model_without_an_mlp_width_is_refused_with_a_message(tmp_path, tiny_gpt2_folder):
    done = subprocess.run([sys.executable, str(TOOLS / "grow_model.py"), str(tiny_gpt2_folder),
                           str(tmp_path / "wide"), "--intermediate-size", "80"], check=False, capture_output=True,
                          text=True)
    assert done.returncode != 0 and "no intermediate_size to widen" in done.stderr and "Traceback" not in done.stderr


def test_narrowing_is_refused_with_a_message(tmp_path, tiny_tokenizer):
    source = _qwen3_folder(tmp_path / "small", tiny_tokenizer)
    done = subprocess.run([sys.executable, str(TOOLS / "grow_model.py"), str(source), str(tmp_path / "narrow"),
                           "--intermediate-size", "16"], check=False, capture_output=True, text=True)
    assert done.returncode != 0 and "already has 48 hidden units" in done.stderr and "Traceback" not in done.stderr
