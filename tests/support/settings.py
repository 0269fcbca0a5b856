"""Decoding settings for tests of the decoding machinery."""

from __future__ import annotations


def plain_settings(**changes):
    """``DecodingSettings.plain`` with token healing and the model's special tokens on, as the app reads a prompt:
    for tests of the decoding machinery itself (caching, scripted continuations). Parity with transformers uses
    ``DecodingSettings.plain()`` itself."""
    from engine.decoding.settings import DecodingSettings

    return DecodingSettings.plain(**{"token_healing": True, "special_tokens": True, **changes})
