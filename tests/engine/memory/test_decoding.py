"""The memory in decoding and scoring: every strategy draws from the mixture, healing's constraint and the
penalties' masks still hold, ``memory=False`` is the model alone, and ``bits_per_byte`` never peeks."""

from __future__ import annotations

import json
import math

import pytest
import torch

import engine
from engine.memory import MixtureWeights, mix_logprobs, settled_text
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings


def S(**changes) -> engine.DecodingSettings:
    """The decoding machinery alone (greedy, no guards, no stop rule, plain beams), with the memory on."""
    return plain_settings(**{"memory": True, **changes})

PROMPT = SAMPLE_TEXT + "The quick brown fox jumps over the"  # the document said " lazy dog." after this, 4 times


@pytest.fixture
def remembering(tiny_gpt2):
    """The tiny random model with a memory it trusts almost completely: its continuations show the memory. The
    weights stay as given (learned from the document: tests/engine/memory/test_online_weights.py), so each request mixes with
    the same ones the hand computation uses."""
    tiny_gpt2.memory.weights = MixtureWeights.constant(0.97)
    tiny_gpt2.memory.learning = False
    return tiny_gpt2


def mixed_logprob_after(lm, text: str, continuation_ids: list[int], token: int) -> float:
    """log p(token) by hand: the model's softmax after the prompt and continuation, mixed with the memory of
    ``text`` as decoding sees it."""
    prompt = lm.generator.prepare(text, S(token_healing=False))
    context = prompt.tokens + continuation_ids
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([context]))
    logprobs = torch.log_softmax(logits[:, -1].float(), dim=-1)
    lm.memory.see_document(text)
    return mix_logprobs(logprobs, [lm.memory.longest(context)], lm.memory.weights)[0, token].item()


def test_greedy_follows_the_document_and_reports_the_mixed_probabilities(remembering):
    settings = S(max_new_tokens=4, token_healing=False)
    [completion] = remembering.complete(PROMPT, settings)
    assert completion.text.startswith(" lazy dog")
    for step, (token, logprob) in enumerate(zip(completion.token_ids, completion.token_logprobs)):
        expected = mixed_logprob_after(remembering, PROMPT, list(completion.token_ids[:step]), token)
        assert logprob == pytest.approx(expected, abs=1e-4)
    [alone] = remembering.complete(PROMPT, settings.replace(memory=False))
    assert not alone.text.startswith(" lazy dog")


def test_beam_search_ranks_by_the_mixture(remembering):
    settings = S(strategy="beam", num_beams=4, num_alternatives=2, max_new_tokens=3, token_healing=False)
    best = remembering.complete(PROMPT, settings)[0]
    assert best.text.startswith(" lazy dog")
    for step, (token, logprob) in enumerate(zip(best.token_ids, best.token_logprobs)):
        expected = mixed_logprob_after(remembering, PROMPT, list(best.token_ids[:step]), token)
        assert logprob == pytest.approx(expected, abs=1e-4)
    assert not remembering.complete(PROMPT, settings.replace(memory=False))[0].text.startswith(" lazy dog")


def test_sampling_draws_from_the_mixture(remembering):
    settings = S(strategy="sample", max_new_tokens=3, token_healing=False)
    texts = [remembering.complete(PROMPT, settings.replace(seed=seed))[0] for seed in range(5)]
    assert sum(c.text.startswith(" lazy dog") for c in texts) >= 4
    for completion in texts:
        token, logprob = completion.token_ids[0], completion.token_logprobs[0]
        assert logprob == pytest.approx(mixed_logprob_after(remembering, PROMPT, [], token), abs=1e-4)
    alone = [remembering.complete(PROMPT, settings.replace(seed=s, memory=False))[0].text for s in range(5)]
    assert not any(text.startswith(" lazy dog") for text in alone)


def test_token_healing_still_constrains_the_first_token(remembering):
    # The document says " red" after " quick"; the user has typed " bro", so only tokens starting so may follow.
    document = "The quick red fox. " * 6
    text = document + "The quick bro"
    [completion] = remembering.complete(text, S(max_new_tokens=2))
    first = remembering.tokenizer.token_bytes[completion.token_ids[0]]
    assert first.startswith(b" bro")
    candidates = remembering.next_token_candidates(text, k=50)
    assert sum(p for _, p in candidates) <= 1 + 1e-5
    assert " red" not in [piece for piece, _ in candidates]


