"""Greedy and beam search under ``DecodingSettings.plain()`` give exactly what ``transformers`` generates from the
same folder and the same token ids: a GPT-2 and a Llama-family model, both with an end-of-text token (as the
models people load have; it used to be put before every prompt that starts a document, whatever the settings)."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.decoding.settings import DecodingSettings

transformers = pytest.importorskip("transformers")

PROMPTS = ["The quick brown fox", "Hello world! Numbers: 1, 2", "It was a bright cold day in April, and the",
           "She opened the letter and read"]
EOS = 0


def _gpt2(vocab_size: int):
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=EOS, eos_token_id=EOS)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # sharper than the near-uniform init, so no argmax hangs on a rounding error
        model.transformer.wte.weight.mul_(10)
    return model


def _llama(vocab_size: int):
    config = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=96,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=128, bos_token_id=EOS, eos_token_id=EOS)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                param.normal_(0, 1.0)
            elif not name.endswith("norm.weight"):
                param.normal_(0, 0.15)
    return model


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def both(request, tmp_path_factory, tiny_tokenizer):
    """A random model saved by transformers itself, with our tokenizer: (theirs, ours)."""
    torch.manual_seed(0)
    model = {"gpt2": _gpt2, "llama": _llama}[request.param](tiny_tokenizer.vocab_size).eval()
    folder = tmp_path_factory.mktemp("hf") / request.param
    model.save_pretrained(folder)
    tiny_tokenizer.backend.save(str(folder / "tokenizer.json"))
    ours = engine.load(str(folder), device="cpu", weights="float")
    assert ours.eos_token_id == EOS
    return model, ours


def their_generate(model, ids: list[int], **options) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                              pad_token_id=EOS, **options)


def without_end(ids: list[int]) -> list[int]:
    """Generated ids up to end-of-text (which ends ours and pads theirs)."""
    return ids[: ids.index(EOS)] if EOS in ids else ids


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("new_tokens", [1, 12])
def test_greedy_matches_transformers(both, prompt, new_tokens):
    theirs, ours = both
    ids = ours.tokenizer.encode(prompt)
    expected = without_end(their_generate(theirs, ids, do_sample=False, max_new_tokens=new_tokens)[0, len(ids):]
                           .tolist())
    settings = DecodingSettings.plain(max_new_tokens=new_tokens)
    [completion] = ours.complete(prompt, settings)
    assert list(completion.token_ids) == expected
    decoded = ours.tokenizer.decode(expected)
    if "\ufffd" not in decoded:  # random weights may emit stray bytes, which each side renders its own way
        assert completion.text == decoded
    # Again, now from the prefix cache the first call left behind.
    assert list(ours.complete(prompt, settings)[0].token_ids) == expected


def test_greedy_log_probabilities_match_transformers(both):
    theirs, ours = both
    prompt = PROMPTS[2]
    ids = ours.tokenizer.encode(prompt)
    out = theirs.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=6, pad_token_id=EOS,
                          output_logits=True, return_dict_in_generate=True)
    expected = [torch.log_softmax(step[0], -1)[token].item()
                for step, token in zip(out.logits, out.sequences[0, len(ids):])]
    [completion] = ours.complete(prompt, DecodingSettings.plain(max_new_tokens=6))
    assert list(completion.token_logprobs) == pytest.approx(expected[: len(completion.token_logprobs)], abs=1e-4)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_beam_search_finds_the_same_beams_as_transformers(both, prompt):
    theirs, ours = both
    ids = ours.tokenizer.encode(prompt)
    out = their_generate(theirs, ids, do_sample=False, num_beams=4, num_return_sequences=4, max_new_tokens=8)
    their_rows: list[list[int]] = []
    for row in out:
        generated = without_end(row[len(ids):].tolist())
        if generated not in their_rows:
            their_rows.append(generated)
    settings = DecodingSettings.plain(strategy="beam", num_beams=4, num_alternatives=4, max_new_tokens=8)
    assert [list(c.token_ids) for c in ours.complete(prompt, settings)] == their_rows


def test_the_app_puts_a_start_token_before_a_document_and_plain_does_not(both):
    _theirs, ours = both
    prompt = PROMPTS[3]
    encoded = ours.tokenizer.encode(prompt)
    assert ours.generator.prepare(prompt, DecodingSettings.plain()).tokens == encoded
    assert ours.generator.prepare(prompt, DecodingSettings.plain(special_tokens=True)).tokens == [EOS, *encoded]
