"""The cyclic garbage collector stays out of model loads and heavy imports, and what start-up built is kept out
of its later passes."""

from __future__ import annotations

import gc

import engine.language_model
from engine import collector
from engine.collector import collection_paused, freeze_startup_objects


def test_collection_is_paused_inside_and_restored_after():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # an inner pause does not end the outer one
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_start_up_objects_are_frozen_once_per_process(monkeypatch):
    freezes = []
    monkeypatch.setattr(collector, "_frozen", False)
    monkeypatch.setattr(collector.gc, "freeze", lambda: freezes.append(True))
    freeze_startup_objects()
    freeze_startup_objects()  # a second model load must not freeze the model it replaces
    assert freezes == [True]


def test_a_model_is_built_without_collector_passes(monkeypatch, tiny_gpt2_folder):
    during = []
    build = engine.language_model._load
    monkeypatch.setattr(engine.language_model, "_load", lambda *args: during.append(gc.isenabled()) or build(*args))
    lm = engine.language_model.load(str(tiny_gpt2_folder), device="cpu")
    assert during == [False] and gc.isenabled()
    assert lm.complete("The quick brown fox")
