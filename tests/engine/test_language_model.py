"""engine.load and LanguageModel.bits_per_byte, checked against log-probabilities computed by hand."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import engine
from engine.loading.devices import resolve_device
from engine.loading.registry import bundled_models_dir
from tests.support.samples import SAMPLE_TEXT
from tests.support.tiny_models import make_gpt2_folder

SHORT_TEXT = "The quick brown fox jumps over the lazy dog."
LONG_TEXT = SAMPLE_TEXT[:700]


def _full_context_bits_per_byte(lm, text: str) -> float:
    """Every token scored in one forward over the whole text, first token given the end-of-text token."""
    ids = [lm.eos_token_id, *lm.tokenizer.encode(text)]
    with torch.no_grad():
        logits = lm.model(torch.tensor([ids]))[0][0]
    logprobs = F.log_softmax(logits.double(), dim=-1)
    nats = -sum(logprobs[i - 1, ids[i]].item() for i in range(1, len(ids)))
    return nats / math.log(2) / len(text.encode("utf-8"))


def _window_starts(n_tokens: int, window: int) -> list[int]:
    """Windows of the model's context overlapping by half, the last one ending exactly at the text's end."""
    stride = max(1, window // 2)
    starts = [0]
    while starts[-1] + window < n_tokens:
        starts.append(min(starts[-1] + stride, n_tokens - window))
    return starts


def _windowed_bits_per_byte(lm, text: str) -> float:
    """Each token scored once, by the first window holding it, with that window's tokens before it as context."""
    ids = [lm.eos_token_id, *lm.tokenizer.encode(text)]
    window = lm.max_context
    starts = _window_starts(len(ids), window)
    with torch.no_grad():  # causal attention: position j of a window's forward sees exactly ids[start : start + j + 1]
        window_logprobs = {
            s: F.log_softmax(lm.model(torch.tensor([ids[s : s + window]]))[0][0].double(), dim=-1) for s in starts
        }
    nats = 0.0
    for i in range(1, len(ids)):
        start = next(s for s in starts if s < i < s + window)
        nats -= window_logprobs[start][i - 1 - start, ids[i]].item()
    return nats / math.log(2) / len(text.encode("utf-8"))


# --- loading and devices ------------------------------------------------------------------------------------


def test_load_a_folder_path_on_cpu_in_float32(tiny_gpt2_folder, tiny_tokenizer):
    lm = engine.load(str(tiny_gpt2_folder), device="cpu")
    assert isinstance(lm, engine.LanguageModel)
    assert lm.device == torch.device("cpu")
    assert lm.dtype == torch.float32
    assert {p.dtype for p in lm.model.parameters()} == {torch.float32}
    assert {p.device.type for p in lm.model.parameters()} == {"cpu"}
    assert lm.max_context == 128
    assert lm.architecture == "Transformer (GPT-2)"
    assert lm.eos_token_id == 0
    assert lm.tokenizer.vocab_size == tiny_tokenizer.vocab_size
    assert lm.parameter_count == sum(p.numel() for p in lm.model.parameters()) > 0
    assert not lm.model.training


def test_load_accepts_a_path_object(tiny_gpt2_folder):
    assert engine.load(Path(tiny_gpt2_folder), device="cpu").path == tiny_gpt2_folder


def test_auto_device_picks_cuda_then_mps_then_cpu(tiny_gpt2_folder):
    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"  # this machine and CI
    lm = engine.load(str(tiny_gpt2_folder), device="auto")
    assert lm.device.type == expected
    if expected == "cpu":
        assert lm.dtype == torch.float32


@pytest.mark.parametrize(
    ("spec", "available", "message"),
    [
        ("cuda", lambda: torch.cuda.is_available(), "no CUDA GPU is available"),
        ("cuda:1", lambda: torch.cuda.device_count() > 1, "cuda:1"),
        ("mps", lambda: torch.backends.mps.is_available(), "Apple MPS is not available"),
        ("tpu", lambda: False, "unknown device 'tpu'"),
        ("meta", lambda: False, "unsupported device 'meta'"),
    ],
)
def test_an_unavailable_device_is_a_clear_device_error(tiny_gpt2_folder, spec, available, message):
    if available():
        pytest.skip(f"{spec} exists on this machine")
    with pytest.raises(engine.DeviceError, match=message) as caught:
        engine.load(str(tiny_gpt2_folder), device=spec)
    assert "auto, cpu, cuda" in str(caught.value) or "requested but" in str(caught.value)