def test_every_mixed_decoding_distribution_sums_to_one_even_with_masks(remembering):
    generator = remembering.generator
    text = PROMPT + " lazy"  # the document's next word is " dog", which the never-suggest list forbids
    settings = S(banned_words=("dog",), token_healing=False)
    memory = generator.memory_for(text, settings)
    prompt = generator.prepare(text, settings)
    logits = generator.logits_after(prompt.tokens).float()
    scores = generator.guards.banned(settings, prompt.tokens).apply(logits.clone())
    mixed = torch.log_softmax(generator.with_memory(scores, memory, [prompt.tokens]), dim=-1)
    assert float(mixed.exp().sum()) == pytest.approx(1.0, abs=1e-5)
    dog = remembering.tokenizer.encode(" dog")[0]
    assert memory.longest(prompt.tokens).ids == (dog,)
    assert mixed[0, dog].item() == float("-inf")  # the never-suggest list beats the memory


def test_hover_candidates_show_the_mixture(remembering):
    text = SAMPLE_TEXT + "The quick brown fox jumps over the lazy"
    top, probability = remembering.next_token_candidates(text, k=3, settings=S(token_healing=False))[0]
    assert top == " dog" and probability > 0.95
    alone = dict(remembering.next_token_candidates(text, k=400, settings=S(token_healing=False, memory=False)))
    assert alone.get(" dog", 0.0) < 0.5


