"""The error types the engine raises, so callers can tell user mistakes from bugs."""

from __future__ import annotations

from pathlib import Path


class InklingError(Exception):
    """Base class for every error the engine reports to a user."""


class CheckpointError(InklingError):
    """A model folder cannot be loaded: names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DeviceError(InklingError):
    """The requested compute device does not exist or cannot be used."""


class ModelNotFoundError(InklingError):
    """No model of that name is bundled, installed by the user, or in the Hugging Face cache."""


class ModelTooBigError(InklingError):
    """Loading the model would need more memory than the machine (or the GPU) has free: says how much of each."""
