"""Whether a suggestion is worth showing: the confidence threshold and the quality guards, with no Qt.

``QualitySettings`` is what the user chooses (coverage, which guards are on, the never-suggest list).
``SuggestionGate`` applies it to one request: it decides, event by event, what of a streamed suggestion may be
shown, and which finished completions survive.

Where the gating happens, and why there: decoding itself only *prevents* what can be prevented token by token
(repetition via ``no_repeat_ngram_size`` and DRY, never-suggest words via masking; see ``engine.decoding``). What
needs the whole suggestion (its mean log-probability, whether it is only punctuation, whether it repeats the line)
is judged by the gate, which the GUI runs on each streamed event before the editor sees it. So that nothing
low-confidence flashes up, the gate *holds back* a stream until it has at least ``min_tokens`` tokens and its
running mean log-probability clears the threshold (and until it has a word, and cannot still turn out to repeat
the line). Once shown, a stream stays shown while it grows; if the finished completion then fails, it is taken
away. With coverage at 100% no threshold applies and streams show at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace

from engine.decoding.banned_words import normalise_words
from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings

_WORD = re.compile(r"\w+")
_TRAILING_WORD = re.compile(r"\w*\Z")
_LEADING_WORD = re.compile(r"\w*")

COVERAGE_STOPS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
REPEAT_WORDS = 3  # a suggestion whose first this many words already stand on the line repeats it
MIN_GATED_TOKENS = 3  # a running mean over fewer tokens says too little to show a stream on
MAX_NEVER_SUGGEST = 1000


@dataclass(frozen=True)
class QualitySettings:
    """What the user chose; every guard is on by default, the threshold off (every pause may show one)."""

    coverage: float = 1.0  # share of pauses that should show a suggestion on typical text; 1.0: no threshold
    skip_blank: bool = True  # no suggestion made only of whitespace and punctuation
    skip_line_repeats: bool = True  # no suggestion whose first words repeat the current line
    never_suggest_enabled: bool = True
    never_suggest: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.never_suggest, list):
            object.__setattr__(self, "never_suggest", tuple(self.never_suggest))
        problems = list(_problems(self))
        if problems:
            raise ValueError("invalid quality settings: " + "; ".join(problems))

    def replace(self, **changes) -> QualitySettings:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["never_suggest"] = list(self.never_suggest)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> QualitySettings:
        """Saved settings: each valid field is kept, a missing or invalid one falls back to its default."""
        values = {}
        for spec in fields(cls):
            if spec.name in data:
                try:
                    cls(**{spec.name: data[spec.name]})
                except (TypeError, ValueError):
                    continue
                values[spec.name] = data[spec.name]
        return cls(**values)

    @property
    def banned_words(self) -> tuple[str, ...]:
        """The never-suggest words decoding should mask (none while the list is switched off)."""
        return self.never_suggest if self.never_suggest_enabled else ()

    def decoding_settings(self, settings: DecodingSettings) -> DecodingSettings:
        """``settings`` with the never-suggest list applied: what a request is decoded with."""
        if settings.banned_words == self.banned_words:
            return settings
        return settings.replace(banned_words=self.banned_words)


# What the "block repetition" guard switches on when the settings have neither (DRY's recommended multiplier).
REPETITION_NGRAM = 3
REPETITION_DRY_MULTIPLIER = 0.8


def blocks_repetition(settings: DecodingSettings) -> bool:
    """The repetition guard is on when either of its penalties is."""
    return settings.no_repeat_ngram_size > 0 or settings.dry_multiplier > 0


def with_repetition_blocking(settings: DecodingSettings, on: bool) -> DecodingSettings:
    """``settings`` with the no-repeat n-gram ban and the DRY penalty switched on (keeping sizes already chosen)
    or both off. The guard lives in the decoding settings, so the Settings dialog and the menu always agree."""
    if on:
        return settings.replace(no_repeat_ngram_size=settings.no_repeat_ngram_size or REPETITION_NGRAM,
                                dry_multiplier=settings.dry_multiplier or REPETITION_DRY_MULTIPLIER)
    return settings.replace(no_repeat_ngram_size=0, dry_multiplier=0.0)


def _problems(q: QualitySettings):
    coverage = q.coverage
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0 < coverage <= 1:
        yield f"coverage must be a number in (0, 1], not {coverage!r}"
    for name in ("skip_blank", "skip_line_repeats", "never_suggest_enabled"):
        if not isinstance(getattr(q, name), bool):
            yield f"{name} must be True or False, not {getattr(q, name)!r}"
    words = q.never_suggest
    if not isinstance(words, tuple):
        yield f"never_suggest must be a list of words, not {type(words).__name__}"
        return
    if len(words) > MAX_NEVER_SUGGEST:
        yield f"never_suggest holds at most {MAX_NEVER_SUGGEST} words, not {len(words)}"
    for word in words:
        if not isinstance(word, str) or not _WORD.fullmatch(word):
            yield f"never_suggest must hold single words (letters, digits, _), not {word!r}"


def parse_word_list(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Words from text typed by the user (separated by spaces, commas or lines): (the words, the entries that
    are not single words). Duplicates (any case) are kept once, in the order typed."""
    words: list[str] = []
    rejected: list[str] = []
    for entry in re.split(r"[\s,;]+", text):
        entry = entry.strip()
        if not entry:
            continue
        if _WORD.fullmatch(entry):
            words.append(entry)
        else:
            rejected.append(entry)
    seen: set[str] = set()
    unique = []
    for word in words:
        if word.lower() not in seen:
            seen.add(word.lower())
            unique.append(word)
    return tuple(unique), rejected


