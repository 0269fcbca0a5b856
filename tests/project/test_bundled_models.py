"""The models shipped in resources/models load offline on any machine and complete a sentence."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

import engine
from engine.loading.registry import bundled_models_dir, first_existing_folder
from tests.support.paths import REPO

BUNDLED = {"default": "Transformer (Qwen3)", "attention-lstm": "Attention-LSTM"}
MAX_BUNDLE_BYTES = 25 * 1024 * 1024


@pytest.mark.bundled_weights
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_loads_and_completes_a_sentence(name):
    lm = engine.load(name, device="cpu")
    assert lm.architecture == BUNDLED[name]
    settings = engine.DecodingSettings(strategy="beam", num_beams=4, num_alternatives=3, max_new_tokens=12,
                                       stop="sentence")
    completions = lm.complete("She opened the door and", settings)
    assert completions and all(c.text.strip() for c in completions)
    assert len({c.text for c in completions}) == len(completions)
    healed = lm.complete("The old man walked slowly down the ro", engine.DecodingSettings(stop="word"))[0]
    assert not healed.text.startswith((" ", "ro"))  # continues the word, never repeats what was typed


@pytest.mark.bundled_weights
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_fits_the_size_budget_and_says_what_it_was_trained_on(name):
    folder = bundled_models_dir() / name
    assert (folder / "model.safetensors").stat().st_size <= MAX_BUNDLE_BYTES
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "gutenberg" in card.lower() and "bits" in card.lower()
    assert not (folder / "training_state.pt").exists()  # resume state stays out of the install
    assert json.loads((folder / "config.json").read_text())["torch_dtype"] == "float16"


@pytest.mark.bundled_weights
def test_the_default_reads_the_text_after_the_cursor_and_loads_in_transformers():
    """The default was trained with fill-in-the-middle: its tokenizer declares the FIM tokens, so a suggestion in
    the middle of a document reads what follows; its layout is one transformers knows (Qwen3)."""
    from engine.decoding.fim import fim_token_ids

    folder = bundled_models_dir() / "default"
    lm = engine.load("default", device="cpu")
    assert fim_token_ids(lm.tokenizer) is not None
    framed = lm.generator.prepare("She opened the door and", engine.DecodingSettings(), " the cold air came in.")
    assert framed.tokens[0] == fim_token_ids(lm.tokenizer)[0]
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["Qwen3ForCausalLM"]


@pytest.mark.bundled_weights
def test_the_attention_lstm_shares_the_default_tokenizer_but_keeps_left_to_right_prompts():
    """Trained without FIM rows on the default's tokenizer (which declares the FIM tokens): its config says so,
    and a suggestion in the middle of a document reads the text before the cursor only."""
    lstm = engine.load("attention-lstm", device="cpu")
    default_vocab = (bundled_models_dir() / "default" / "tokenizer.json").read_text(encoding="utf-8")
    assert (bundled_models_dir() / "attention-lstm" / "tokenizer.json").read_text(encoding="utf-8") == default_vocab
    assert lstm.generator.fim_ids is None
    settings = engine.DecodingSettings()
    assert lstm.generator.prepare("She opened the door and", settings, " the cold air came in.").tokens == \
        lstm.generator.prepare("She opened the door and", settings, "").tokens


@pytest.mark.slow
def test_a_wheel_carries_the_bundled_models_and_an_installed_copy_finds_them(tmp_path):
    pytest.importorskip("setuptools", minversion="70")  # builds wheels itself, offline (no build isolation)
    root = REPO
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, timeout=600, capture_output=True)
    [wheel] = tmp_path.glob("inkling-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/data/")[0] for n in names if "/data/" in n)
    for name in BUNDLED:
        for file in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
            assert f"{data}/data/share/inkling/models/{name}/{file}" in names

    source, installed = tmp_path / "site-packages" / "resources" / "models", tmp_path / "share" / "inkling" / "models"
    installed.mkdir(parents=True)
    assert first_existing_folder([source, installed]) == installed  # a wheel install has no resources/ folder
    assert first_existing_folder([source, tmp_path / "nowhere"]) == source  # named in "missing" messages


HALF_TYPED = {
    "The quick bro": {"brown", "broke", "brother", "brothers", "broad", "broadcast", "broadcasting", "brought"},  # real words
    "The old quee": {"queen", "queens", "queen's", "queer"},
    "It was a beautif": {"beautiful"},
    "He walked into the kitch": {"kitchen", "kitchens"},
    "I will remem": {"remember"},
    "Once upon a ti": {"time", "times"},
    "They were very hap": {"happy"},
}


@pytest.mark.bundled_weights
@pytest.mark.parametrize("name", sorted(BUNDLED))
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_token_healing_completes_the_word_being_typed(name, strategy):
    """The word the user is typing is finished ("quee" -> "queen"), not abandoned for a new one (" of the")."""
    lm = engine.load(name, device="cpu")
    settings = engine.DecodingSettings(strategy=strategy, stop="word")
    for typed, words in HALF_TYPED.items():
        [best, *_] = lm.complete(typed, settings)
        word = (typed + best.text).split()[-1].strip(".,;:!?\"’").replace("’", "'")
        assert word.lower() in words, (typed, best.text)
