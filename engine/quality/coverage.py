"""Coverage calibration: which confidence threshold makes a given share of pauses show a suggestion.

A threshold on the mean log-probability per token means nothing to a user, and the same number hides most
suggestions of one model and almost none of another. So the coverage control speaks in shares of pauses: for a
model and decoding settings, ``calibrate_coverage`` continues a text at many pause points (after words, after
spaces), records the mean log-probability of the best completion at each, and keeps the quantiles of that
distribution. "Show a suggestion at 30% of pauses" then means the threshold above which 30% of those pauses fell:
the 70% quantile. Calibrations are kept in a small JSON cache in the user data folder, keyed by the model's weights
file(s), the decoding settings and the sample text, so each combination is measured once.

The built-in sample (``resources/coverage_sample.txt``, a few kB of plain English written for Inkling: narrative,
dialogue, a letter, instructions, exposition) stands for "typical text".
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from engine.decoding.settings import DecodingSettings
from engine.owned_files import write_owned_file

CALIBRATION_VERSION = 1
QUANTILE_LEVELS = tuple(i / 20 for i in range(21))  # 0%, 5%, ..., 100%
DEFAULT_PAUSES = 32
MIN_CONTEXT_CHARS = 40  # a pause needs some text before it, as in real writing
CACHE_FILE = "coverage_calibration.json"
MAX_CACHE_ENTRIES = 64
SAMPLE_PATH = Path(__file__).resolve().parents[2] / "resources" / "coverage_sample.txt"

_WORD_END = re.compile(r"\w(?=\W)")
_AFTER_SPACE = re.compile(r"(?<=\w )(?=\w)")


def default_cache_path() -> Path:
    """``coverage_calibration.json`` in the user data folder (``INKLING_DATA_DIR`` overrides the folder)."""
    override = os.environ.get("INKLING_DATA_DIR")
    folder = Path(override) if override else user_data_path("inkling", appauthor=False)
    return folder / CACHE_FILE


def sample_text() -> str:
    """The built-in English sample the calibration reads by default."""
    return SAMPLE_PATH.read_text(encoding="utf-8")


@dataclass(frozen=True)
class CoverageCalibration:
    """Quantiles of the best suggestion's mean log-probability per token over the pauses of a text."""

    quantiles: tuple[float, ...]  # at QUANTILE_LEVELS, ascending
    samples: int  # pauses that gave a non-empty suggestion

    def threshold_for(self, coverage: float) -> float | None:
        """The lowest mean log-probability to show at ``coverage`` (share of pauses); None: no threshold."""
        if coverage >= 1.0 or not self.quantiles:
            return None
        level = min(max(1.0 - coverage, 0.0), 1.0)
        position = level * (len(self.quantiles) - 1)
        low = math.floor(position)
        high = min(low + 1, len(self.quantiles) - 1)
        fraction = position - low
        return self.quantiles[low] + (self.quantiles[high] - self.quantiles[low]) * fraction

    def to_dict(self) -> dict:
        return {"quantiles": list(self.quantiles), "samples": self.samples}

    @classmethod
    def from_dict(cls, data: dict) -> CoverageCalibration:
        quantiles = tuple(float(q) for q in data["quantiles"])
        if len(quantiles) != len(QUANTILE_LEVELS) or any(not math.isfinite(q) for q in quantiles) \
                or list(quantiles) != sorted(quantiles):
            raise ValueError("not a coverage calibration")
        return cls(quantiles, int(data["samples"]))


def quantiles_of(values: list[float], levels: tuple[float, ...] = QUANTILE_LEVELS) -> tuple[float, ...]:
    """Linear-interpolation quantiles (numpy's default method) of ``values`` at ``levels``."""
    ordered = sorted(values)
    result = []
    for level in levels:
        position = level * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        result.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return tuple(result)


def pause_points(text: str, count: int = DEFAULT_PAUSES) -> list[int]:
    """``count`` positions spread evenly over ``text`` where a writer might pause: right after a word, and right
    after the space that follows one (mid-word pauses are covered by token healing, which both share)."""
    candidates = sorted({m.end() for m in _WORD_END.finditer(text)} | {m.start() for m in _AFTER_SPACE.finditer(text)})
    candidates = [p for p in candidates if p >= MIN_CONTEXT_CHARS and text[:p].strip()]
    if len(candidates) <= count:
        return candidates
    step = len(candidates) / count
    return [candidates[int(i * step + step / 2)] for i in range(count)]


def calibration_settings(settings: DecodingSettings) -> DecodingSettings:
    """Sampling draws differ from run to run; a fixed seed makes the calibration repeatable."""
    return settings.replace(seed=0) if settings.strategy == "sample" else settings


def pause_means(lm, text: str, points: list[int], settings: DecodingSettings,
                cancelled: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None) -> list[float] | None:
    """The best completion's mean log-probability per token at each pause point that gives one (None when
    cancelled; ``cancelled`` is polled between pauses)."""
    settings = calibration_settings(settings)
    means: list[float] = []
    for done, point in enumerate(points):
        if cancelled is not None and cancelled():
            return None
        completions = lm.complete(text[:point], settings)
        if completions and completions[0].token_ids:
            means.append(completions[0].mean_logprob)
        if progress is not None:
            progress(done + 1)
    return means


def calibration_from(means: list[float]) -> CoverageCalibration:
    if not means:
        raise ValueError("the model gave no suggestion at any pause point of the calibration text")
    return CoverageCalibration(quantiles_of(means), len(means))


