"""``inkling complete`` and ``inkling models`` through engine.cli.main, on tiny model folders."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys

import pytest

import engine
import engine.cli
from engine.cli import main
from engine.commands.complete import StreamView, _stream_best, settings_from_args
from engine.decoding.results import Completion, StreamEvent
from tests.support.tiny_models import make_gpt2_folder

needs_generator = pytest.mark.skipif(importlib.util.find_spec("engine.decoding.generator") is None,
                                     reason="engine/decoding/generator.py does not exist yet")


@pytest.fixture
def model_folder(tmp_path, tiny_tokenizer):
    return str(make_gpt2_folder(tmp_path / "tiny", tiny_tokenizer))


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_alternatives(out: str) -> list[str]:
    texts = []
    lines = out.splitlines()
    if len(lines) > 1:
        assert lines.pop() == "(%: how likely each alternative's first word is, as a share of the alternatives listed)"
    for rank, line in enumerate(lines, 1):
        number, share, quoted = line.split(maxsplit=2)
        assert number == f"{rank}." and share.endswith("%") and "e-" not in share
        assert share in ("<1%", ">99%") or 0 < int(share[:-1]) <= 100
        texts.append(json.loads(quoted))
    return texts


# --- settings and errors (no generation needed) -----------------------------------------------------------


@pytest.mark.parametrize("options, field", [
    (["--temperature", "-1"], "temperature"),
    (["--top-p", "0"], "top_p"),
    (["--beams", "2", "--alternatives", "3"], "num_alternatives"),
    (["--max-new-tokens", "0"], "max_new_tokens"),
    (["--beams", "0"], "num_beams"),
    (["--temperature", "nan"], "temperature"),
    (["--dry-multiplier", "-1"], "dry_multiplier"),
    (["--min-word-probability", "1"], "min_word_probability"),
    (["--never-suggest", "two words", "--"], "banned_words"),
])
def test_invalid_settings_give_one_line_and_exit_code_2(capsys, model_folder, options, field):
    code, out, err = run(capsys, "complete", "--model", model_folder, *options, "Hello")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and field in err and "Traceback" not in err


def test_an_unknown_model_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "complete", "--model", str(tmp_path / "no-such-model"), "Hello")
    assert code == 1
    assert "no model named" in err and "inkling models" in err


def test_beams_or_alternatives_imply_beam_search_with_consistent_counts():
    def args(**given):
        options = ("strategy", "beams", "alternatives", "max_new_tokens", "temperature", "top_k", "top_p", "min_p",
                   "repetition_penalty", "no_repeat_ngram_size", "length_penalty", "seed", "stop")
        return argparse.Namespace(**{**dict.fromkeys(options), "no_healing": False, **given})

    plain = settings_from_args(args())
    assert plain == engine.DecodingSettings()
    two_beams = settings_from_args(args(beams=2))
    assert (two_beams.strategy, two_beams.num_beams, two_beams.num_alternatives) == ("beam", 2, 2)
    six = settings_from_args(args(alternatives=6))
    assert (six.strategy, six.num_beams, six.num_alternatives) == ("beam", 6, 6)
    sampled = settings_from_args(args(strategy="sample", beams=3, seed=7, top_k=5, stop="word", no_healing=True))
    assert (sampled.strategy, sampled.seed, sampled.top_k, sampled.stop, sampled.token_healing) == (
        "sample", 7, 5, "word", False)


def test_dry_multiplier_doubt_cut_and_never_suggest_reach_the_decoding_settings(capsys, monkeypatch):
    seen = []

    class RecordingModel:
        def complete(self, text, settings):
            seen.append((text, settings))
            return []

    monkeypatch.setattr("engine.language_model.load", lambda name, device="auto": RecordingModel())
    code, _, err = run(capsys, "complete", "Hello there", "--dry-multiplier", "1.5", "--min-word-probability", "0",
                       "--never-suggest", "Dragon", "castle")
    assert code == 0, err
    code_dashes, _, err = run(capsys, "complete", "--never-suggest", "moat", "--", "Hello there")
    assert code_dashes == 0, err
    code_plain, _, err = run(capsys, "complete", "Hello there")
    assert code_plain == 0, err

    (text, given), (text_dashes, dashes), (_, plain) = seen
    assert text == text_dashes == "Hello there"
    assert (given.dry_multiplier, given.banned_words) == (1.5, ("Dragon", "castle"))
    assert (dashes.dry_multiplier, dashes.banned_words) == (0.8, ("moat",))  # the shared default
    assert (plain.dry_multiplier, plain.banned_words) == (0.8, ())
    assert (given.min_word_probability, plain.min_word_probability) == (0.0, None)  # None: the model's own bar


def test_plain_starts_from_plain_decoding_and_other_options_go_on_top():
    parser = engine.cli.build_parser()
    args = parser.parse_args(["complete", "--plain", "--max-new-tokens", "7", "--stop", "line", "Hello"])
    assert settings_from_args(args) == engine.DecodingSettings.plain(max_new_tokens=7, stop="line")
    beam = settings_from_args(parser.parse_args(["complete", "--plain", "--beams", "4", "Hello"]))
    assert beam == engine.DecodingSettings.plain(strategy="beam", num_beams=4, num_alternatives=3)


# --- streaming view ---------------------------------------------------------------------------------------


def test_stream_view_redraws_a_replaced_hypothesis_on_a_terminal():
    out = io.StringIO()
    view = StreamView(out)
    view.show("The")
    view.show("The cat")
    view.show("The dog")  # beam search switched: erase "cat", write "dog"
    view.finish("The dog")
    assert out.getvalue() == "The" + " cat" + "\x1b[3D\x1b[K" + "dog" + "\n"


def test_stream_view_redraws_across_lines():
    out = io.StringIO()
    view = StreamView(out)
    view.show("ab\ncd")
    view.show("aX")
    assert out.getvalue() == "ab\ncd" + "\x1b[1A\r\x1b[1C\x1b[J" + "X"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_streaming_writes_each_token_before_the_next_is_generated():
    out = Terminal()
    seen_before_each_token = []

    class SlowModel:
        def stream(self, text, settings, cancelled=None):
            for so_far in ("a", "ab", "abc"):
                seen_before_each_token.append(out.getvalue())
                yield StreamEvent(text=so_far, delta=so_far[-1])
            yield StreamEvent(text="abc", done=True, completions=(Completion("abc", -1.0),))

    _stream_best(SlowModel(), "prompt", engine.DecodingSettings(), out)
    assert seen_before_each_token == ["", "a", "ab"]
    assert out.getvalue() == "abc\n"


def test_streaming_ends_on_the_final_best_of_a_beam_stream():
    class BeamLikeModel:
        def stream(self, text, settings, cancelled=None):
            yield StreamEvent(text="a", delta="a")
            yield StreamEvent(text="ab", delta="b")
            final = (Completion("xyz", -1.0), Completion("abc", -2.0))
            yield StreamEvent(text="xyz", done=True, completions=final)

    out = Terminal()
    _stream_best(BeamLikeModel(), "prompt", engine.DecodingSettings(strategy="beam"), out)
    assert out.getvalue() == "ab" + "\x1b[2D\x1b[K" + "xyz\n"


def test_streaming_into_a_pipe_writes_one_final_text_per_alternative():
    final = (Completion(" upon a time", -1.0), Completion(" day", -2.0))

    class BeamLikeModel:
        def stream(self, text, settings, cancelled=None):  # a pipe must not see what streams
            yield StreamEvent(text=" I'm glad", delta=" I'm glad")
            yield StreamEvent(text=" upon a time", done=True, completions=final)

        def complete(self, text, settings):
            return list(final)

    out = io.StringIO()
    _stream_best(BeamLikeModel(), "Once", engine.DecodingSettings(strategy="beam"), out)
    assert out.getvalue() == " upon a time\n day\n"


# --- inkling models ---------------------------------------------------------------------------------------


def test_models_lists_user_models_and_devices(capsys, tmp_path, tiny_tokenizer, monkeypatch):
    user_dir = tmp_path / "user-models"
    make_gpt2_folder(user_dir / "my-novel-model", tiny_tokenizer)
    monkeypatch.setenv("INKLING_USER_MODELS", str(user_dir))

    code, out, _ = run(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "ARCHITECTURE", "SIZE", "LOADS", "AS", "(cpu)", "PATH"]
    row = next(line for line in lines if line.startswith("my-novel-model"))
    info = next(m for m in engine.list_models() if m.name == "my-novel-model")
    assert row.split()[:2] == ["my-novel-model", "user"]
    assert info.architecture in row and info.size_text in row and row.endswith(str(info.path))
    loaded = engine.load(str(info.path), device="cpu")
    assert f"{loaded.weights}, " in row  # how it loads here (a tiny model stays float32)
    devices = lines[lines.index("Devices (--device):") + 1:]
    assert [line.split()[0] for line in devices][:2] == ["auto", "cpu"]


def test_models_says_where_it_looked_when_there_are_none(capsys, tmp_path, monkeypatch):
    import engine.loading.registry

    monkeypatch.setattr(engine.loading.registry, "bundled_models_dir", lambda: tmp_path / "bundled")
    monkeypatch.setattr(engine.loading.registry, "hub_cache_models", list)
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path / "mine"))
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "No models found" in out and str(tmp_path / "mine") in out and str(tmp_path / "bundled") in out


# --- inkling complete on a real tiny model ----------------------------------------------------------------


@needs_generator
def test_complete_prints_numbered_alternatives_best_first(capsys, model_folder):
    code, out, err = run(capsys, "complete", "--model", model_folder, "--device", "cpu", "--beams", "4",
                         "--alternatives", "3", "--max-new-tokens", "5", "The quick brown")
    assert code == 0, err
    texts = parse_alternatives(out)
    expected = engine.load(model_folder, device="cpu").complete(
        "The quick brown", engine.DecodingSettings(strategy="beam", num_beams=4, num_alternatives=3,
                                                   max_new_tokens=5))
    assert texts == [c.text for c in expected]
    assert 1 <= len(texts) <= 3


@needs_generator
def test_complete_streams_the_final_alternatives_into_a_pipe(capsys, model_folder):
    code, out, err = run(capsys, "complete", "--model", model_folder, "--device", "cpu", "--max-new-tokens", "6",
                         "--stream", "The dog")
    assert code == 0, err
    expected = engine.load(model_folder, device="cpu").complete("The dog", engine.DecodingSettings(max_new_tokens=6))
    assert out == "".join(c.text + "\n" for c in expected)


@pytest.mark.parametrize("command", [["models"], ["complete", "--max-new-tokens", "3", "The dog"]])
def test_a_reader_that_leaves_early_ends_the_command_quietly(command, model_folder, tmp_path):
    """`inkling models | head -1`: the pipe is closed before anything is written, so every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    if command[0] == "complete":
        command = [*command[:1], "--model", model_folder, "--device", "cpu", *command[1:]]
    env = {**os.environ, "INKLING_DATA_DIR": str(tmp_path / "data"), "HF_HOME": str(tmp_path / "hf"),
           "INKLING_USER_MODELS": str(tmp_path / "mine")}
    try:
        done = subprocess.run([sys.executable, "-m", "engine", *command], stdout=write_end, stderr=subprocess.PIPE,
                              env=env, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == engine.cli.EXIT_BROKEN_PIPE


@needs_generator
def test_complete_reads_the_text_from_stdin(capsys, model_folder, monkeypatch):
    options = ["complete", "--model", model_folder, "--device", "cpu", "--max-new-tokens", "4"]
    code, from_argument, _ = run(capsys, *options, "Hello world")
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello world\n"))
    code_stdin, from_stdin, _ = run(capsys, *options, "-")
    assert code == code_stdin == 0
    assert from_stdin == from_argument and parse_alternatives(from_stdin)


@needs_generator
def test_complete_sampling_with_a_seed_repeats(capsys, model_folder):
    options = ["complete", "--model", model_folder, "--device", "cpu", "--strategy", "sample", "--seed", "3",
               "--temperature", "1.5", "--top-k", "50", "--max-new-tokens", "8", "--no-healing", "Once"]
    first = run(capsys, *options)
    second = run(capsys, *options)
    assert first[0] == 0 and first == second


def test_the_cli_the_engine_and_the_app_share_one_set_of_decoding_defaults():
    from gui.settings.settings_store import AppSettings

    parsed = engine.cli.build_parser().parse_args(["complete", "Hello"])
    shared = engine.DecodingSettings()
    assert settings_from_args(parsed) == shared == AppSettings().decoding
    # The app's behaviour: alternatives from beam search, repetition blocked, a suggestion ends with its sentence.
    assert (shared.strategy, shared.no_repeat_ngram_size, shared.dry_multiplier, shared.stop) == (
        "beam", 3, 0.8, "sentence")
    assert settings_from_args(engine.cli.build_parser().parse_args(["complete", "Hi", "--stop", "none"])).stop is None


def test_shares_are_readable_percentages_that_never_say_0_for_a_listed_alternative():
    from engine.decoding.results import Completion, percent, shares

    listed = [Completion("a", -36.0), Completion("b", -36.5), Completion("c", -50.0)]  # p ~ 1e-16 and less
    split = shares(listed)
    assert sum(split) == pytest.approx(1.0) and split[0] > split[1] > split[2] > 0
    assert [percent(s) for s in split] == ["62%", "38%", "<1%"]
    assert percent(shares([Completion("alone", -80.0)])[0]) == "100%"
    assert percent(0.9999) == ">99%"

