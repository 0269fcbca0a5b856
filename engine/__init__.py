"""Inkling's engine: models, decoding and training, with no Qt anywhere.

    import engine
    lm = engine.load("default")
    lm.complete("The quick bro", engine.DecodingSettings(stop="word"))
"""

from engine.decoding.results import Completion, StreamEvent
from engine.decoding.settings import DecodingSettings
from engine.errors import CheckpointError, DeviceError, InklingError, ModelNotFoundError
from engine.language_model import LanguageModel, load
from engine.loading.registry import ModelInfo, list_models

__all__ = [
    "CheckpointError",
    "Completion",
    "DecodingSettings",
    "DeviceError",
    "InklingError",
    "LanguageModel",
    "ModelInfo",
    "ModelNotFoundError",
    "StreamEvent",
    "list_models",
    "load",
]
