"""The settings file: round trips, survives damage without losing the damaged file, ignores bad values; and the
suggestion context window, which keeps its start still while the user types."""

from __future__ import annotations

import json

from engine.decoding.settings import DecodingSettings
from gui.settings.settings_store import APP_DEFAULT_DECODING, AppSettings, SettingsStore


def test_settings_round_trip(tmp_path):
    store = SettingsStore(tmp_path)
    settings = AppSettings(model="mine", device="cpu", decoding=DecodingSettings(strategy="sample", seed=3),
                           debounce_ms=200, font_size=15, theme="dark", recent_files=["/a.txt"])
    store.save(settings)
    assert SettingsStore(tmp_path).load() == settings


def test_the_env_var_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_CONFIG_DIR", str(tmp_path / "elsewhere"))
    store = SettingsStore()
    store.save(AppSettings(theme="light"))
    assert (tmp_path / "elsewhere" / "settings.json").exists()


def test_a_damaged_file_is_kept_aside_and_defaults_are_used(tmp_path):
    (tmp_path / "settings.json").write_text('{"model": "half-writ', encoding="utf-8")
    store = SettingsStore(tmp_path)
    assert store.load() == AppSettings()
    assert "damaged" in store.problem
    kept = list(tmp_path.glob("settings.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == '{"model": "half-writ'


def test_wrong_values_fall_back_one_by_one(tmp_path):
    data = {"model": 5, "device": "cpu", "debounce_ms": -4, "font_size": 500, "theme": "purple",
            "decoding": {"strategy": "telepathy"}, "recent_files": ["/ok.txt", 7], "unknown_key": True}
    (tmp_path / "settings.json").write_text(json.dumps(data), encoding="utf-8")
    settings = SettingsStore(tmp_path).load()
    assert settings.device == "cpu"  # the valid value is kept
    assert settings.model is None and settings.debounce_ms == 120 and settings.font_size is None
    assert settings.theme == "system" and settings.decoding == APP_DEFAULT_DECODING
    assert settings.recent_files == ["/ok.txt"]


def test_recent_files_are_unique_newest_first_and_bounded():
    settings = AppSettings()
    for index in range(15):
        settings.add_recent_file(f"/f{index}.txt")
    settings.add_recent_file("/f3.txt")
    assert settings.recent_files[0] == "/f3.txt"
    assert len(settings.recent_files) == 10 and len(set(settings.recent_files)) == 10



def test_the_doubt_cut_bar_left_to_the_model_and_a_chosen_one_both_round_trip(tmp_path):
    store = SettingsStore(tmp_path)
    for bar in (None, 0.1, 0.0, 0.25):
        store.save(AppSettings(decoding=DecodingSettings(min_word_probability=bar)))
        assert SettingsStore(tmp_path).load().decoding.min_word_probability == bar


def test_a_file_from_before_the_models_bar_reads_its_saved_default_as_the_models(tmp_path):
    """Older files saved the then default 0.1 whatever the writer chose: it becomes None (the model's bar);
    any other bar was set by the writer and is kept."""
    for saved, read in ((0.1, None), (0.3, 0.3), (0.0, 0.0)):
        data = {"decoding": {**DecodingSettings(min_word_probability=saved).to_dict()}, "theme": "dark"}
        (tmp_path / "settings.json").write_text(json.dumps(data), encoding="utf-8")
        settings = SettingsStore(tmp_path).load()
        assert settings.decoding.min_word_probability == read and settings.theme == "dark"
