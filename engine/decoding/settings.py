"""``DecodingSettings``: every knob of decoding, validated when constructed."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace

STRATEGIES = ("greedy", "sample", "beam")
STOP_RULES = (None, "word", "sentence", "line")
MAX_NEW_TOKENS_LIMIT = 4096
MAX_BEAMS = 64
MAX_DRY_ALLOWED_LENGTH = 1000
MAX_FINISHED_WORD_ODDS = 1000.0
_ONE_WORD = re.compile(r"\w+")
#: The doubt cut's bar for a model that has none measured (``LanguageModel.doubt_cut_default``).
DEFAULT_MIN_WORD_PROBABILITY = 0.1


@dataclass(frozen=True)
class DecodingSettings:
    """The defaults are the app's: every door (the GUI, ``inkling complete``, ``engine``) decodes the same way
    unless told otherwise. Beam search gives alternatives to choose from; repetition is blocked (no-repeat
    3-grams and DRY); a suggestion runs to the end of the sentence."""

    strategy: str = "beam"
    max_new_tokens: int = 16
    num_beams: int = 4
    num_alternatives: int = 3
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 3
    length_penalty: float = 1.0
    # Beam search: alternatives that start with different words (the likeliest continuation of each of the
    # likeliest distinct first words, see ``first_words``); False: plain beam search, whose beams often differ
    # only in their last word.
    branch_first_word: bool = True
    seed: int | None = None
    token_healing: bool = True
    # Greedy: inside a word, ending it is weighed as one outcome (every space and punctuation token together)
    # against the likeliest token that lengthens it, so "The quick bro" becomes "brown", not "brownened"
    # (``word_ends``). False: plain token-by-token argmax, as transformers' ``generate`` decodes.
    greedy_word_ends: bool = True
    stop: str | None = "sentence"
    # DRY ("don't repeat yourself", after p-e-w's sampler): a token that would extend a token sequence already
    # seen in the continuation (or the few tokens before it: ``processors.GUARD_LOOKBACK``) by ``n >=
    # dry_allowed_length`` tokens loses ``dry_multiplier * dry_base ** (n - dry_allowed_length)`` from its score.
    # 0 turns it off. Like the no-repeat n-gram ban, it leaves alone what repeats the document further back.
    dry_multiplier: float = 0.8
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    # A suggestion ends before its first word (after the first) that is less likely than this given the text
    # before it, so Tab takes only the likely part and a fresh suggestion follows (``doubt``). 0 never cuts. Only
    # where the length is the model's to choose (``doubt_cut``). None: the loaded model's own bar, measured for it
    # (``LanguageModel.doubt_cut_default``, 0.1 where none was), put in where decoding starts (``for_model``).
    min_word_probability: float | None = None
    # Whole words (any case) the continuation must never spell; tokens that would are masked while decoding.
    banned_words: tuple[str, ...] = ()
    # Mix the memory (the document decoded from, attached folders: ``engine.memory``) into every next-token
    # distribution. False decodes with the model alone.
    memory: bool = True
    # The model's special tokens as the app uses them: its start-of-text token before a prompt that begins the
    # document (GPT-2-style models saw end-of-text before every document), the fill-in-the-middle prompt when there
    # is text after the cursor, and those markers never generated. False: the model reads exactly the tokenizer's
    # encoding of the text and any token may come, as ``transformers``' ``generate`` on those ids.
    special_tokens: bool = True
    # A word that could end as typed ("Could we move our meeting to|") is lengthened ("today") only when the
    # longer word's token is this many times likelier than the typed word's own; 1 leaves it to the model's argmax.
    # Applies with token healing, at the first token, where the cursor is right after a word character.
    finished_word_odds: float = 2.0
    # At the token limit inside a word, finish the word (a few tokens more) or end at the last whole word, never
    # "University of Ill" (``word_limit``). False: exactly ``max_new_tokens`` tokens, mid-word if that is where.
    whole_words: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.banned_words, list):  # saved settings come back from JSON as a list
            object.__setattr__(self, "banned_words", tuple(self.banned_words))
        problems = list(_problems(self))
        if problems:
            raise ValueError("invalid decoding settings: " + "; ".join(problems))

    @property
    def doubt_cut(self) -> float:
        """The ``min_word_probability`` decoding applies: greedy or beam search to the end of the sentence (the
        default length, where the model decides how much to say). A length the writer chose (a word, a line, a
        number of tokens) is kept whole, and sampling, asked for variety, is not cut back to its first word.
        Settings not yet given a model's bar (``for_model``) use ``DEFAULT_MIN_WORD_PROBABILITY``."""
        if self.stop != "sentence" or self.strategy == "sample":
            return 0.0
        return DEFAULT_MIN_WORD_PROBABILITY if self.min_word_probability is None else self.min_word_probability

    def for_model(self, model_bar: float | None) -> DecodingSettings:
        """These settings with the model's measured bar where ``min_word_probability`` is None (the default);
        a bar the writer set is kept. ``model_bar`` None: ``DEFAULT_MIN_WORD_PROBABILITY``."""
        if self.min_word_probability is not None:
            return self
        return replace(self, min_word_probability=DEFAULT_MIN_WORD_PROBABILITY if model_bar is None else model_bar)

    @classmethod
    def plain(cls, **changes) -> DecodingSettings:
        """Greedy decoding with every guard, cut and penalty off (``PLAIN``): the model's own argmax, token by
        token, exactly what ``transformers`` (and llama.cpp without samplers) compute from the same ids; parity
        tests, benchmarks and the "Raw" preset start here. ``changes`` set any field on top (``strategy="beam"``)."""
        return cls(**{**PLAIN, **changes})

    def replace(self, **changes) -> DecodingSettings:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DecodingSettings:
        """Build from saved settings, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


#: What ``DecodingSettings.plain`` changes: everything the app adds to the model's own distribution, turned off.
PLAIN: dict[str, object] = {
    "strategy": "greedy",
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "length_penalty": 1.0,
    "branch_first_word": False,
    "token_healing": False,
    "greedy_word_ends": False,
    "stop": None,
    "dry_multiplier": 0.0,
    "min_word_probability": 0.0,
    "banned_words": (),
    "memory": False,
    "special_tokens": False,
    "whole_words": False,
    "finished_word_odds": 1.0,
}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not a count


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_word_probability(value: object) -> bool:
    """Whether ``value`` is a bar the doubt cut can use: a number in [0, 1) (0 never cuts)."""
    return _finite(value) and 0 <= value < 1  # type: ignore[operator]


def _problems(s: DecodingSettings):
    if s.strategy not in STRATEGIES:
        yield f"strategy must be one of {', '.join(STRATEGIES)}, not {s.strategy!r}"
    if not _whole(s.max_new_tokens) or not 1 <= s.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
        yield f"max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS_LIMIT}, not {s.max_new_tokens!r}"
    if not _whole(s.num_beams) or not 1 <= s.num_beams <= MAX_BEAMS:
        yield f"num_beams must be a whole number from 1 to {MAX_BEAMS}, not {s.num_beams!r}"
    if not _whole(s.num_alternatives) or s.num_alternatives < 1:
        yield f"num_alternatives must be a whole number of at least 1, not {s.num_alternatives!r}"
    elif _whole(s.num_beams) and s.num_alternatives > s.num_beams:
        yield f"num_alternatives ({s.num_alternatives}) cannot exceed num_beams ({s.num_beams})"
    if not _finite(s.temperature) or s.temperature < 0:
        yield f"temperature must be a number >= 0, not {s.temperature!r}"
    if not _whole(s.top_k) or s.top_k < 0:
        yield f"top_k must be a whole number >= 0 (0 turns it off), not {s.top_k!r}"
    if not _finite(s.top_p) or not 0 < s.top_p <= 1:
        yield f"top_p must be in (0, 1], not {s.top_p!r}"
    if not _finite(s.min_p) or not 0 <= s.min_p < 1:
        yield f"min_p must be in [0, 1), not {s.min_p!r}"
    if not _finite(s.repetition_penalty) or s.repetition_penalty <= 0:
        yield f"repetition_penalty must be a number > 0 (1 turns it off), not {s.repetition_penalty!r}"
    if not _whole(s.no_repeat_ngram_size) or s.no_repeat_ngram_size < 0:
        yield f"no_repeat_ngram_size must be a whole number >= 0, not {s.no_repeat_ngram_size!r}"
    if not _finite(s.length_penalty):
        yield f"length_penalty must be a finite number, not {s.length_penalty!r}"
    if s.seed is not None and (not _whole(s.seed) or s.seed < 0):
        yield f"seed must be None or a whole number >= 0, not {s.seed!r}"
    if not isinstance(s.branch_first_word, bool):
        yield f"branch_first_word must be True or False, not {s.branch_first_word!r}"
    if not isinstance(s.token_healing, bool):
        yield f"token_healing must be True or False, not {s.token_healing!r}"
    if not isinstance(s.greedy_word_ends, bool):
        yield f"greedy_word_ends must be True or False, not {s.greedy_word_ends!r}"
    if not isinstance(s.memory, bool):
        yield f"memory must be True or False, not {s.memory!r}"
    if not isinstance(s.whole_words, bool):
        yield f"whole_words must be True or False, not {s.whole_words!r}"
    if not isinstance(s.special_tokens, bool):
        yield f"special_tokens must be True or False, not {s.special_tokens!r}"
    if s.stop not in STOP_RULES:
        yield f"stop must be None, 'word', 'sentence' or 'line', not {s.stop!r}"
    if s.min_word_probability is not None and not is_word_probability(s.min_word_probability):
        yield (f"min_word_probability must be None (the model's own) or in [0, 1) (0 never cuts), "
               f"not {s.min_word_probability!r}")
    if not _finite(s.finished_word_odds) or not 1 <= s.finished_word_odds <= MAX_FINISHED_WORD_ODDS:
        yield (f"finished_word_odds must be a number from 1 to {MAX_FINISHED_WORD_ODDS:g} (1 leaves the choice to "
               f"the model), not {s.finished_word_odds!r}")
    if not _finite(s.dry_multiplier) or s.dry_multiplier < 0:
        yield f"dry_multiplier must be a number >= 0 (0 turns it off), not {s.dry_multiplier!r}"
    if not _finite(s.dry_base) or s.dry_base < 1:
        yield f"dry_base must be a number >= 1, not {s.dry_base!r}"
    if not _whole(s.dry_allowed_length) or not 1 <= s.dry_allowed_length <= MAX_DRY_ALLOWED_LENGTH:
        yield (f"dry_allowed_length must be a whole number from 1 to {MAX_DRY_ALLOWED_LENGTH}, "
               f"not {s.dry_allowed_length!r}")
    yield from _banned_word_problems(s.banned_words)


def _banned_word_problems(words: object):
    if not isinstance(words, tuple):
        yield f"banned_words must be a tuple of words, not {type(words).__name__}"
        return
    for word in words:
        if not isinstance(word, str) or not _ONE_WORD.fullmatch(word):
            yield f"banned_words must hold single words (letters, digits, _), not {word!r}"
