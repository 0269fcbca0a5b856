"""Keystroke savings rate (KSR) and ExactMatch@N: how much typing a predictor saves on a given text.

The simulated typist
--------------------
A typist enters ``text`` from its first character to its last. At a *fresh position* (the start, after a typed
character, after a Tab accept) the predictor is shown everything typed so far and offers one suggestion, which is cut
to at most ``max_words`` word units (a unit is optional whitespace and the run of non-space characters after it:
``" lazy"``, ``"dog."``; cutting both predictors' suggestions to the same length keeps the comparison fair). Then:

1. the whole suggestion is what comes next in the text: **Tab** accepts it, **one key**; fresh position;
2. otherwise, its first k >= 1 units are what comes next: the typist accepts them one by one (**Ctrl+Right**),
   **one key per unit**. The rest of the suggestion is wrong and stays on screen, so no new suggestion is asked for
   until the typist types the next character;
3. otherwise the typist types **one character** (one key; capitals, punctuation and newlines count one key each);
   fresh position.

With ``keys`` the keys pressed and ``characters`` the length of the text (Unicode code points):

    KSR = 1 - keys / characters

0 means the predictor never helped (every character typed), values near 1 mean almost everything came from
accepting suggestions. KSR cannot be negative: the typist only accepts text that is right, and each accept enters at
least one character for its one key.

The predictor is anything with the ``Suggester`` shape, ``prefix -> suggestion``: ``LanguageModelSuggester`` adapts
an ``engine.LanguageModel`` (greedy decoding with token healing), ``engine.training.trigram`` is the baseline.

The prefix shown to the predictor is the text typed so far, limited to the last ``context_chars`` characters; the
start of that window moves forward in large jumps (at whitespace), so consecutive requests share their beginning and a
predictor with a prefix cache (the LM generator) only reads the newly typed characters.

KSR@k
-----
With a suggester that offers alternatives (``AlternativesSuggester``), the typist may take any of the first ``k``
shown: a whole alternative with one key (Tab for the first, Ctrl+i for the others), or the first units of one,
after one key that brings another alternative into the ghost text (Alt+]; typing its first character does it
too). Between two fresh suggestions a whole accept costs one key; a partial one its units, the switch, and the
character typed after it (no new suggestion comes before a key), which enters a character too. The typist takes
what enters the most characters per key until the next fresh suggestion; KSR@1 is plain KSR of the first
alternative.

ExactMatch@N
------------
At each word start of the text (the text before it ends in whitespace), the predictor's suggestion matches exactly
when its first N whitespace-separated words equal the next N words of the text. ExactMatch@N is the share of word
starts where it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from engine.decoding.doubt import doubt_cut, without_doubtful_tails
from engine.decoding.settings import DecodingSettings
from engine.decoding.word_units import word_units

DEFAULT_MAX_WORDS = 3
DEFAULT_CONTEXT_CHARS = 4000


class Suggester(Protocol):
    def __call__(self, prefix: str) -> str:
        """The continuation the predictor would show after ``prefix`` ("" for none)."""
        ...


class AlternativesSuggester(Protocol):
    def alternatives(self, prefix: str) -> list[str]:
        """The continuations the predictor would list after ``prefix``, best first."""
        ...


def trim_to_words(suggestion: str, max_words: int | None) -> str:
    if max_words is None:
        return suggestion
    return "".join(word_units(suggestion)[:max_words])


@dataclass
class KeystrokeReport:
    characters: int = 0
    keys: int = 0
    typed_characters: int = 0  # keys spent typing one character
    tab_accepts: int = 0  # whole suggestions accepted with one key
    word_accepts: int = 0  # units accepted one by one
    accepted_characters: int = 0
    suggestions: int = 0  # times the predictor was asked

    @property
    def ksr(self) -> float:
        return 1.0 - self.keys / self.characters if self.characters else 0.0

    def add(self, other: KeystrokeReport) -> KeystrokeReport:
        """Totals over several texts (KSR of the concatenation, each text typed from its own start)."""
        return KeystrokeReport(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


class _ContextWindow:
    """The last ``max_chars`` characters before a position, with a start that only moves in large jumps."""

    def __init__(self, text: str, max_chars: int) -> None:
        self.text = text
        self.max_chars = max(16, max_chars)
        self.start = 0

    def prefix(self, position: int) -> str:
        if position - self.start > self.max_chars:
            target = position - self.max_chars // 2
            space = self.text.find(" ", target, position)
            self.start = space + 1 if space >= 0 else target
        return self.text[self.start : position]


def simulate_typing(
    suggester: Suggester | AlternativesSuggester,
    text: str,
    *,
    max_words: int | None = DEFAULT_MAX_WORDS,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    choices: int | None = None,
) -> KeystrokeReport:
    """Type ``text`` with ``suggester``'s help, as described in the module docstring. With ``choices`` (KSR@k)
    ``suggester`` is an ``AlternativesSuggester`` and the typist may take any of its first ``choices``.

    ``progress(position)`` is called before each suggestion; ``should_stop()`` cancels (``InterruptedError``).
    """
    report = KeystrokeReport(characters=len(text))
    window = _ContextWindow(text, context_chars)
    position = 0
    fresh = True
    while position < len(text):
        if should_stop is not None and should_stop():
            raise InterruptedError("keystroke simulation cancelled")
        suggestion = ""
        switch_keys = 0
        if fresh:
            if progress is not None:
                progress(position)
            if choices is None:
                suggestion = trim_to_words(cast(Suggester, suggester)(window.prefix(position)), max_words)
            else:
                alternatives = cast(AlternativesSuggester, suggester).alternatives(window.prefix(position))
                shown = [trim_to_words(s, max_words) for s in alternatives]
                suggestion, switch_keys = _best_choice(shown[:choices], text, position)
            report.suggestions += 1
        if suggestion and text.startswith(suggestion, position):
            report.keys += 1  # Tab, or Ctrl+i for another alternative
            report.tab_accepts += 1
            report.accepted_characters += len(suggestion)
            position += len(suggestion)
            fresh = True
            continue
        accepted = 0
        for unit in word_units(suggestion):
            if not text.startswith(unit, position):
                break
            position += len(unit)
            report.accepted_characters += len(unit)
            accepted += 1
        if accepted:
            report.keys += accepted + switch_keys
            report.word_accepts += accepted
            fresh = False
            continue
        report.keys += 1
        report.typed_characters += 1
        position += 1
        fresh = True
    return report


def _best_choice(shown: list[str], text: str, position: int) -> tuple[str, int]:
    """The alternative the typist takes at ``position`` and the Alt+] presses to reach it for a partial accept:
    the one entering the most characters per key ("", 0 when none helps)."""
    best, best_switch, best_rate = "", 0, 0.0
    for index, suggestion in enumerate(shown):
        switch = min(index, 1)
        if suggestion and text.startswith(suggestion, position):
            rate = float(len(suggestion))  # one key, then a fresh suggestion
        else:
            right = ""
            for unit in word_units(suggestion):
                if not text.startswith(right + unit, position):
                    break
                right += unit
            units = len(word_units(right))
            # Up to the next fresh suggestion: the units, the switch, then one typed character.
            rate = (len(right) + 1) / (units + switch + 1) if units else 0.0
        if rate > best_rate:
            best, best_switch, best_rate = suggestion, switch, rate
    return best, best_switch


def word_starts(text: str) -> list[int]:
    """Positions where a word begins after whitespace (the text's very first word has no context and is left out)."""
    return [m.start() for m in re.finditer(r"(?<=\s)\S", text)]


def exact_match_rates(
    suggester: Suggester,
    text: str,
    ns: Sequence[int] = (1, 3, 5),
    *,
    max_positions: int | None = None,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
) -> dict[int, float]:
    """ExactMatch@N for each N in ``ns``: the share of word starts where the next N words are suggested exactly.

    The suggester's text is used whole, so it must offer at least ``max(ns)`` words to score at N, e.g.
    ``LanguageModelSuggester(lm, max_new_tokens=16)`` for ExactMatch@5.
    """
    positions = word_starts(text)
    if max_positions is not None and len(positions) > max_positions:  # spread evenly over the text
        step = len(positions) / max_positions
        positions = [positions[int(i * step)] for i in range(max_positions)]
    if not positions:
        return {n: 0.0 for n in ns}
    window = _ContextWindow(text, context_chars)
    hits = dict.fromkeys(ns, 0)
    for position in positions:
        suggested = suggester(window.prefix(position)).split()
        upcoming = text[position:].split(maxsplit=max(ns))
        for n in ns:
            if len(suggested) >= n and len(upcoming) >= n and suggested[:n] == upcoming[:n]:
                hits[n] += 1
    return {n: hits[n] / len(positions) for n in ns}


def suggestion_tokens(max_words: int | None) -> int:
    """Tokens to generate for a suggestion of ``max_words`` words: enough for most words of a BPE vocabulary."""
    return 2 * (max_words or 7) + 2


class LanguageModelSuggester:
    """An ``engine.LanguageModel`` as a ``Suggester``: its best greedy continuation, with token healing.

    ``max_new_tokens`` bounds the work per suggestion. With ``max_words`` the generation stops as soon as that many
    whole word units are out (the next one has begun), since the simulation would cut the rest anyway; greedy
    decoding makes that the same text, sooner.
    """

    def __init__(self, lm, max_new_tokens: int = suggestion_tokens(DEFAULT_MAX_WORDS),
                 settings: DecodingSettings | None = None, max_words: int | None = None) -> None:
        self.lm = lm
        self.max_words = max_words
        # Greedy without repetition guards, as the published KSR figures were measured (comparable across runs).
        self.settings = settings or DecodingSettings(
            strategy="greedy", max_new_tokens=max_new_tokens, token_healing=True, stop=None,
            no_repeat_ngram_size=0, dry_multiplier=0.0,
        )
        self.doubt = default_length_doubt_cut(self.settings, lm)

    def __call__(self, prefix: str) -> str:
        if not prefix and self.lm.eos_token_id is None:
            return ""  # nothing to condition on
        if self.max_words is None or self.settings.strategy != "greedy":
            completions = without_doubtful_tails(self.lm.complete(prefix, self.settings), self.doubt)
            return completions[0].text if completions else ""
        text = ""
        pieces: list[str] = []
        logprobs: list[float] = []
        stream = self.lm.stream(prefix, self.settings)
        try:
            for event in stream:
                if event.done:
                    completions = without_doubtful_tails(event.completions, self.doubt)
                    return completions[0].text if completions else event.text
                # Greedy streams one event per token: what it added and its log-probability.
                pieces.append(event.delta)
                logprobs.append(event.token_logprob if event.token_logprob is not None else 0.0)
                keep = doubt_cut(pieces, logprobs, self.doubt)
                if keep is not None:
                    return "".join(pieces[:keep])
                text = event.text
                if len(word_units(text)) > self.max_words:
                    break
        finally:
            stream.close()
        return text


def default_length_doubt_cut(settings: DecodingSettings, lm=None) -> float:
    """The doubt cut the app makes at its default length (to the end of the sentence) under ``settings``, with
    ``lm``'s own bar where the settings leave it to the model. The simulated typist is given suggestions without
    a stop rule (it takes whole words up to its own limit), where decoding makes no doubt cut
    (``DecodingSettings.doubt_cut``), so the suggesters make it themselves and measure what the app shows."""
    model_bar = lm.doubt_cut_default if lm is not None else None
    return settings.replace(stop="sentence").for_model(model_bar).doubt_cut


class AlternativesOfLanguageModel:
    """An ``engine.LanguageModel`` as an ``AlternativesSuggester``: the alternatives beam search lists, as the app
    shows them (first-word branching, or plain beam search with ``branch_first_word=False``). Results are kept by
    prefix, so KSR@1 and KSR@3 over the same text decode each shared position once."""

    def __init__(self, lm, alternatives: int = 3, max_new_tokens: int = suggestion_tokens(DEFAULT_MAX_WORDS),
                 branch_first_word: bool = True) -> None:
        self.lm = lm
        # No stop rule and no repetition guards: as ``LanguageModelSuggester``, so the figures compare.
        self.settings = DecodingSettings(strategy="beam", num_beams=max(4, alternatives),
                                         num_alternatives=alternatives, max_new_tokens=max_new_tokens, stop=None,
                                         no_repeat_ngram_size=0, dry_multiplier=0.0,
                                         branch_first_word=branch_first_word)
        self._seen: dict[str, list[str]] = {}

    def alternatives(self, prefix: str) -> list[str]:
        if not prefix and self.lm.eos_token_id is None:
            return []
        if prefix not in self._seen:
            if len(self._seen) > 4096:
                self._seen.clear()
            completions = without_doubtful_tails(self.lm.complete(prefix, self.settings),
                                                 default_length_doubt_cut(self.settings, self.lm))
            self._seen[prefix] = [c.text for c in completions]
        return self._seen[prefix]
