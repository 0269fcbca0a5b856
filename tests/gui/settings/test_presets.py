"""Decoding presets: each keeps the writer's suggestion length; "Raw" is the engine's plain decoding."""

from __future__ import annotations

from engine.decoding.settings import DecodingSettings
from gui.settings.presets import apply_preset, matching_preset
from gui.settings.settings_store import APP_DEFAULT_DECODING


def test_raw_is_plain_decoding_at_the_writers_length():
    mine = APP_DEFAULT_DECODING.replace(stop="line", max_new_tokens=24)
    raw = apply_preset(mine, "Raw")
    assert raw == DecodingSettings.plain(stop="line", max_new_tokens=24, num_beams=mine.num_beams,
                                         num_alternatives=mine.num_alternatives, seed=mine.seed,
                                         dry_base=mine.dry_base, dry_allowed_length=mine.dry_allowed_length)
    assert matching_preset(raw) == "Raw"
    assert matching_preset(raw.replace(special_tokens=True)) is None  # one guard back on is not Raw any more