# --- the guards, on text ---------------------------------------------------------------------------------


def is_blank(suggestion: str) -> bool:
    """Only whitespace and punctuation (or symbols): no letter or digit to gain from accepting it."""
    return _WORD.search(suggestion) is None


def current_line(prompt: str) -> str:
    """The text of the cursor's line before the cursor."""
    return prompt.rsplit("\n", 1)[-1]


def suggested_words(line: str, suggestion: str) -> tuple[list[str], list[str], bool]:
    """(the words of the line before the word the cursor is in, the words the suggestion makes, whether the last
    of them is complete), all lower case. A suggestion that finishes the word the cursor is in makes that whole
    word ("I think th" + "at it": "that", "it")."""
    trailing, leading = _TRAILING_WORD.search(line), _LEADING_WORD.match(suggestion)
    assert trailing is not None and leading is not None  # both patterns match the empty string
    fragment = trailing.group()
    before = line[: len(line) - len(fragment)]
    if not leading.group():
        before, fragment = line, ""  # the suggestion does not touch the typed word
    joined = (fragment + suggestion).lower()
    words = _WORD.findall(joined)
    complete = bool(joined) and _WORD.match(joined[-1]) is None
    return [w.lower() for w in _WORD.findall(before)], words, complete


def _occurs(needle: list[str], haystack: list[str]) -> bool:
    size = len(needle)
    return any(haystack[i : i + size] == needle for i in range(len(haystack) - size + 1))


def repeats_line(line: str, suggestion: str, words: int = REPEAT_WORDS, finished: bool = True) -> bool | None:
    """True when the suggestion's first ``words`` words already stand, in order and next to each other, earlier
    on the line (case-insensitive, whole words; the punctuation between words does not matter). A suggestion of
    fewer words never counts as a repeat.

    While streaming (``finished`` False) the answer may still be open: None while fewer than ``words`` of its
    words are complete and they (and the start of the next one) could still grow into such a repeat."""
    line_words, new_words, last_complete = suggested_words(line, suggestion)
    if finished or last_complete:
        known, partial = new_words, ""
    else:
        known, partial = new_words[:-1], (new_words[-1] if new_words else "")
    if len(known) >= words:
        return _occurs(known[:words], line_words)
    if finished:
        return False
    size = len(known)
    for start in range(len(line_words) - words + 1):
        if line_words[start : start + size] == known and line_words[start + size].startswith(partial):
            return None
    return False


