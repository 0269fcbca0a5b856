"""The quality penalties that need to know the vocabulary (DRY's sequence breakers, the never-suggest list),
built per request from ``DecodingSettings`` with what can be reused kept between requests."""

from __future__ import annotations

import torch

from engine.decoding.banned_words import BannedWordIndexes, BannedWordMask
from engine.decoding.dry import DryPenalty, breaker_mask
from engine.decoding.settings import DecodingSettings


class DecodingGuards:
    def __init__(self, token_bytes: list[bytes], device: torch.device) -> None:
        self.token_bytes = token_bytes
        self.device = device
        self._breakers: torch.Tensor | None = None
        self._indexes = BannedWordIndexes(token_bytes)

    def dry(self, settings: DecodingSettings) -> DryPenalty | None:
        if settings.dry_multiplier <= 0:
            return None
        if self._breakers is None:
            self._breakers = breaker_mask(self.token_bytes)
        return DryPenalty(settings.dry_multiplier, settings.dry_base, settings.dry_allowed_length, self._breakers)

    def banned(self, settings: DecodingSettings, prompt_tokens: list[int]) -> BannedWordMask | None:
        index = self._indexes.get(settings.banned_words)
        if index is None:
            return None
        return BannedWordMask(index, prompt_tokens, self.token_bytes, self.device)
