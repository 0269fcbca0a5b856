"""Evaluate on my text (engine side): KSR, ExactMatch@1/3/5, bits/byte and latency percentiles on texts whose
answers are known, cancellation, and the evaluation history file."""

from __future__ import annotations

import json
import math

import pytest
import torch

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.jobs import document_eval
from engine.jobs.document_eval import EvaluationCancelled, evaluate_texts, evaluation_job
from engine.jobs.eval_history import EvaluationHistory, EvaluationRun, describe_settings
from engine.latency_stats import p50_p90, percentile
from engine.training.keystrokes import word_starts, word_units
from tests.support.samples import SAMPLE_TEXT

TEXT = ("the cat sat on the mat and looked at the dog who sat by the door while the rain fell on the roof "
        "of the old house near the river")
GREEDY = DecodingSettings(strategy="greedy", max_new_tokens=8, stop=None)


class FakeClock:
    """Stands in for the ``time`` module of document_eval: time moves only when the oracle says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class OracleModel:
    """A "model" that has memorised ``text``: it suggests the next ``words`` word units exactly, and its first
    token takes the next of ``latencies_s`` (in turn) on the fake clock."""

    eos_token_id = 0

    def __init__(self, text: str, words: int, clock: FakeClock, latencies_s: list[float]) -> None:
        self.text, self.words, self.clock, self.latencies_s = text, words, clock, latencies_s
        self.calls = 0
        self.settings_seen: list[DecodingSettings] = []

    def bits_per_byte(self, text: str, *, memory: bool = True) -> float:
        return 0.25 if text == self.text else math.nan

    def stream(self, prefix: str, settings: DecodingSettings):
        assert self.text.startswith(prefix)
        self.settings_seen.append(settings)
        self.clock.now += self.latencies_s[self.calls % len(self.latencies_s)]
        self.calls += 1
        suggestion = "".join(word_units(self.text[len(prefix):])[: self.words])
        yield StreamEvent(text=suggestion[:1], delta=suggestion[:1])
        self.clock.now += 0.5  # the rest of the suggestion: not part of the time to the first token
        yield StreamEvent(text=suggestion, done=True, completions=(Completion(suggestion, 0.0),))


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(document_eval, "time", fake)
    return fake


def test_figures_of_a_model_that_knows_the_text(clock):
    latencies = [0.010, 0.020, 0.030, 0.040, 0.050, 0.060, 0.070, 0.080, 0.090, 0.100]
    oracle = OracleModel(TEXT, words=3, clock=clock, latencies_s=latencies)
    figures = evaluate_texts(oracle, [TEXT], GREEDY)

    units = len(word_units(TEXT))
    tabs = math.ceil(units / 3)  # every suggestion is right in full: one Tab per three words
    assert figures.keys == tabs == figures.keystrokes.tab_accepts == figures.suggestions
    assert figures.ksr == pytest.approx(1 - tabs / len(TEXT))
    starts = len(word_starts(TEXT))
    assert figures.exact_match_positions == starts
    assert figures.exact_match[1] == 1.0
    assert figures.exact_match[3] == pytest.approx((starts - 2) / starts)  # the last two starts lack 3 words
    assert figures.exact_match[5] == 0.0  # it never offers five words
    assert figures.bits_per_byte == pytest.approx(0.25)
    typing_latencies = [latencies[i % len(latencies)] for i in range(tabs)]  # the KSR suggestions come first
    assert figures.latency_p50_s == pytest.approx(percentile(typing_latencies, 50))
    assert figures.latency_p90_s == pytest.approx(percentile(typing_latencies, 90))
    # KSR uses the settings as they are; ExactMatch lifts the stop rule and makes room for five words.
    sentence = GREEDY.replace(stop="sentence", max_new_tokens=4)
    oracle = OracleModel(TEXT, words=3, clock=clock, latencies_s=latencies)
    evaluate_texts(oracle, [TEXT], sentence)
    assert oracle.settings_seen[0] == sentence
    assert oracle.settings_seen[-1].stop is None and oracle.settings_seen[-1].max_new_tokens >= 12


def test_word_by_word_accepts_when_only_the_start_is_right(clock):
    class FirstWordOnly(OracleModel):
        def stream(self, prefix, settings):
            units = word_units(self.text[len(prefix):])
            wrong = "".join(units[:1]) + " zzz" if units else ""
            yield StreamEvent(text=wrong, done=True, completions=(Completion(wrong, 0.0),))

    figures = evaluate_texts(FirstWordOnly(TEXT, 1, clock, [0.01]), [TEXT], GREEDY)
    units = len(word_units(TEXT))
    # Each suggestion has its first word right: one Ctrl+Right per word, and the next suggestion comes only
    # after a typed character, so words alternate between accepted and typed.
    assert figures.keystrokes.word_accepts > units / 3 and figures.keystrokes.tab_accepts == 0
    assert 0 < figures.ksr < 1
    assert figures.exact_match[1] == 1.0 and figures.exact_match[3] == 0.0


def test_cancelling_stops_between_suggestions(clock):
    oracle = OracleModel(TEXT, words=1, clock=clock, latencies_s=[0.01])
    calls_when_cancelled = 5

    with pytest.raises(EvaluationCancelled):
        evaluate_texts(oracle, [TEXT], GREEDY, should_stop=lambda: oracle.calls >= calls_when_cancelled)
    assert oracle.calls == calls_when_cancelled

    class Context:
        def __init__(self):
            self.reports = []

        def cancelled(self):
            return oracle.calls >= 2 * calls_when_cancelled

        def progress(self, payload):
            self.reports.append(payload)

    context = Context()
    assert evaluation_job([TEXT], GREEDY)(oracle, context) is None  # cancelled: no figures
    assert context.reports and context.reports[0]["phase"] == "bits per byte"
    with pytest.raises(ValueError, match="no text"):
        evaluate_texts(oracle, ["  \n"], GREEDY)


def test_a_model_that_memorised_the_text_beats_the_one_it_started_from(tiny_gpt2, tiny_gpt2_folder, tmp_path,
                                                                       monkeypatch):
    """The real pipeline end to end: fine-tune the tiny model on a text until it knows it, then measure both."""
    import engine
    from engine.jobs.fine_tune import FineTunePlan, fine_tune_job, start_run

    torch.set_num_threads(1)
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "user-models"))
    monkeypatch.setenv("INKLING_CACHE_DIR", str(tmp_path / "cache"))
    text = SAMPLE_TEXT[: len(SAMPLE_TEXT) // 4]
    (tmp_path / "writing").mkdir()
    (tmp_path / "writing" / "text.txt").write_text(text, encoding="utf-8")
    plan = FineTunePlan(name="memorised", data=[str(tmp_path / "writing")], base_model=str(tiny_gpt2_folder),
                        steps=200, learning_rate=3e-3, batch_size=4, block_size=64, eval_every=100)

    class Quiet:
        def cancelled(self):
            return False

        def progress(self, payload):
            pass

    fine_tune_job(start_run(plan, tmp_path / "data"))(tiny_gpt2, Quiet())
    memorised = engine.load("memorised", device="cpu")
    before = evaluate_texts(tiny_gpt2, [text], GREEDY, exact_match_positions=40)
    after = evaluate_texts(memorised, [text], GREEDY, exact_match_positions=40)
    assert after.ksr > 0.5 > before.ksr
    assert after.exact_match[1] > 0.6 > before.exact_match[1]
    assert after.bits_per_byte < before.bits_per_byte / 4
    assert after.latency_p50_s is not None and after.latency_p90_s >= after.latency_p50_s > 0


def test_percentiles_interpolate_between_ranks():
    values = [0.1 * i for i in range(1, 11)]  # 0.1 .. 1.0
    assert p50_p90(values) == (pytest.approx(0.55), pytest.approx(0.91))
    assert percentile([3.0], 90) == 3.0 and percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def _run(model: str, ksr: float) -> EvaluationRun:
    return EvaluationRun(when="2025-01-02T03:04:05", model=model, architecture="GPT-2", device="cpu",
                         document="/docs/essay.txt", characters=1000, ksr=ksr,
                         exact_match={"1": 0.5, "3": 0.2, "5": 0.1}, bits_per_byte=1.5, latency_p50_ms=12.0,
                         latency_p90_ms=30.0, suggestions=400, settings=GREEDY.to_dict(),
                         settings_summary=describe_settings(GREEDY))


def test_history_persists_runs_in_order_and_survives_a_damaged_file(tmp_path):
    path = tmp_path / "data" / "evaluations.json"
    history = EvaluationHistory(path)
    assert history.load() == []
    history.add(_run("default", 0.31))
    history.add(_run("default-my-style", 0.42))

    again = EvaluationHistory(path).load()
    assert [(r.model, r.ksr) for r in again] == [("default", 0.31), ("default-my-style", 0.42)]
    assert again[1].exact_match == {"1": 0.5, "3": 0.2, "5": 0.1}
    assert DecodingSettings.from_dict(again[0].settings) == GREEDY
    assert json.loads(path.read_text())["version"] == 1

    path.write_text("{broken", encoding="utf-8")
    damaged = EvaluationHistory(path)
    assert damaged.load() == [] and "could not be read" in damaged.problem
    assert len(list(tmp_path.glob("data/evaluations.json.unreadable-*"))) == 1
    assert [r.model for r in damaged.add(_run("x", 0.1))] == ["x"]


def test_history_follows_inkling_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "elsewhere"))
    EvaluationHistory().add(_run("default", 0.3))
    assert (tmp_path / "elsewhere" / "evaluations.json").is_file()


def test_settings_are_described_as_a_writer_reads_them():
    assert describe_settings(GREEDY) == "greedy, 8 tokens"
    assert describe_settings(DecodingSettings(strategy="beam", num_beams=4, stop="sentence", max_new_tokens=24)) \
        == "beam 4, to the sentence end (at most 24 tokens)"
