"""Training: loss goes down, resume continues where it stopped, --init keeps the tokenizer, the CLI's messages,
and the DistributedDataParallel path with two gloo processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import engine
from engine.cli import main
from engine.decoding.settings import DecodingSettings
from engine.training.trainer import STATE_FILE, TRAINING_RECORD, TrainingError, TrainSettings, train
from engine.training.training_state import read_training_state
from tests.support.paths import REPO

TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the warm sun, and the fox runs into the "
    "forest. A brother and a sister walked along the river; they talked of books, of music and of the weather.\n\n"
    "\"Where are you going?\" she asked. \"Home,\" he said, \"before the rain comes.\" It was a bright cold day "
    "in April, and the clocks were striking thirteen.\n"
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, above all on a machine shared with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(4):
        (folder / f"part{i}.txt").write_text(TEXT * 3, encoding="utf-8")
    return folder


def _settings(tmp_path: Path, corpus: Path, **changes) -> TrainSettings:
    base = TrainSettings(data=[str(corpus)], out=str(tmp_path / "model"), size="tiny", steps=30, batch_size=8,
                         block_size=64, learning_rate=3e-3, vocab_size=300, eval_every=1000, eval_batches=2,
                         device="cpu", cache_dir=str(tmp_path / "cache"))
    return replace(base, **changes)


def test_training_a_tiny_model_lowers_its_validation_loss(tmp_path, corpus):
    result = train(_settings(tmp_path, corpus))
    assert result.steps == 30 and result.finished
    assert result.validation_bpb_after < result.validation_bpb_before - 0.5
    lm = engine.load(str(result.out), device="cpu")
    assert lm.max_context == 64  # a new model's context is the block it was trained on
    card = (result.out / "README.md").read_text()
    assert f"{result.validation_bpb_after:.3f}" in card and str(corpus) in card
    record = json.loads((result.out / TRAINING_RECORD).read_text())
    assert record["data"] == [str(corpus.resolve())] and record["steps"] == 30


def test_resume_continues_from_the_step_where_the_run_stopped(tmp_path, corpus):
    settings = _settings(tmp_path, corpus, steps=12)
    asked = []

    def stop_after_five() -> bool:
        asked.append(1)
        return len(asked) > 5

    first = train(settings, should_stop=stop_after_five)
    assert first.steps == 5 and not first.finished
    state = read_training_state(Path(settings.out))
    assert state["step"] == 5
    reported = []
    second = train(replace(settings, resume=True), progress=lambda report: reported.append(report["step"]))
    assert reported[0] == 6 and second.steps == 12 and second.finished
    state = read_training_state(Path(settings.out))
    muon, adam = state["optimizer"]["states"]  # the modern recipe: Muon for the hidden matrices, AdamW for the rest
    adam_steps = {float(s["step"]) for s in adam["state"].values()}
    assert adam_steps == {12.0}  # the optimizer's moments were carried over, not restarted
    assert muon["state"] and all("momentum_buffer" in s for s in muon["state"].values())


def test_an_interrupted_run_keeps_a_checkpoint_to_resume(tmp_path, corpus):
    def interrupt(report: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_settings(tmp_path, corpus), progress=interrupt)
    state = read_training_state(tmp_path / "model")
    assert state["step"] == 1
    assert engine.load(str(tmp_path / "model"), device="cpu").parameter_count > 0


def test_init_fine_tunes_a_model_by_name_and_keeps_its_tokenizer(tmp_path, corpus, tiny_tokenizer, monkeypatch):
    from tests.support.tiny_models import make_gpt2_folder

    users = tmp_path / "user-models"
    base = make_gpt2_folder(users / "mystyle", tiny_tokenizer)
    monkeypatch.setenv("INKLING_USER_MODELS", str(users))
    result = train(_settings(tmp_path, corpus, init="mystyle", steps=3, block_size=None, vocab_size=999))
    tuned = json.loads((result.out / "tokenizer.json").read_text())
    assert tuned == json.loads((base / "tokenizer.json").read_text())
    before, after = load_file(base / "model.safetensors"), load_file(result.out / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert "fine-tuned from `mystyle`" in (result.out / "README.md").read_text()


def test_init_and_tokenizer_together_are_refused(tmp_path, corpus, tiny_gpt2_folder):
    with pytest.raises(TrainingError, match="--init keeps the tokenizer"):
        train(_settings(tmp_path, corpus, init=str(tiny_gpt2_folder), tokenizer=str(tiny_gpt2_folder)))


def test_training_never_replaces_a_folder_of_other_files(tmp_path, corpus):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "my-novel.txt").write_text("precious")
    with pytest.raises(TrainingError, match="other files"):
        train(_settings(tmp_path, corpus))
    assert (tmp_path / "model" / "my-novel.txt").read_text() == "precious"


def _cli_args(tmp_path: Path, corpus: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(corpus), "--out", str(tmp_path / "cli-model"), "--size", "tiny",
            "--vocab-size", "300", "--batch-size", "4", "--block-size", "32", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), *extra]


def test_cli_ctrl_c_stops_cleanly_and_resume_finishes_the_run(tmp_path, corpus, capsys, monkeypatch):
    from engine.training import progress

    def press_ctrl_c(self, report: dict) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(progress.ProgressPrinter, "__call__", press_ctrl_c)
    assert main(_cli_args(tmp_path, corpus, "--steps", "8")) == 130
    out = capsys.readouterr()
    assert "stopped at step 1" in out.out and "--resume" in out.out
    monkeypatch.undo()
    assert main(_cli_args(tmp_path, corpus, "--steps", "8")) == 1  # the folder holds a model: not overwritten
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "cli-model"), "--resume"]) == 0  # data and steps remembered
    assert "trained 8 steps" in capsys.readouterr().out
    record = json.loads((tmp_path / "cli-model" / TRAINING_RECORD).read_text())
    assert record["steps"] == 8 and record["block_size"] == 32


def test_cli_reports_no_text_found_with_the_skipped_count(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "scan.txt").write_bytes(b"\x00\x01\x02binary")
    (data / "photo.png").write_bytes(b"\x89PNG")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--steps", "2", "--device", "cpu",
                 "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert "no text found" in err and "2 skipped" in err
    assert not (tmp_path / "m").exists()


def test_cli_out_of_memory_names_the_flag_to_lower(tmp_path, corpus, capsys, monkeypatch):
    from engine.training import trainer

    def exhausted(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8589934592 bytes")

    monkeypatch.setattr(trainer, "_batch", exhausted)
    assert main(_cli_args(tmp_path, corpus, "--steps", "3")) == 1
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "lower --batch-size" in err and "no checkpoint" in err


# Runs `inkling train` in one rank of a torchrun and then writes the weights that rank's model ended with.
_DDP_RANK_SCRIPT = """
import os, sys
import torch
from safetensors.torch import save_file
from engine.cli import main