def banned_word_in(line: str, suggestion: str, banned: Iterable[str]) -> str | None:
    """The first never-suggest word the suggestion spells (the word it finishes included), or None."""
    words = set(normalise_words(banned))
    if not words:
        return None
    _, new_words, _ = suggested_words(line, suggestion)
    for word in new_words:
        if word in words:
            return word
    return None


def rejection_reason(suggestion: str, line: str, quality: QualitySettings) -> str | None:
    """Why a finished suggestion must not be shown under ``quality`` (None: it may)."""
    if quality.skip_blank and is_blank(suggestion):
        return "only whitespace or punctuation"
    if quality.skip_line_repeats and repeats_line(line, suggestion):
        return "repeats the line"
    if banned_word_in(line, suggestion, quality.banned_words):
        return "a never-suggest word"
    return None


# --- one request -----------------------------------------------------------------------------------------


class SuggestionGate:
    """Decides what of one request's suggestion may be shown.

    ``threshold`` is the lowest mean log-probability per token a suggestion may have (None: no threshold).
    Feed every streamed event to ``stream`` (it answers with the events to show now, in order: held events are
    released together once the stream qualifies) and the final completions to ``finish``.
    """

    def __init__(self, line: str, quality: QualitySettings, threshold: float | None,
                 min_tokens: int = MIN_GATED_TOKENS) -> None:
        self.line = line
        self.quality = quality
        self.threshold = threshold
        self.min_tokens = min_tokens
        self.shown = False  # some of the stream has been let through
        self.closed = False  # decided for good: nothing more of this request may be shown
        self.reason: str | None = None  # why the suggestion was withheld, once known
        self._held: list[StreamEvent] = []

    def stream(self, event: StreamEvent) -> list[StreamEvent]:
        """The events to show now (none while holding back). When it sets ``closed`` after ``shown``, what was
        shown must be taken away."""
        if self.closed:
            return []
        if banned_word_in(self.line, event.text, self.quality.banned_words) is not None:
            # Masking missed it (a word split inside a character): never show it.
            self.reason = "a never-suggest word"
            self.closed = True
            self._held.clear()
            return []
        if self.shown or (not event.text and not self._held):
            return [event]  # nothing to see yet is nothing to hold back
        self._held.append(event)
        if not (self._may_show_settled(event) if event.settled else self._may_show(event)):
            return []
        self.shown = True
        released, self._held = self._held, []
        return released

    def _may_show(self, event: StreamEvent) -> bool:
        text = event.text
        if self.quality.skip_blank and is_blank(text):
            return False
        if self.quality.skip_line_repeats and repeats_line(self.line, text, finished=False) is not False:
            return False
        if self.threshold is None:
            return True
        if event.mean_logprob is None or event.tokens < self.min_tokens:
            return False
        return event.mean_logprob >= self.threshold

    def _may_show_settled(self, event: StreamEvent) -> bool:
        """A settled text is the suggestion's final first completion: judged as ``finish`` will judge it, so a
        stream held while its last word could still grow (into a repeat, say) shows now, not when the
        alternatives are done. One that fails stays held: ``finish`` may still show another alternative."""
        if rejection_reason(event.text, self.line, self.quality) is not None:
            return False
        return self.threshold is None or (event.mean_logprob is not None and event.mean_logprob >= self.threshold)

    def finish(self, completions: Iterable[Completion]) -> tuple[Completion, ...]:
        """The completions that may be shown, best first; sets ``reason`` when none may."""
        kept = []
        reasons = []
        for completion in completions:
            reason = rejection_reason(completion.text, self.line, self.quality)
            if reason is None and self.threshold is not None and completion.mean_logprob < self.threshold:
                reason = "not confident enough"
            if reason is None:
                kept.append(completion)
            else:
                reasons.append(reason)
        if not kept and reasons:
            self.reason = reasons[0]
        return tuple(kept)
