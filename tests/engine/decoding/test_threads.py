"""Decoding steps run on the thread count that ran the latest steps best: all cores when the machine is idle, one
core fewer when another program holds one (or when the two are close)."""

from __future__ import annotations

import pytest
import torch

from engine.decoding import threads
from engine.decoding.settings import DecodingSettings
from engine.decoding.threads import (
    FIRST_RETRY_AFTER,
    KEPT_STEP_TIMES,
    MIN_STEP_TIMES,
    StepThreads,
    thread_counts,
)

CPU = torch.device("cpu")


@pytest.fixture
def two_cores(monkeypatch):
    """torch on two threads, on a machine of two cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    yield
    torch.set_num_threads(previous)


def measured(choice: StepThreads, seconds: dict[int, float], rows: int = 1) -> None:
    """Record enough steps of ``rows`` rows for each count, each taking ``seconds[count]``."""
    for count, duration in seconds.items():
        for _ in range(MIN_STEP_TIMES):
            choice.record(count, rows, duration)


def test_the_counts_compared_are_all_threads_and_one_core_fewer(two_cores):
    assert thread_counts(CPU) == (2, 1)
    assert thread_counts(torch.device("cuda")) == ()
    torch.set_num_threads(1)
    assert thread_counts(CPU) == ()  # nothing to choose: torch is left alone
    assert StepThreads(CPU).choose() is None


def test_each_count_is_measured_and_all_cores_win_when_clearly_faster(two_cores):
    choice = StepThreads(CPU)
    assert choice.choose() == 1 and choice.best == 1  # one core fewer until measured
    measured(choice, {1: 0.014})
    assert choice.choose() == 2  # the other has no times yet
    measured(choice, {2: 0.010})
    assert choice.best == 2 and choice.choose() == 2


def test_close_times_keep_one_core_fewer(two_cores):
    choice = StepThreads(CPU)
    measured(choice, {1: 0.0140, 2: 0.0135})  # within the margin: a stalled step is near
    assert choice.best == 1


def test_a_busy_machine_moves_steps_to_one_core_fewer_at_once(two_cores):
    choice = StepThreads(CPU)
    measured(choice, {1: 0.014, 2: 0.010})
    for _ in range(MIN_STEP_TIMES):  # another program takes a core: two-thread steps stall
        choice.record(2, 1, 0.060)
    assert choice.best == 1 and choice.choose() == 1


def test_a_stalled_step_now_and_then_does_not_decide(two_cores):
    choice = StepThreads(CPU)
    measured(choice, {1: 0.014, 2: 0.010})
    for _ in range(3):  # a page fault, the editor holding the interpreter: one slow step among fast ones
        choice.record(2, 1, 0.060)
        choice.record(2, 1, 0.010)
    assert choice.best == 2


def test_the_other_count_is_tried_again_less_and_less_often(two_cores):
    choice = StepThreads(CPU)
    assert [choice.choose(), choice.choose()] == [1, 2]
    measured(choice, {1: 0.014, 2: 0.060})  # a busy machine
    chosen = [choice.choose() for _ in range(FIRST_RETRY_AFTER * 7)]
    tries = [request for request, count in enumerate(chosen, 3) if count == 2]
    assert tries == [FIRST_RETRY_AFTER, FIRST_RETRY_AFTER * 3, FIRST_RETRY_AFTER * 7]
    for _ in range(KEPT_STEP_TIMES):  # a try finds the machine idle again
        choice.record(2, 1, 0.010)
    assert choice.best == 2


def test_times_are_compared_between_steps_of_as_many_rows(two_cores):
    choice = StepThreads(CPU)
    measured(choice, {2: 0.050}, rows=6)  # six-row steps with two threads are slower than ...
    measured(choice, {1: 0.014}, rows=1)  # ... one-row steps with one, which says nothing of the counts
    assert choice.best == 1
    measured(choice, {1: 0.070}, rows=6)
    assert choice.best == 2


def test_a_generator_times_its_steps_under_the_count_it_chose(two_cores, tiny_gpt2):
    generator = tiny_gpt2.generator
    greedy = DecodingSettings.plain(max_new_tokens=MIN_STEP_TIMES + 2)
    generator.complete("The quick brown fox", greedy)
    assert len(generator.thread_choice.step_times(1, 1)) >= MIN_STEP_TIMES
    assert generator.thread_choice.step_times(2, 1) == []
    generator.complete("The quick brown fox jumps", greedy)  # the other count's turn
    assert len(generator.thread_choice.step_times(2, 1)) >= MIN_STEP_TIMES
    generator.complete("The quick brown fox", DecodingSettings.plain(strategy="beam", num_beams=3, max_new_tokens=4))
    assert generator.thread_choice.step_times(generator.thread_choice.best or 0, 3)


def test_a_count_left_without_times_waits_for_its_turn(two_cores):
    choice = StepThreads(CPU)
    assert choice.choose() == 1
    measured(choice, {1: 0.014})
    assert choice.choose() == 2  # its stream is closed before a step is timed
    assert [choice.choose() for _ in range(FIRST_RETRY_AFTER - 3)] == [1] * (FIRST_RETRY_AFTER - 3)
    assert choice.choose() == 2