models = []
ddp = torch.nn.parallel.DistributedDataParallel

class RecordingDDP(ddp):
    def __init__(self, module, *args, **kwargs):
        models.append(module)
        super().__init__(module, *args, **kwargs)

torch.nn.parallel.DistributedDataParallel = RecordingDDP
ranks_dir, argv = sys.argv[1], sys.argv[2:]
code = main(argv)
[model] = models
weights = {name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}
save_file(weights, os.path.join(ranks_dir, "rank%s.safetensors" % os.environ["RANK"]))
sys.exit(code)
"""


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tmp_path, corpus):
    out, ranks = tmp_path / "ddp-model", tmp_path / "ranks"
    ranks.mkdir()
    script = tmp_path / "ddp_rank.py"
    script.write_text(_DDP_RANK_SCRIPT, encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", INKLING_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(engine.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), str(ranks), "train", "--data", str(corpus), "--out", str(out), "--size", "tiny",
               "--steps", "4", "--batch-size", "2", "--block-size", "16", "--vocab-size", "300", "--device", "cpu"]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / TRAINING_RECORD).read_text())
    assert record["steps"] == 4
    assert record["tokens_seen"] == 4 * 2 * 16 * 2  # steps x batch x block x two processes
    # Each rank starts from its own seed and trains on its own batches: DDP's first broadcast and its averaged
    # gradients keep the two models the same weight for weight, and rank 0's is the one saved.
    first, second = load_file(ranks / "rank0.safetensors"), load_file(ranks / "rank1.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    saved = engine.load(str(out), device="cpu").model.state_dict()
    assert all(torch.equal(saved[name].float(), first[name].float()) for name in first)
    shutil.rmtree(out)


def test_progress_line_shows_bar_loss_speed_and_eta():
    import io

    from engine.training.progress import ProgressPrinter, format_duration, format_progress

    report = {"step": 50, "total_steps": 200, "loss": 3.25, "tokens_per_s": 12345.6, "progress": 0.25,
              "validation_bpb": 1.875, "eta_s": 3725.0}
    line = format_progress(report)
    assert line.startswith("[#####---------------]  25%")
    for part in ("step 50/200", "loss 3.250", "val 1.875 bpb", "12,346 tok/s", "ETA 1h02m"):
        assert part in line
    assert format_duration(float("inf")) == "?" and format_duration(61) == "1m01s"
    log = io.StringIO()  # not a terminal: whole lines, at most one per interval, and always the last one
    printer = ProgressPrinter(log, log_interval_s=3600)
    printer(report)
    printer(dict(report, step=60))
    printer(dict(report, step=200, progress=1.0, eta_s=0.0))
    assert re.findall(r"step \S+", log.getvalue()) == ["step 50/200", "step 200/200"]


def test_a_run_kept_small_resumes_at_its_step_with_a_fresh_optimizer(tmp_path, corpus):
    """tools/keep_run.py: float16 weights and the run's clock, without the optimizer's moments, resume as a run."""
    sys.path.insert(0, str(REPO / "tools"))
    from keep_run import keep

    settings = _settings(tmp_path, corpus, steps=10)
    asked = []
    train(settings, should_stop=lambda: asked.append(1) or len(asked) > 4)
    kept = keep(Path(settings.out), tmp_path / "kept")
    slim = read_training_state(kept)
    assert "optimizer" not in slim and slim["step"] == 4
    assert (kept / STATE_FILE).stat().st_size < 50_000
    assert {t.dtype for t in load_file(kept / "model.safetensors").values()} == {torch.float16}
    notes, reported = [], []
    result = train(replace(settings, out=str(kept), resume=True), log=notes.append,
                   progress=lambda report: reported.append(report["step"]))
    assert reported[0] == 5 and result.steps == 10 and result.finished
    assert any("optimizer afresh" in note for note in notes)


def test_resume_refuses_another_architecture_and_a_corrupt_state(tmp_path, corpus, capsys):
    out = tmp_path / "cli-model"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--size", "tiny", "--steps", "2",
                 "--block-size", "32", "--vocab-size", "300", "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--arch", "transformer", "--steps", "3"]) == 0  # qwen3's alias
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--arch", "gpt2"]) != 0
    assert "--arch gpt2 would be another model" in capsys.readouterr().err
    (out / STATE_FILE).write_bytes(b"not a checkpoint")
    assert main(["train", "--out", str(out), "--resume"]) != 0
    err = capsys.readouterr().err
    assert "unreadable" in err and "--init" in err and "Traceback" not in err


def test_a_new_model_trained_without_fim_rows_on_a_fim_tokenizer_keeps_left_to_right_prompts(tmp_path, corpus):
    """A tokenizer shared with a FIM model declares the FIM tokens; a model trained without FIM rows has them
    untrained, so its config says so and decoding does not frame prompts with them."""
    from engine.decoding.fim import FIM_CONFIG_KEY, fim_token_ids
    from engine.training.bpe import train_bpe_tokenizer

    tokenizer_file = tmp_path / "fim-tokenizer.json"
    train_bpe_tokenizer([TEXT * 3], vocab_size=300, fim=True).backend.save(str(tokenizer_file))
    settings = DecodingSettings(strategy="greedy", max_new_tokens=4)
    for arch, fim_rate, uses_fim in (("attention-lstm", None, False), ("qwen3", 0.0, False),
                                     ("qwen3", None, True)):
        out = tmp_path / f"{arch}-{fim_rate}"
        train(_settings(tmp_path, corpus, arch=arch, out=str(out), steps=2, tokenizer=str(tokenizer_file),
                        fim_rate=fim_rate))
        lm = engine.load(str(out), device="cpu")
        assert fim_token_ids(lm.tokenizer) is not None
        assert (lm.generator.fim_ids is not None) == uses_fim
        assert (FIM_CONFIG_KEY not in json.loads((out / "config.json").read_text())) == uses_fim
        plain = lm.generator.prepare("The dog", settings, "").tokens
        framed = lm.generator.prepare("The dog", settings, " runs into the forest.").tokens
        assert (framed != plain) == uses_fim