@pytest.mark.cuda
def test_a_suggestion_on_the_gpu_is_the_one_the_cpu_makes(tmp_path, tiny_tokenizer):
    """Greedy, float32 on both devices: the GPU's own path (its cache, the CUDA-graph step) suggests the same text.
    A random Llama with spread logits, so the argmax changes from token to token."""
    from engine.loading.checkpoint import save_checkpoint
    from engine.models.llama import LlamaConfig, LlamaTransformer

    torch.manual_seed(0)
    model = LlamaTransformer(LlamaConfig(vocab_size=tiny_tokenizer.vocab_size, hidden_size=64, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=128))
    with torch.no_grad():
        model.lm_head.weight.mul_(30)
    folder = save_checkpoint(tmp_path / "llama", model, tiny_tokenizer)
    settings = engine.DecodingSettings.plain(max_new_tokens=16)
    cpu = engine.load(str(folder), device="cpu", dtype=torch.float32)
    gpu = engine.load(str(folder), device="cuda", dtype=torch.float32)
    assert gpu.device.type == "cuda"
    for prompt in ("The quick brown fox", "It was a bright cold day in April, and the", "Hello"):
        on_cpu, on_gpu = cpu.complete(prompt, settings)[0], gpu.complete(prompt, settings)[0]
        assert on_gpu.token_ids == on_cpu.token_ids and on_gpu.text == on_cpu.text, prompt


def test_cpu_device_names_are_accepted_in_any_case():
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_default_model_loads_when_bundled_or_fails_clearly_when_not():
    """Both states are real: before the bundled model is trained the folder is absent; afterwards it must load."""
    bundled = bundled_models_dir() / "default"
    if bundled.is_dir():
        lm = engine.load("default", device="cpu")
        assert lm.path == bundled
        # The model's own log-probabilities of every token after the start token, in bits per byte of the text.
        ids = [lm.start_token_id, *lm.tokenizer.encode(SHORT_TEXT)]
        with torch.no_grad():
            logits, _ = lm.model(torch.tensor([ids]))
        logprobs = torch.log_softmax(logits[0].double(), dim=-1)
        nats = -sum(logprobs[i, ids[i + 1]].item() for i in range(len(ids) - 1))
        expected = nats / math.log(2) / len(SHORT_TEXT.encode("utf-8"))
        assert lm.bits_per_byte(SHORT_TEXT, memory=False) == pytest.approx(expected, rel=1e-3)
    else:
        with pytest.raises(engine.ModelNotFoundError, match="bundled default model is missing"):
            engine.load("default", device="cpu")


def test_a_missing_model_is_a_model_not_found_error(tmp_path):
    with pytest.raises(engine.ModelNotFoundError, match="no model named"):
        engine.load(str(tmp_path / "no-such-model"), device="cpu")