def test_memory_off_never_consults_the_memory(tiny_gpt2, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the memory was consulted with memory=False")

    monkeypatch.setattr(type(tiny_gpt2.memory), "mix_scores", refuse)
    monkeypatch.setattr(type(tiny_gpt2.memory), "see_document", refuse)
    monkeypatch.setattr(type(tiny_gpt2.memory), "longest", refuse)
    for strategy in ("greedy", "sample", "beam"):
        tiny_gpt2.complete(PROMPT, S(strategy=strategy, memory=False, max_new_tokens=3, seed=1))
    tiny_gpt2.next_token_candidates(PROMPT, k=3, settings=S(memory=False))
    tiny_gpt2.bits_per_byte(SAMPLE_TEXT, memory=False)


def test_the_document_memory_leaves_out_the_word_being_typed():
    assert settled_text("The quick bro") == "The quick"
    assert settled_text("The quick ") == "The quick"
    assert settled_text("The end.") == "The end."
    assert settled_text("") == ""


def test_the_this_document_switch_empties_the_document_memory(remembering):
    remembering.memory.use_document = False
    [completion] = remembering.complete(PROMPT, S(max_new_tokens=4, token_healing=False))
    assert len(remembering.memory.document) == 0
    assert not completion.text.startswith(" lazy dog")


def test_memory_setting_is_validated():
    with pytest.raises(ValueError, match="memory must be True or False"):
        S(memory="yes")
    assert engine.DecodingSettings.from_dict(S(memory=False).to_dict()).memory is False


# --- bits per byte -------------------------------------------------------------------------------------------


def total_bits(lm, ids: list[int], memory: bool) -> list[float]:
    return [-lp / math.log(2) for lp in lm.token_logprobs(ids, memory=memory)]


def test_no_peeking_a_passage_repeated_twice_costs_at_least_its_first_copy(remembering):
    passage = SAMPLE_TEXT[:300]
    eos = remembering.eos_token_id
    once = [eos] + remembering.tokenizer.encode(passage)
    twice = [eos] + remembering.tokenizer.encode(passage + passage)
    assert twice[: len(once)] == once
    bits_once = total_bits(remembering, once, memory=True)
    bits_twice = total_bits(remembering, twice, memory=True)
    # The first copy is scored exactly as if the second did not exist: nothing after a token is remembered.
    assert bits_twice[: len(bits_once)] == pytest.approx(bits_once, abs=1e-6)
    assert sum(bits_twice) >= sum(bits_once)
    # The memory never holds the token being scored: where a context was never seen, the mixture is the model's.
    model_once = total_bits(remembering, once, memory=False)
    assert bits_once[0] == pytest.approx(model_once[0], abs=1e-6)
    # And the second copy is where the memory pays off.
    assert sum(bits_twice[len(bits_once):]) < 0.5 * sum(bits_once)


def test_bits_per_byte_with_memory_by_default_and_the_model_alone_on_request(remembering):
    text = SAMPLE_TEXT
    alone = remembering.bits_per_byte(text, memory=False)
    ids = [remembering.eos_token_id] + remembering.tokenizer.encode(text)
    assert alone == pytest.approx(sum(total_bits(remembering, ids, memory=False)) / len(text.encode()), rel=1e-6)
    assert remembering.bits_per_byte(text) < alone - 0.5  # SAMPLE_TEXT is four copies of one passage


# --- evaluation --------------------------------------------------------------------------------------------------


def test_inkling_eval_reports_with_and_without_memory(tiny_gpt2_folder, tmp_path, capsys):
    from engine.cli import main

    text_file = tmp_path / "repeats.txt"
    text_file.write_text(SAMPLE_TEXT[:600], encoding="utf-8")
    argv = ["eval", "--model", str(tiny_gpt2_folder), "--text", str(text_file), "--device", "cpu",
            "--no-baseline", "--max-chars", "600"]
    assert main([*argv, "--memory", "both", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    lm = engine.load(str(tiny_gpt2_folder), device="cpu")
    from engine.training.evaluation import load_eval_texts

    [typed] = load_eval_texts([str(text_file)], 600)
    assert figures["model"]["bits_per_byte"] == pytest.approx(lm.bits_per_byte(typed.text))
    assert figures["model_alone"]["bits_per_byte"] == pytest.approx(lm.bits_per_byte(typed.text, memory=False))
    assert figures["model"]["bits_per_byte"] < figures["model_alone"]["bits_per_byte"]
    assert main([*argv, "--memory", "both"]) == 0
    table = capsys.readouterr().out
    assert "+ memory" in table and " alone" in table


def test_evaluate_on_my_text_measures_what_its_settings_use(tiny_gpt2):
    from engine.jobs.document_eval import evaluate_texts
    from engine.jobs.eval_history import describe_settings

    text = SAMPLE_TEXT[:400]
    settings = S(max_new_tokens=3)
    with_memory = evaluate_texts(tiny_gpt2, [text], settings, exact_match_positions=3)
    alone = evaluate_texts(tiny_gpt2, [text], settings.replace(memory=False), exact_match_positions=3)
    assert with_memory.bits_per_byte == pytest.approx(tiny_gpt2.bits_per_byte(text))
    assert alone.bits_per_byte == pytest.approx(tiny_gpt2.bits_per_byte(text, memory=False))
    assert describe_settings(settings.replace(memory=False)).endswith("model alone (no memory)")
    assert "memory" not in describe_settings(settings)


# --- where a remembered word came from ---------------------------------------------------------------------


def test_a_word_from_the_document_names_its_line_and_passage(remembering):
    document = "Chapter one.\nNothing here.\nThen Mrs. Jellyby wrote to Borrioboola.\nThe end.\n"
    text = document + "And Mrs."
    settings = S(max_new_tokens=12, token_healing=False)  # the tiny tokenizer spells names letter by letter
    [completion] = remembering.complete(text, settings)
    assert completion.text.startswith(" Jellyby")
    source = remembering.memory_source(text, "", completion.text, settings)
    assert source is not None and source.where == "document" and source.line == 3
    assert "Mrs. Jellyby wrote" in source.passage
    assert source.share > 0.5 and source.describe() == "from your document, line 3"
    # Further into the suggestion, and for the model alone (nothing to attribute).
    assert remembering.memory_source(text, " Jelly", completion.text[len(" Jelly"):], settings).line == 3
    assert remembering.memory_source(text, "", completion.text, settings.replace(memory=False)) is None


def test_a_word_from_a_folder_names_its_file_and_line(remembering, tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "writing"
    folder.mkdir()
    (folder / "a.txt").write_text("Nothing to see.\n", encoding="utf-8")
    (folder / "b.txt").write_text("First line.\nSecond line.\nThe Dedlock estate in Lincolnshire.\n", encoding="utf-8")
    remembering.memory.add_folder(folder)
    text = "We drove past the Dedlock"
    source = remembering.memory_source(text, "", " estate in", S(token_healing=False))
    assert source is not None and source.where == str(folder.resolve() / "b.txt") and source.line == 3
    assert "estate in Lincolnshire" in source.passage and source.describe() == "from b.txt, line 3"
