"""GraphedDecodeStep: the one-token decode step, graphed on CUDA, with the same results as eager decoding."""

from __future__ import annotations

import pytest
import torch

from engine.decoding.cuda_graphs import ENV_SWITCH, GraphedDecodeStep, cuda_graphs_enabled
from engine.models.attention_lstm import AttentionLSTM, AttentionLSTMConfig
from engine.models.gpt2 import GPT2Config, GPT2Transformer
from engine.models.llama import LlamaConfig, LlamaTransformer


def tiny_llama(device="cpu", dtype=torch.float32, window=None, vocab=300) -> LlamaTransformer:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         layer_windows=[window, None], model_type="mistral" if window else "llama")
    model = LlamaTransformer(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(30)  # logits of a few units, not the near-uniform ones of the 0.02 init
    return model.to(device=device, dtype=dtype).eval()


def tiny_gpt2(device="cpu") -> GPT2Transformer:
    torch.manual_seed(0)
    gpt2 = GPT2Transformer(GPT2Config(vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    with torch.no_grad():
        gpt2.wte.weight.mul_(25)
    return gpt2.to(device).eval()


def tiny_lstm() -> AttentionLSTM:
    torch.manual_seed(0)
    return AttentionLSTM(AttentionLSTMConfig(vocab_size=300, n_embd=32, hidden_size=32, n_layer=1)).eval()


def ids(batch: int, time: int, seed: int = 0, device="cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 300, (batch, time), generator=generator).to(device)


def decode_with(step_factory, model, prompt, continuation, reorders, *, batch: int):
    """Prefill ``prompt`` then feed ``continuation`` one token per row, reordering rows where ``reorders`` says."""
    cache = model.new_cache(batch, 48)
    step = step_factory(model, cache)
    outputs = []
    with torch.inference_mode():
        model(prompt, cache)
        for t in range(continuation.shape[1]):
            if t in reorders:
                cache.reorder(torch.tensor(reorders[t]))
            outputs.append(step(continuation[:, t]).float())
    return torch.stack(outputs, dim=1), step


def eager(model, cache):
    return GraphedDecodeStep(model, cache, mode="eager")


def test_auto_mode_is_eager_on_the_cpu():
    model = tiny_llama()
    step = GraphedDecodeStep(model, model.new_cache(1, 8))
    assert step.mode == "eager" and not step.graphed and step.fallback_reason is None


@pytest.mark.parametrize("window", [None, 3])
def test_static_step_matches_eager_steps_with_beam_reorders(window):
    model = tiny_llama(window=window)
    prompt, continuation = ids(3, 5), ids(3, 9, seed=1)
    reorders = {2: [2, 2, 0], 5: [1, 0, 1]}
    expected, _ = decode_with(eager, model, prompt, continuation, reorders, batch=3)
    # Spans of 4 slots doubling: the steps cross from 8 to 16 slots, then to the capacity of 48.
    static, step = decode_with(lambda m, c: GraphedDecodeStep(m, c, mode="static", span_step=4), model, prompt,
                               continuation, reorders, batch=3)
    assert step.mode == "static" and [step.span_for(n) for n in (3, 6, 9, 17, 40)] == [4, 8, 16, 32, 48]
    torch.testing.assert_close(static, expected, atol=1e-4, rtol=1e-4)


def test_graph_request_off_cuda_falls_back_to_eager_with_a_reason():
    model = tiny_llama()
    prompt, continuation = ids(2, 4), ids(2, 3, seed=1)
    expected, _ = decode_with(eager, model, prompt, continuation, {}, batch=2)
    got, step = decode_with(lambda m, c: GraphedDecodeStep(m, c, mode="graph"), model, prompt, continuation, {},
                            batch=2)
    assert step.mode == "eager" and "capture failed" in step.fallback_reason
    torch.testing.assert_close(got, expected)


def test_models_without_a_fixed_shape_cache_decode_eagerly():
    """A recurrent family's cache has no fixed-shape step: asking for a graph gives the plain call, with a reason."""
    model = tiny_lstm()
    prompt, continuation = ids(2, 4), ids(2, 3, seed=1)
    expected, _ = decode_with(eager, model, prompt, continuation, {}, batch=2)
    got, step = decode_with(lambda m, c: GraphedDecodeStep(m, c, mode="graph"), model, prompt, continuation, {},
                            batch=2)
    assert step.mode == "eager" and "fixed-shape" in step.fallback_reason
    torch.testing.assert_close(got, expected)


def test_gpt2_static_step_matches_eager_steps():
    gpt2 = tiny_gpt2()
    prompt, continuation = ids(3, 5), ids(3, 9, seed=1)
    reorders = {3: [1, 1, 2]}
    expected, _ = decode_with(eager, gpt2, prompt, continuation, reorders, batch=3)
    static, step = decode_with(lambda m, c: GraphedDecodeStep(m, c, mode="static", span_step=4), gpt2, prompt,
                               continuation, reorders, batch=3)
    assert step.mode == "static"
    torch.testing.assert_close(static, expected, atol=1e-4, rtol=1e-4)


def test_environment_switch(monkeypatch):
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    assert cuda_graphs_enabled("cuda") and not cuda_graphs_enabled("cpu")
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert not cuda_graphs_enabled("cuda")


def test_load_prefix_fans_a_prompt_out_to_every_row():
    model = tiny_llama()
    prompt, continuation = ids(1, 6), ids(4, 3, seed=2)
    with torch.inference_mode():
        prompt_cache = model.new_cache(1, 48)
        model(prompt, prompt_cache)
        step = GraphedDecodeStep(model, model.new_cache(4, 48), mode="static")
        step.load_prefix(prompt_cache)
        assert step.cache.length == 6
        got = torch.stack([step(continuation[:, t]) for t in range(3)], dim=1)
        full, _ = model(torch.cat([prompt.expand(4, -1), continuation], dim=1))
    torch.testing.assert_close(got, full[:, 6:], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="rows"):
        step.load_prefix(model.new_cache(3, 48))


def test_bad_calls_are_refused():
    model = tiny_llama()
    cache = model.new_cache(2, 4)
    step = GraphedDecodeStep(model, cache, mode="static")
    with pytest.raises(ValueError, match="rows"):
        step(torch.tensor([1, 2, 3]))
    with torch.inference_mode():
        model(ids(2, 4), cache)
    with pytest.raises(ValueError, match="full"):
        step(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="mode"):
        GraphedDecodeStep(model, cache, mode="fast")


# --- on a GPU (marked "cuda": tests/conftest.py skips them without one) --------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["llama", "mistral-window", "gpt2"])
def test_cuda_graph_replays_match_eager(kind):
    model = tiny_gpt2("cuda") if kind == "gpt2" else tiny_llama("cuda", window=3 if kind != "llama" else None)
    prompt, continuation = ids(3, 5, device="cuda"), ids(3, 9, seed=1, device="cuda")
    reorders = {2: [2, 2, 0], 5: [1, 0, 1]}
    expected, _ = decode_with(eager, model, prompt, continuation, reorders, batch=3)
    got, step = decode_with(lambda m, c: GraphedDecodeStep(m, c, span_step=4), model, prompt, continuation,
                            reorders, batch=3)
    assert step.graphed and step.captures == 2, step.fallback_reason  # spans 8 and 16
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
def test_cuda_bf16_graph_agrees_with_eager_bf16():
    model = tiny_llama("cuda", dtype=torch.bfloat16)
    prompt, continuation = ids(1, 7, device="cuda"), ids(1, 12, seed=3, device="cuda")
    expected, _ = decode_with(eager, model, prompt, continuation, {}, batch=1)
    got, step = decode_with(lambda m, c: GraphedDecodeStep(m, c), model, prompt, continuation, {}, batch=1)
    assert step.graphed, step.fallback_reason
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.9
    torch.testing.assert_close(got, expected, atol=0.25, rtol=0.05)


@pytest.mark.cuda
def test_cuda_graph_is_recorded_again_when_the_cache_tensors_change():
    model = tiny_llama("cuda")
    cache = model.new_cache(2, 32)
    step = GraphedDecodeStep(model, cache)
    prompt = ids(2, 4, device="cuda")
    with torch.inference_mode():
        model(prompt, cache)
        step(torch.tensor([1, 2]))
        cache.keys, cache.values = cache.keys.clone(), cache.values.clone()
        logits = step(torch.tensor([3, 4]))
        full, _ = model(torch.cat([prompt, torch.tensor([[1, 3], [2, 4]], device="cuda")], dim=1))
    assert step.captures == 2
    torch.testing.assert_close(logits, full[:, -1], atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
def test_cuda_capture_failure_falls_back_to_eager(monkeypatch):
    model = tiny_llama("cuda")
    original = model.forward

    def syncing_forward(*args, **kwargs):
        torch.cuda.synchronize()  # not allowed while a graph is being captured
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", syncing_forward)
    prompt, continuation = ids(2, 4, device="cuda"), ids(2, 3, seed=1, device="cuda")
    expected, _ = decode_with(eager, model, prompt, continuation, {}, batch=2)
    got, step = decode_with(lambda m, c: GraphedDecodeStep(m, c), model, prompt, continuation, {}, batch=2)
    assert step.mode == "eager" and "capture failed" in step.fallback_reason
    torch.testing.assert_close(got, expected)


@pytest.mark.cuda
def test_cuda_models_load_in_bfloat16_and_match_float32(tmp_path, tiny_tokenizer):
    import engine
    from engine.loading.checkpoint import save_checkpoint

    model = tiny_llama(vocab=tiny_tokenizer.vocab_size)
    folder = save_checkpoint(tmp_path / "m", model, tiny_tokenizer)
    lm = engine.load(str(folder), device="cuda")
    assert lm.dtype == torch.bfloat16 and lm.model.lm_head.weight.dtype == torch.bfloat16
    prompt = ids(1, 10)
    with torch.inference_mode():
        got = lm.model(prompt.cuda())[0].float().cpu()
        expected = model(prompt)[0]
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.8
    torch.testing.assert_close(got, expected, atol=0.3, rtol=0.05)
