"""Evaluate on my text: how much the current model, with the user's own decoding settings, helps on their document.

- **KSR** (keystroke savings rate): the simulated typist of ``engine.training.keystrokes`` types the document and is
  shown each suggestion exactly as the app would show it with these settings (no extra cut to a few words);
  Tab accepts a suggestion that is right in full, Ctrl+Right its right words one by one.
- **ExactMatch@1/@3/@5**: at word starts spread evenly over the text, whether the suggestion's first N words are
  the text's next N words. Same settings, except that the stop rule is lifted and there are tokens enough for five
  words: a "one word" stop rule would otherwise make @3 and @5 zero by construction.
- **bits/byte** of the model on the text (lower is better), with the memory when the settings have it on (the
  memory of the text before each token: what the suggestions use).
- **latency p50/p90**: time from asking for a suggestion to its first token, over every suggestion of the KSR run
  (what a writer waits before grey text appears).

``evaluate_texts`` does the work; ``evaluation_job`` wraps it for ``EngineWorker.submit`` with progress reports
and cancellation (checked between two tokens).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.decoding.settings import DecodingSettings
from engine.latency_stats import p50_p90
from engine.training.keystrokes import KeystrokeReport, exact_match_rates, simulate_typing, word_starts

EXACT_MATCH_NS = (1, 3, 5)
DEFAULT_EXACT_MATCH_POSITIONS = 150
_EXACT_MATCH_TOKENS = 16  # five words of a BPE vocabulary, with room to spare (keystrokes.suggestion_tokens(5) is 12)


class EvaluationCancelled(Exception):
    """The user cancelled; nothing was measured."""


@dataclass(frozen=True)
class DocumentFigures:
    ksr: float
    exact_match: dict[int, float]  # N -> share of word starts
    bits_per_byte: float
    latency_p50_s: float | None
    latency_p90_s: float | None
    characters: int
    keys: int
    suggestions: int
    exact_match_positions: int
    elapsed_s: float
    keystrokes: KeystrokeReport = field(default_factory=KeystrokeReport)


class TimedSuggester:
    """A ``Suggester`` that streams ``lm`` with ``settings`` and records each suggestion's time to first token.

    ``should_stop()`` is checked before each suggestion and between tokens; when it says stop, the call raises
    ``EvaluationCancelled``. ``on_call()`` is told about every suggestion (for progress).
    """

    def __init__(self, lm, settings: DecodingSettings, should_stop: Callable[[], bool] | None = None,
                 on_call: Callable[[], None] | None = None) -> None:
        self.lm = lm
        self.settings = settings
        self.should_stop = should_stop or (lambda: False)
        self.on_call = on_call
        self.first_token_s: list[float] = []

    def __call__(self, prefix: str) -> str:
        if self.should_stop():
            raise EvaluationCancelled()
        if self.on_call is not None:
            self.on_call()
        if not prefix and self.lm.eos_token_id is None:
            return ""  # nothing to condition on
        started = time.perf_counter()
        text, first = "", None
        stream = self.lm.stream(prefix, self.settings)
        try:
            for event in stream:
                if first is None:
                    first = time.perf_counter() - started
                    self.first_token_s.append(first)
                if event.done:
                    return event.completions[0].text if event.completions else event.text
                text = event.text
                if self.should_stop():
                    raise EvaluationCancelled()
        finally:
            stream.close()
        return text


def exact_match_settings(settings: DecodingSettings) -> DecodingSettings:
    """``settings`` with room for five words: no stop rule, at least ``_EXACT_MATCH_TOKENS`` tokens."""
    return settings.replace(stop=None, max_new_tokens=max(settings.max_new_tokens, _EXACT_MATCH_TOKENS))


def evaluate_texts(
    lm,
    texts: Sequence[str],
    settings: DecodingSettings,
    *,
    exact_match_positions: int = DEFAULT_EXACT_MATCH_POSITIONS,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DocumentFigures:
    """All figures of the module docstring over ``texts`` (each typed from its own start).

    ``progress`` gets ``{"phase", "done", "total", "fraction"}`` a few times a second at most; ``should_stop``
    cancels (``EvaluationCancelled``).
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("the document holds no text to evaluate on")
    stop = should_stop or (lambda: False)
    started = time.perf_counter()
    report = _Progress(progress)
    total_chars = sum(len(t) for t in texts)
    # Phase weights for one progress bar: typing dominates, exact match is a fixed number of suggestions.
    position_budget = _spread(texts, exact_match_positions)
    typing_share = total_chars / (total_chars + 2 * sum(position_budget) + 1)

    report("bits per byte", 0, 1, 0.0)
    total_bits = 0.0
    total_bytes = 0
    for text in texts:
        if stop():
            raise EvaluationCancelled()
        n_bytes = len(text.encode("utf-8"))
        total_bits += lm.bits_per_byte(text, memory=settings.memory) * n_bytes
        total_bytes += n_bytes

    suggester = TimedSuggester(lm, settings, stop)
    keystrokes = KeystrokeReport()
    typed_before = 0
    for text in texts:
        def on_position(position: int, base: int = typed_before) -> None:
            done = base + position
            report("typing", done, total_chars, typing_share * done / total_chars)

        try:
            keystrokes = keystrokes.add(simulate_typing(suggester, text, max_words=None, should_stop=stop,
                                                        progress=on_position))
        except InterruptedError as exc:  # simulate_typing's own cancellation
            raise EvaluationCancelled() from exc
        typed_before += len(text)

    asked = [0]
    total_positions = sum(position_budget)

    def on_call() -> None:
        asked[0] += 1
        share = asked[0] / max(total_positions, 1)
        report("exact match", asked[0], total_positions, typing_share + (1 - typing_share) * share)

    matcher = TimedSuggester(lm, exact_match_settings(settings), stop, on_call)
    hits = dict.fromkeys(EXACT_MATCH_NS, 0.0)
    for text, budget in zip(texts, position_budget):
        if budget == 0:
            continue
        rates = exact_match_rates(matcher, text, EXACT_MATCH_NS, max_positions=budget)
        for n in EXACT_MATCH_NS:
            hits[n] += rates[n] * budget
    p50, p90 = p50_p90(suggester.first_token_s)
    return DocumentFigures(
        ksr=keystrokes.ksr,
        exact_match={n: hits[n] / total_positions if total_positions else 0.0 for n in EXACT_MATCH_NS},
        bits_per_byte=total_bits / max(total_bytes, 1), latency_p50_s=p50, latency_p90_s=p90,
        characters=total_chars, keys=keystrokes.keys, suggestions=keystrokes.suggestions,
        exact_match_positions=total_positions, elapsed_s=time.perf_counter() - started, keystrokes=keystrokes)


