"""``QualityController``: the user's quality settings (coverage, guards, never-suggest list) and the coverage
calibration, kept in step with the model and the decoding settings.

The coverage stop (10%..100% of pauses) becomes a confidence threshold through a ``CoverageCalibration`` of the
current model and decoding settings (``engine.quality.coverage``). A calibration is looked up in the cache or measured on
the engine thread, in short jobs, whenever the model or the decoding settings change while coverage is below 100%.
Until it arrives the previous calibration of the same model stays in use; with none (a new model), every
suggestion that passes the guards is shown.
"""

from __future__ import annotations

import math
import os

from PySide6.QtCore import QObject, Signal

from engine.decoding.settings import DecodingSettings
from engine.quality.coverage import DEFAULT_PAUSES, CalibrationRun, CoverageCalibration
from engine.quality.suggestion_quality import QualitySettings, blocks_repetition, with_repetition_blocking
from engine.worker.events import EngineError, ModelLoaded, TaskFinished
from gui.controllers.suggestion_controller import SuggestionController
from gui.engine_bridge import EngineBridge


class QualityController(QObject):
    changed = Signal(object)  # QualitySettings, to be saved
    thresholdChanged = Signal(object)  # float | None
    calibrationFinished = Signal(object)  # CoverageCalibration
    message = Signal(str)  # for the status bar

    def __init__(self, bridge: EngineBridge, suggestions: SuggestionController, quality: QualitySettings,
                 cache_path: str | os.PathLike | None = None, sample_text: str | None = None,
                 pauses: int = DEFAULT_PAUSES, parent: QObject | None = None) -> None:
        """``cache_path``: the calibration cache file (default: in the user data folder); ``sample_text``: the
        text calibrations read (default: the built-in English sample)."""
        super().__init__(parent)
        self.bridge = bridge
        self.suggestions = suggestions
        self.cache_path = cache_path
        self.sample_text = sample_text
        self.pauses = pauses
        self._quality = quality
        self.calibration: CoverageCalibration | None = None
        self.from_cache = False  # the calibration in use came from the cache
        self._run: CalibrationRun | None = None
        self._job: int | None = None
        self._model_loaded = bridge.is_ready()
        suggestions.gating.quality = quality
        bridge.modelLoaded.connect(self._model_changed)
        bridge.taskFinished.connect(self._task_finished)
        bridge.engineError.connect(self._task_failed)
        suggestions.settingsChanged.connect(lambda _settings: self._recalibrate())
        self._recalibrate()

    # --- reading ---------------------------------------------------------------------------------------

    @property
    def quality(self) -> QualitySettings:
        return self._quality

    @property
    def threshold(self) -> float | None:
        return self.suggestions.gating.threshold

    def is_calibrating(self) -> bool:
        return self._run is not None

    def blocks_repetition(self) -> bool:
        return blocks_repetition(self.suggestions.settings)

    # --- changing --------------------------------------------------------------------------------------

    def set_quality(self, quality: QualitySettings) -> None:
        if quality == self._quality:
            return
        coverage_changed = quality.coverage != self._quality.coverage
        self._quality = quality
        self.suggestions.gating.quality = quality
        self.suggestions.editor.dismiss()  # what is shown was judged by the old rules
        self.changed.emit(quality)
        if coverage_changed:
            self._update_threshold()
            self._recalibrate()

    def set_coverage(self, coverage: float) -> None:
        self.set_quality(self._quality.replace(coverage=coverage))

    def set_guard(self, name: str, on: bool) -> None:
        """``name``: "skip_blank", "skip_line_repeats" or "never_suggest_enabled"."""
        self.set_quality(self._quality.replace(**{name: on}))

    def set_never_suggest(self, words: tuple[str, ...]) -> None:
        self.set_quality(self._quality.replace(never_suggest=tuple(words)))

    def set_repetition_blocking(self, on: bool) -> None:
        self.suggestions.set_settings(with_repetition_blocking(self.suggestions.settings, on))

    def use_calibration(self, calibration: CoverageCalibration) -> None:
        """Use this calibration for the current model and settings instead of measuring one (until they change)."""
        self._stop_run()
        self._apply_calibration(calibration)

    def _apply_calibration(self, calibration: CoverageCalibration | None) -> None:
        self.calibration = calibration
        self._update_threshold()

    # --- calibration -----------------------------------------------------------------------------------

    def _calibration_settings(self) -> DecodingSettings:
        return self.suggestions.settings.replace(banned_words=())  # the list barely moves the distribution

    def _model_changed(self, event: ModelLoaded) -> None:
        self._model_loaded = True
        self._stop_run()
        self._apply_calibration(None)  # another model's confidence means nothing for this one
        self._recalibrate()

    def _recalibrate(self) -> None:
        """Start a calibration for the current model and settings if coverage needs one."""
        self._stop_run()
        if self._quality.coverage >= 1.0 or not self._model_loaded:
            return
        self._run = CalibrationRun(self._calibration_settings(), self.sample_text, self.cache_path, self.pauses)
        self._submit_next()

    def _submit_next(self) -> None:
        assert self._run is not None  # called only while a run is under way
        job = self._run.next_job()
        # Yields to suggestions: with a 135M model a chunk takes about a second, which a suggestion asked for
        # meanwhile had waited behind (pause -> ghost p90 0.9 s in the first minute with a new model).
        self._job = self.bridge.submit(job, yields_to_suggestions=True) if job is not None else None

    def _stop_run(self) -> None:
        if self._job is not None:
            self.bridge.cancel(self._job)
        self._run = None
        self._job = None

    def _task_finished(self, event: TaskFinished) -> None:
        if event.request_id != self._job or self._run is None:
            return
        run = self._run
        was_measuring = run.measuring
        run.accept(None if event.cancelled else event.result)
        if not run.done:
            if run.measuring and not was_measuring:
                self.message.emit("Calibrating suggestion coverage for this model and these settings…")
            self._submit_next()
            return
        self._run = None
        self._job = None
        if run.error:
            self.message.emit(f"Coverage could not be calibrated: {run.error}")
            return
        self.from_cache = run.from_cache
        self._apply_calibration(run.calibration)
        self.calibrationFinished.emit(run.calibration)
        if run.problem:
            self.message.emit(f"Coverage calibrated, but {run.problem}")
        elif not run.from_cache:
            self.message.emit(self.describe_threshold())

    def _task_failed(self, event: EngineError) -> None:
        if event.request_id == self._job:
            self._run = None
            self._job = None
            self.message.emit(f"Coverage could not be calibrated: {event.message}")

    def _update_threshold(self) -> None:
        threshold = self.calibration.threshold_for(self._quality.coverage) if self.calibration else None
        if threshold != self.suggestions.gating.threshold:
            self.suggestions.gating.threshold = threshold
            self.thresholdChanged.emit(threshold)

    def describe_threshold(self) -> str:
        coverage = round(self._quality.coverage * 100)
        threshold = self.threshold
        if threshold is None:
            return f"Suggestions at {coverage}% of pauses: every suggestion that passes the guards is shown"
        return (f"Suggestions at about {coverage}% of pauses: shown when the model is on average at least "
                f"{math.exp(threshold):.0%} sure of each token")