def test_import_engine_never_imports_qt():
    code = (
        "import sys, engine, engine.cli, engine.language_model, engine.loading.checkpoint, engine.loading.registry\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == ""


def test_no_engine_module_imports_qt_even_lazily():
    """Imports inside functions escape the sys.modules check above; the source is checked for them too."""
    qt_import = re.compile(r"^\s*(from|import)\s+(PySide6|shiboken6|PyQt5|PyQt6)\b", re.MULTILINE)
    engine_dir = Path(engine.__file__).parent
    offenders = [str(p.relative_to(engine_dir)) for p in engine_dir.rglob("*.py") if qt_import.search(p.read_text())]
    assert offenders == []


# --- bits per byte ------------------------------------------------------------------------------------------


def test_bits_per_byte_equals_summed_token_log_probabilities(tiny_gpt2):
    expected = _full_context_bits_per_byte(tiny_gpt2, SHORT_TEXT)
    assert tiny_gpt2.bits_per_byte(SHORT_TEXT, memory=False) == pytest.approx(expected, rel=1e-5)
    assert 0 < expected < 100


def test_bits_per_byte_counts_bytes_not_characters(tiny_gpt2):
    text = "Café – naïve résumé."  # multi-byte characters: bytes > characters
    assert len(text.encode("utf-8")) > len(text)
    expected = _full_context_bits_per_byte(tiny_gpt2, text)
    assert tiny_gpt2.bits_per_byte(text, memory=False) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("context", [16, 31], ids=["even-window", "odd-window"])
def test_long_text_is_scored_in_sliding_windows(tmp_path, tiny_tokenizer, context):
    lm = engine.load(str(make_gpt2_folder(tmp_path / "short-context", tiny_tokenizer, n_positions=context)),
                     device="cpu")
    n_tokens = len(tiny_tokenizer.encode(LONG_TEXT)) + 1
    assert n_tokens > 4 * context  # several windows, and a last one aligned to the end
    measured = lm.bits_per_byte(LONG_TEXT, memory=False)
    assert measured == pytest.approx(_windowed_bits_per_byte(lm, LONG_TEXT), rel=1e-5)


def test_a_text_shorter_than_the_context_gets_the_exact_full_context_value(tmp_path, tiny_tokenizer):
    lm = engine.load(str(make_gpt2_folder(tmp_path / "m", tiny_tokenizer, n_positions=32)), device="cpu")
    text = SHORT_TEXT
    assert len(tiny_tokenizer.encode(text)) + 1 <= 32
    exact = _full_context_bits_per_byte(lm, text)
    assert lm.bits_per_byte(text, memory=False) == pytest.approx(exact, rel=1e-5)
    assert _windowed_bits_per_byte(lm, text) == pytest.approx(exact, rel=1e-5)


def test_without_an_end_of_text_token_the_first_token_is_context_only(tmp_path, tiny_tokenizer):
    lm = engine.load(str(make_gpt2_folder(tmp_path / "no-eos", tiny_tokenizer, eos_token_id=None)), device="cpu")
    assert lm.eos_token_id is None
    ids = tiny_tokenizer.encode(SHORT_TEXT)
    with torch.no_grad():
        logits = lm.model(torch.tensor([ids]))[0][0]
    logprobs = F.log_softmax(logits.double(), dim=-1)
    nats = -sum(logprobs[i - 1, ids[i]].item() for i in range(1, len(ids)))
    first_token_bytes = len(tiny_tokenizer.backend.decode(ids[:1]).encode("utf-8"))
    scored_bytes = len(SHORT_TEXT.encode("utf-8")) - first_token_bytes
    assert lm.bits_per_byte(SHORT_TEXT, memory=False) == pytest.approx(nats / math.log(2) / scored_bytes, rel=1e-5)


def test_bits_per_byte_refuses_texts_it_cannot_measure(tiny_gpt2, tmp_path, tiny_tokenizer):
    with pytest.raises(ValueError, match="non-empty"):
        tiny_gpt2.bits_per_byte("")
    no_eos = engine.load(str(make_gpt2_folder(tmp_path / "no-eos", tiny_tokenizer, eos_token_id=None)), device="cpu")
    single_token = "the"
    assert len(tiny_tokenizer.encode(single_token)) == 1
    with pytest.raises(ValueError, match="too short"):
        no_eos.bits_per_byte(single_token)


def test_a_better_model_of_the_text_gets_fewer_bits(tiny_gpt2):
    """Sanity for the sign and scale: a text the model predicts well costs fewer bits than shuffled noise."""
    rng = torch.Generator().manual_seed(0)
    ids = tiny_gpt2.tokenizer.encode(SHORT_TEXT)
    greedy = [ids[0]]
    with torch.no_grad():
        for _ in range(30):
            greedy.append(int(tiny_gpt2.model(torch.tensor([greedy]))[0][0, -1].argmax()))
    predictable = tiny_gpt2.tokenizer.decode(greedy)
    noise = tiny_gpt2.tokenizer.decode(torch.randint(1, 400, (31,), generator=rng).tolist())
    assert tiny_gpt2.bits_per_byte(predictable) < tiny_gpt2.bits_per_byte(noise)


def test_complete_and_stream_forward_the_cancel_flag(tiny_gpt2):
    settings = engine.DecodingSettings(strategy="beam", num_beams=2, num_alternatives=2, max_new_tokens=8)
    assert tiny_gpt2.complete("The quick", settings, cancelled=lambda: True) == []
    events = list(tiny_gpt2.stream("The quick", settings, cancelled=lambda: True))
    assert not any(event.done for event in events)
    assert tiny_gpt2.complete("The quick", settings, cancelled=lambda: False)
