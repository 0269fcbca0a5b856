"""Named decoding presets: each sets the knobs that shape the style of the suggestions, and keeps the length."""

from __future__ import annotations

from engine.decoding.settings import PLAIN, DecodingSettings

# What sets the suggestion's length, which every preset leaves as the writer chose it.
_LENGTH_FIELDS = ("stop", "max_new_tokens")

PRESETS: dict[str, dict] = {
    # The most likely continuations, with alternatives to pick from.
    "Precise": {"strategy": "beam", "num_beams": 4, "num_alternatives": 3, "temperature": 1.0, "top_k": 0,
                "top_p": 1.0, "min_p": 0.0, "repetition_penalty": 1.0, "no_repeat_ngram_size": 3,
                "length_penalty": 1.0},
    # Mostly likely words, a little variety.
    "Balanced": {"strategy": "sample", "temperature": 0.7, "top_k": 40, "top_p": 0.9, "min_p": 0.05,
                 "repetition_penalty": 1.1, "no_repeat_ngram_size": 3},
    # Freer, more surprising continuations.
    "Creative": {"strategy": "sample", "temperature": 1.0, "top_k": 0, "top_p": 0.95, "min_p": 0.02,
                 "repetition_penalty": 1.15, "no_repeat_ngram_size": 0},
    # The model's own greedy choice with every guard, cut and penalty off: what transformers and llama.cpp
    # compute from the same text, to compare with them or to see what the model alone says.
    "Raw": {key: value for key, value in PLAIN.items() if key not in _LENGTH_FIELDS},
}


def apply_preset(settings: DecodingSettings, name: str) -> DecodingSettings:
    changes = dict(PRESETS[name])
    if "num_alternatives" not in changes:
        changes["num_alternatives"] = min(settings.num_alternatives, changes.get("num_beams", settings.num_beams))
    return settings.replace(**changes)


def matching_preset(settings: DecodingSettings) -> str | None:
    """The preset these settings are exactly, if any (to tick it in the menu)."""
    for name in PRESETS:
        if apply_preset(settings, name) == settings:
            return name
    return None
