"""A run's resume state is data that cannot run code: JSON + safetensors, and an old pickle only as plain data."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.training.evaluation import baseline_source_for
from engine.training.trainer import TrainingError, read_training_state
from engine.training.training_state import (
    LEGACY_STATE_FILE,
    STATE_FILE,
    TENSORS_FILE,
    TrainingStateError,
    write_training_state,
)
from engine.training.training_state import read_training_state as read_state_folder
from tests.support.paths import REPO


class _Payload:
    """What a hostile model folder's author would put in its pickle: code that runs when the file is read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _hostile_folder(tmp_path: Path, marker: Path) -> Path:
    folder = tmp_path / "downloaded-model"
    folder.mkdir()
    torch.save({"step": 3, "settings": {"data": ["x"]}, "elapsed_s": 0.0, "payload": _Payload(marker)},
               folder / LEGACY_STATE_FILE)
    return folder


def test_the_hostile_pickle_really_runs_code_when_unpickled(tmp_path):
    """The fixture is a real exploit: unpickling it as before (weights_only=False) writes the marker."""
    marker = tmp_path / "proof"
    folder = _hostile_folder(tmp_path, marker)
    torch.load(folder / LEGACY_STATE_FILE, weights_only=False)
    assert marker.read_text() == "ran"


def test_a_pickle_that_holds_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    folder = _hostile_folder(tmp_path, marker)
    with pytest.raises(TrainingStateError, match="training_state.pt is a pickle.*not read.*delete") as refused:
        read_state_folder(folder)
    assert str(folder / LEGACY_STATE_FILE) in str(refused.value)
    with pytest.raises(TrainingError, match="--resume: .*could run code"):
        read_training_state(folder)
    assert not marker.exists()


def test_inkling_eval_refuses_the_folder_s_pickle_before_anything_runs(tmp_path):
    """``inkling eval`` read the training state to find the baseline's data, before looking at --baseline-data."""
    marker = tmp_path / "marker"
    folder = _hostile_folder(tmp_path, marker)
    with pytest.raises(TrainingStateError, match="could run code"):
        baseline_source_for(folder, None)
    assert not marker.exists()


def test_inkling_train_resume_refuses_it_with_a_message(tmp_path, capsys):
    marker = tmp_path / "marker"
    folder = _hostile_folder(tmp_path, marker)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert main(["train", "--out", str(folder), "--resume"]) != 0
    err = capsys.readouterr().err
    assert "training_state.pt is a pickle" in err and "Traceback" not in err
    assert not marker.exists()


def test_the_state_round_trips_through_json_and_safetensors(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {"optimizer": {"kinds": ["AdamW"], "states": [optimizer.state_dict()]}, "recipe": "modern", "step": 7,
             "elapsed_s": 12.5, "history": [{"step": 7, "validation_bpb": 2.0}], "bpb_before": float("nan"),
             "settings": {"data": ["corpus"], "block_size": None}}
    write_training_state(tmp_path, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE, TENSORS_FILE]

    back = read_state_folder(tmp_path)
    saved = back["optimizer"]["states"][0]
    assert saved["param_groups"][0]["betas"] == (0.9, 0.95)
    assert set(saved["state"]) == {0, 1}  # parameter numbers stay ints
    for number, moments in optimizer.state_dict()["state"].items():
        for name, value in moments.items():
            assert torch.equal(saved["state"][number][name], value)
    assert math.isnan(back["bpb_before"]) and back["history"] == state["history"] and back["step"] == 7
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(saved)  # what a resume does with it
    assert "optimizer" not in read_state_folder(tmp_path, with_tensors=False)


def test_a_state_with_an_object_that_is_not_plain_data_is_not_written(tmp_path):
    with pytest.raises(TypeError, match="cannot store object"):
        write_training_state(tmp_path, {"step": 1, "thing": object()})


def test_old_plain_pickles_still_read_as_data(tmp_path):
    """Every state saved before the JSON format (as the checkpoints in this repository) holds only plain data."""
    torch.save({"step": 4, "elapsed_s": 1.0, "optimizer": {"state": {0: {"exp_avg": torch.ones(2)}}}},
               tmp_path / LEGACY_STATE_FILE)
    state = read_state_folder(tmp_path)
    assert state["step"] == 4 and torch.equal(state["optimizer"]["state"][0]["exp_avg"], torch.ones(2))
    committed = REPO / "checkpoints" / "default"
    if (committed / LEGACY_STATE_FILE).is_file():
        assert read_state_folder(committed)["settings"]["arch"] == "transformer"


def test_a_damaged_state_says_what_to_do(tmp_path):
    (tmp_path / STATE_FILE).write_text("{ half", encoding="utf-8")
    with pytest.raises(TrainingStateError, match="unreadable.*--init"):
        read_state_folder(tmp_path)
    (tmp_path / STATE_FILE).write_bytes(pickle.dumps({"step": 1}))
    with pytest.raises(TrainingStateError, match="unreadable"):
        read_state_folder(tmp_path)
