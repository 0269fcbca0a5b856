"""Coverage calibration: quantiles of the suggestions' mean log-probability, thresholds, the cache, chunked runs."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from engine.decoding.results import Completion
from engine.decoding.settings import DecodingSettings
from engine.quality.coverage import (
    QUANTILE_LEVELS,
    CalibrationCache,
    CalibrationRun,
    CoverageCalibration,
    calibrate_coverage,
    pause_points,
    quantiles_of,
    sample_text,
)
from tests.support.quality import make_confident_model
from tests.support.settings import plain_settings

torch.set_num_threads(1)
GREEDY = plain_settings(max_new_tokens=4, token_healing=False)


class PredictableModel:
    """Stands in for a LanguageModel: the mean log-probability at a pause is a fixed function of the text."""

    name = "predictable"
    path = None

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def mean_at(text: str) -> float:
        return -((len(text) * 7919) % 1000) / 200.0  # spread over [-5, 0), no ties among nearby lengths

    def complete(self, text: str, settings: DecodingSettings) -> list[Completion]:
        self.calls += 1
        return [Completion(text=" x", logprob=2 * self.mean_at(text), token_ids=(1, 2))]


class Context:
    def __init__(self) -> None:
        self.cancel = threading.Event()

    def cancelled(self) -> bool:
        return self.cancel.is_set()


def test_the_built_in_sample_is_a_few_kilobytes_of_prose_with_enough_pauses():
    text = sample_text()
    assert 2000 < len(text.encode("utf-8")) < 8000
    points = pause_points(text, 32)
    assert len(points) == 32 and points == sorted(set(points))
    for point in points:
        before, after = text[point - 1], text[point]
        assert (before.isalnum() and not after.isalnum()) or (before == " " and after.isalnum())


def test_quantiles_match_numpy():
    numpy = pytest.importorskip("numpy")
    values = [3.0, -1.5, 0.25, 8.0, 2.0, 2.0, -7.0]
    assert quantiles_of(values) == pytest.approx(tuple(numpy.quantile(values, QUANTILE_LEVELS)))


@pytest.mark.parametrize("coverage", [0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
def test_each_coverage_stop_shows_about_that_share_of_the_calibration_pauses(coverage):
    lm = PredictableModel()
    text = sample_text()
    calibration = calibrate_coverage(lm, text, GREEDY, pauses=40)
    assert calibration.samples == 40
    threshold = calibration.threshold_for(coverage)
    means = [lm.mean_at(text[:p]) for p in pause_points(text, 40)]
    shown = sum(mean >= threshold for mean in means) / len(means)
    assert shown == pytest.approx(coverage, abs=1 / 40 + 1e-9)


def test_thresholds_rise_as_coverage_falls_and_full_coverage_has_none():
    calibration = CoverageCalibration(tuple(-5 + i * 0.25 for i in range(21)), samples=30)
    thresholds = [calibration.threshold_for(c) for c in (0.9, 0.7, 0.5, 0.3, 0.1)]
    assert thresholds == sorted(thresholds)
    assert calibration.threshold_for(0.5) == pytest.approx(-2.5)
    assert calibration.threshold_for(1.0) is None


def test_a_real_model_is_calibrated_on_the_built_in_sample(tmp_path, tiny_tokenizer):
    import engine

    lm = engine.load(str(make_confident_model(tmp_path / "fox", tiny_tokenizer)), device="cpu")
    reported = []
    calibration = calibrate_coverage(lm, sample_text(), GREEDY, pauses=12,
                                     progress=lambda done, total: reported.append((done, total)))
    assert reported[-1] == (12, 12)
    assert len(calibration.quantiles) == len(QUANTILE_LEVELS)
    assert list(calibration.quantiles) == sorted(calibration.quantiles)
    # The sample never pauses right after " fox" (the model's one confident context), so all its pauses are
    # unsure: even the 10% stop sits far below what a confident suggestion scores.
    assert calibration.threshold_for(0.1) < -1.0
    [confident] = lm.complete("The quick brown fox", GREEDY)
    assert confident.mean_logprob > calibration.threshold_for(0.1)


def test_calibration_can_be_cancelled_between_pauses():
    lm = PredictableModel()
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    assert calibrate_coverage(lm, sample_text(), GREEDY, pauses=20, cancelled=cancelled) is None
    assert lm.calls == 3


def _run(run: CalibrationRun, lm) -> int:
    jobs = 0
    while (job := run.next_job()) is not None:
        run.accept(job(lm, Context()))
        jobs += 1
    return jobs


def test_a_run_measures_in_chunks_saves_to_the_cache_and_reuses_it(tmp_path):
    lm = PredictableModel()
    cache_path = tmp_path / "data" / "coverage_calibration.json"
    run = CalibrationRun(GREEDY, cache_path=cache_path, pauses=12, chunk=4)
    assert _run(run, lm) == 1 + 3  # the cache lookup, then three chunks of four pauses
    assert run.calibration == calibrate_coverage(PredictableModel(), sample_text(), GREEDY, pauses=12)
    assert not run.from_cache and run.problem is None
    assert json.loads(cache_path.read_text())["version"] == 1

    again = CalibrationRun(GREEDY, cache_path=cache_path, pauses=12, chunk=4)
    calls = lm.calls
    assert _run(again, lm) == 1
    assert again.from_cache and again.calibration == run.calibration and lm.calls == calls

    other = CalibrationRun(GREEDY.replace(max_new_tokens=5), cache_path=cache_path, pauses=12, chunk=4)
    _run(other, lm)
    assert not other.from_cache  # other settings, other calibration


def test_a_cancelled_chunk_is_handed_out_again(tmp_path):
    lm = PredictableModel()
    run = CalibrationRun(GREEDY, cache_path=tmp_path / "c.json", pauses=8, chunk=4)
    run.accept(run.next_job()(lm, Context()))
    run.accept(None)  # what a job cancelled before it ran returns
    stopped = Context()
    stopped.cancel.set()
    run.accept(run.next_job()(lm, stopped))  # cancelled at its first pause
    assert run.progress == (0, 8)
    assert _run(run, lm) == 2
    assert run.calibration.samples == 8


def test_a_damaged_or_foreign_cache_file_is_ignored_and_replaced(tmp_path):
    path = tmp_path / "coverage_calibration.json"
    path.write_text("{ not json")
    cache = CalibrationCache(path)
    assert cache.get("anything") is None
    calibration = CoverageCalibration(tuple(float(i) for i in range(21)), 21)
    cache.put("key", calibration)
    assert CalibrationCache(path).get("key") == calibration
    path.write_text(json.dumps({"version": 1, "entries": {"key": {"quantiles": [1, 0], "samples": 2}}}))
    assert CalibrationCache(path).get("key") is None  # not 21 ascending quantiles


def test_an_unwritable_cache_is_reported_and_the_calibration_still_used(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    run = CalibrationRun(GREEDY, cache_path=blocker / "coverage_calibration.json", pauses=4, chunk=4)
    _run(run, PredictableModel())
    assert run.calibration is not None
    assert "could not save" in run.problem