def calibrate_coverage(lm, text: str, settings: DecodingSettings, pauses: int = DEFAULT_PAUSES,
                       cancelled: Callable[[], bool] | None = None,
                       progress: Callable[[int, int], None] | None = None) -> CoverageCalibration | None:
    """Continue ``text`` at ``pauses`` pause points with ``settings`` and keep the quantiles of the best
    completion's mean log-probability per token. None when cancelled (polled between pauses)."""
    points = pause_points(text, pauses)
    if not points:
        raise ValueError("the calibration text has no pause points; it needs a few sentences of prose")
    report = None if progress is None else (lambda done: progress(done, len(points)))
    means = pause_means(lm, text, points, settings, cancelled, report)
    return None if means is None else calibration_from(means)


# --- the cache -------------------------------------------------------------------------------------------


def model_fingerprint(lm) -> str:
    """The model's folder and the size and modification time of its weights: a retrained model is new."""
    path = getattr(lm, "path", None)
    if path is None:
        return f"name:{lm.name}"
    folder = Path(path)
    stamps = []
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        stat = weights.stat()
        stamps.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return f"{folder.resolve()}|{','.join(stamps)}"


def calibration_key(lm, settings: DecodingSettings, text: str, pauses: int) -> str:
    decoding = calibration_settings(settings).to_dict()
    decoding["banned_words"] = sorted(decoding["banned_words"])
    material = json.dumps({"version": CALIBRATION_VERSION, "model": model_fingerprint(lm), "decoding": decoding,
                           "text": hashlib.sha256(text.encode("utf-8")).hexdigest(), "pauses": pauses},
                          sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CalibrationCache:
    """Calibrations by key, in one JSON file; a damaged or unreadable file is treated as empty (it only saves
    time) and replaced on the next write."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()

    def _entries(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CALIBRATION_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> CoverageCalibration | None:
        entry = self._entries().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            return CoverageCalibration.from_dict(entry)
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, calibration: CoverageCalibration) -> None:
        """Store (atomically); raises OSError when the folder cannot be written."""
        entries = self._entries()
        entries.pop(key, None)
        entries[key] = calibration.to_dict()
        while len(entries) > MAX_CACHE_ENTRIES:
            entries.pop(next(iter(entries)))
        data = json.dumps({"version": CALIBRATION_VERSION, "entries": entries}, indent=1).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_owned_file(self.path, data)


class CalibrationRun:
    """One calibration for the engine worker's model, handed out as a series of short jobs.

    A job holds the engine thread, and a suggestion typed meanwhile waits behind it; in chunks of a few pauses
    it waits for one chunk, not for the whole calibration. The run lives on the caller's thread: ``next_job()``
    gives the next job for ``EngineWorker.submit`` (None when done), ``accept(result)`` takes its
    ``TaskFinished.result``. The first job looks the calibration up in the cache; a new one is saved there.
    Start a new run when the model changes (a run's chunks must all read the same model).
    """

    def __init__(self, settings: DecodingSettings, text: str | None = None,
                 cache_path: str | os.PathLike | None = None, pauses: int = DEFAULT_PAUSES,
                 chunk: int = 2) -> None:
        self.settings = settings
        self.text = text if text is not None else sample_text()
        self.cache = CalibrationCache(cache_path)
        self.points = pause_points(self.text, pauses)
        if not self.points:
            raise ValueError("the calibration text has no pause points; it needs a few sentences of prose")
        self.pauses = pauses
        self.chunk = max(1, chunk)
        self.calibration: CoverageCalibration | None = None
        self.from_cache = False
        self.problem: str | None = None  # set when the result could not be saved (it is still used)
        self.error: str | None = None  # set when no calibration can be made (the run is over)
        self._key: str | None = None
        self._means: list[float] = []
        self._measured = 0  # pause points done

    @property
    def done(self) -> bool:
        return self.calibration is not None or self.error is not None

    @property
    def measuring(self) -> bool:
        """Not in the cache: pause points are being measured."""
        return self._key is not None and not self.done

    @property
    def progress(self) -> tuple[int, int]:
        return self._measured, len(self.points)

    def next_job(self):
        if self.done:
            return None
        if self._key is None:
            settings, text, pauses, cache = self.settings, self.text, self.pauses, self.cache

            def look_up(lm, ctx):
                key = calibration_key(lm, settings, text, pauses)
                return key, cache.get(key)

            return look_up
        points = self.points[self._measured : self._measured + self.chunk]
        text, settings = self.text, self.settings
        return lambda lm, ctx: pause_means(lm, text, points, settings, ctx.cancelled)

    def accept(self, result) -> None:
        """Take a job's result; a cancelled chunk (None) is simply handed out again by ``next_job``."""
        if result is None or self.done:
            return
        if self._key is None:
            self._key, cached = result
            if cached is not None:
                self.calibration, self.from_cache = cached, True
            return
        self._means.extend(result)
        self._measured = min(self._measured + self.chunk, len(self.points))
        if self._measured < len(self.points):
            return
        try:
            self.calibration = calibration_from(self._means)
        except ValueError as exc:
            self.error = str(exc)
            return
        try:
            self.cache.put(self._key, self.calibration)
        except OSError as exc:
            self.problem = f"could not save it to {self.cache.path}: {exc.strerror or exc}"
