"""Greedy (and beam) decoding give exactly what ``transformers`` generates from the same folder."""

from __future__ import annotations

import pytest
import torch
from conftest import plain_settings

import engine

transformers = pytest.importorskip("transformers")

PROMPTS = ["The quick brown fox", "Hello world! Numbers: 1, 2", "It was a bright cold day in April, and the"]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory, tiny_tokenizer):
    """A random GPT-2 saved by transformers itself (no end-of-text token), plus our tokenizer."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=tiny_tokenizer.vocab_size, n_positions=128, n_embd=32, n_layer=2,
                                     n_head=4, bos_token_id=None, eos_token_id=None)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # sharper than the near-uniform init, so no argmax hangs on a rounding error
        model.transformer.wte.weight.mul_(10)
    folder = tmp_path_factory.mktemp("hf") / "gpt2"
    model.save_pretrained(folder)
    tiny_tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def both(hf_folder):
    theirs = transformers.GPT2LMHeadModel.from_pretrained(hf_folder).eval()
    ours = engine.load(str(hf_folder), device="cpu")
    assert ours.eos_token_id is None
    return theirs, ours


def their_generate(model, ids: list[int], **options) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                              pad_token_id=0, **options)


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("new_tokens", [1, 12])
def test_greedy_matches_transformers(both, prompt, new_tokens):
    theirs, ours = both
    ids = ours.tokenizer.encode(prompt)
    expected = their_generate(theirs, ids, do_sample=False, max_new_tokens=new_tokens)[0, len(ids):].tolist()
    settings = plain_settings(max_new_tokens=new_tokens, token_healing=False)
    [completion] = ours.complete(prompt, settings)
    assert list(completion.token_ids) == expected
    assert completion.text == ours.tokenizer.decode(expected)
    # Again, now from the prefix cache the first call left behind.
    assert list(ours.complete(prompt, settings)[0].token_ids) == expected


def test_greedy_log_probabilities_match_transformers(both):
    theirs, ours = both
    prompt = PROMPTS[2]
    ids = ours.tokenizer.encode(prompt)
    out = theirs.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=6, pad_token_id=0,
                          output_logits=True, return_dict_in_generate=True)
    expected = [torch.log_softmax(step[0], -1)[token].item()
                for step, token in zip(out.logits, out.sequences[0, len(ids):])]
    [completion] = ours.complete(prompt, plain_settings(max_new_tokens=6, token_healing=False))
    assert list(completion.token_logprobs) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_beam_search_finds_the_same_beams_as_transformers(both, prompt):
    theirs, ours = both
    ids = ours.tokenizer.encode(prompt)
    out = their_generate(theirs, ids, do_sample=False, num_beams=4, num_return_sequences=4, max_new_tokens=8)
    their_texts = []
    for row in out:
        text = ours.tokenizer.decode(row[len(ids):].tolist())
        if text not in their_texts:  # we never return the same text twice
            their_texts.append(text)
    settings = plain_settings(strategy="beam", num_beams=4, num_alternatives=4, max_new_tokens=8,
                                       token_healing=False)
    assert [c.text for c in ours.complete(prompt, settings)] == their_texts