def evaluation_job(texts: Sequence[str], settings: DecodingSettings,
                   exact_match_positions: int = DEFAULT_EXACT_MATCH_POSITIONS):
    """The job for ``EngineWorker.submit``: ``evaluate_texts`` on the worker's model; None when cancelled."""

    def job(lm, ctx) -> DocumentFigures | None:
        try:
            return evaluate_texts(lm, texts, settings, exact_match_positions=exact_match_positions,
                                  progress=ctx.progress, should_stop=ctx.cancelled)
        except EvaluationCancelled:
            return None

    return job


def _spread(texts: Sequence[str], positions: int) -> list[int]:
    """ExactMatch positions per text: the budget shared in proportion to each text's word starts."""
    counts = [len(word_starts(t)) for t in texts]
    total = sum(counts)
    if total <= positions:
        return counts
    return [min(c, round(positions * c / total)) for c in counts]


class _Progress:
    """Calls ``report`` at most every 0.2 s (and always for the first call of a phase)."""

    def __init__(self, report: Callable[[dict], None] | None) -> None:
        self.report = report
        self.last = 0.0
        self.phase = ""

    def __call__(self, phase: str, done: int, total: int, fraction: float) -> None:
        if self.report is None:
            return
        now = time.monotonic()
        if phase == self.phase and now - self.last < 0.2:
            return
        self.phase, self.last = phase, now
        self.report({"phase": phase, "done": done, "total": total, "fraction": min(1.0, max(0.0, fraction))})
