"""What a model brings of its own to decoding: the doubt cut's bar measured for it.

A suggestion at the default length ends before its first word the model finds less likely than a bar
(``engine.decoding.doubt``); the bar that saves the most keystrokes differs from model to model, so it is measured
per model (``tools/measure_doubt_cut.py``) and kept with it: a model folder keeps it in its
``generation_config.json`` under ``"inkling"`` (``{"inkling": {"min_word_probability": 0.1}}``), a GGUF file of the
catalogue in its entry (``catalogue.json``). Any other model has none (decoding then uses
``DecodingSettings``' fallback).
"""

from __future__ import annotations

import math
from pathlib import Path

from engine.loading.catalogue import catalogue_entry_of_file
from engine.loading.gguf_file import is_gguf_path

#: The section of ``generation_config.json`` that holds Inkling's own per-model decoding facts.
GENERATION_SECTION = "inkling"
MIN_WORD_PROBABILITY = "min_word_probability"


def is_word_probability(value: object) -> bool:
    """Whether ``value`` is a bar the doubt cut can use: a number in [0, 1) (0 never cuts)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value < 1)


def measured_min_word_probability(generation_config: dict, path: Path | None) -> float | None:
    """The doubt cut's bar kept with a model: its folder's ``generation_config.json`` (``"inkling"`` section), or
    for a GGUF file its catalogue entry; None where neither has a valid one."""
    section = generation_config.get(GENERATION_SECTION) if isinstance(generation_config, dict) else None
    if isinstance(section, dict) and is_word_probability(section.get(MIN_WORD_PROBABILITY)):
        return float(section[MIN_WORD_PROBABILITY])
    if path is not None and is_gguf_path(path):
        entry = catalogue_entry_of_file(path)
        if entry is not None:
            return entry.min_word_probability
    return None
