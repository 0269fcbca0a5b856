"""``inkling eval``'s measurements: bits/byte and keystroke savings of a model and of the word-trigram baseline.

The evaluation texts go through the same normaliser as training data, then each document is cut to at most
``max_chars`` characters (at a word boundary). Bits/byte is measured on exactly the text that is typed for KSR, so
the figures describe the same characters.

The baseline is trained on the model's own training split: the documents of the model's training data that the
deterministic split did not hold out for validation. Trained baselines are cached (keyed by the data files' contents, the
split and the normaliser version), so the second evaluation against the same corpus starts at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.decoding.settings import DecodingSettings
from engine.errors import InklingError
from engine.owned_files import NotOwnFileError, write_owned_text
from engine.text_files import files_fingerprint
from engine.training.corpus import is_validation, read_documents
from engine.training.keystrokes import (
    DEFAULT_MAX_WORDS,
    AlternativesOfLanguageModel,
    KeystrokeReport,
    LanguageModelSuggester,
    Suggester,
    simulate_typing,
    suggestion_tokens,
)
from engine.training.normalize import NORMALIZER_VERSION
from engine.training.training_state import has_training_state, read_training_state
from engine.training.trigram import FORMAT_VERSION, WordTrigramModel

DEFAULT_VALIDATION_FRACTION = 0.03


@dataclass
class EvalText:
    label: str  # file name (and article id for multi-document files)
    id: str  # the corpus document id, to tell whether it was training data
    text: str


@dataclass
class Figures:
    name: str
    bits_per_byte: float
    keystrokes: KeystrokeReport

    @property
    def ksr(self) -> float:
        return self.keystrokes.ksr


@dataclass
class BaselineSource:
    """Where the baseline's training data comes from, and how the model's training split held documents out."""

    paths: list[str]
    validation_fraction: float
    origin: str  # "--baseline-data", "training.json", "the training state", "model card"


@dataclass
class EvalReport:
    texts: list[EvalText]
    model: Figures
    baseline: Figures | None = None
    model_alone: Figures | None = None  # the model without its memory, when asked for as well
    baseline_source: BaselineSource | None = None
    notes: list[str] = field(default_factory=list)
    # KSR@k of the model when the typist may take any of the first k alternatives it lists (k -> report).
    alternatives: dict[int, KeystrokeReport] = field(default_factory=dict)
    alternatives_by: str = ""  # "first-word branching" or "plain beam search"

    @property
    def characters(self) -> int:
        return sum(len(t.text) for t in self.texts)

    @property
    def ksr_ratio(self) -> float | None:
        if self.baseline is None or self.baseline.ksr <= 0:
            return None
        return self.model.ksr / self.baseline.ksr

    def to_dict(self) -> dict:
        def figures(f: Figures | None) -> dict | None:
            if f is None:
                return None
            k = f.keystrokes
            return {"name": f.name, "bits_per_byte": f.bits_per_byte, "ksr": f.ksr, "keys": k.keys,
                    "characters": k.characters, "tab_accepts": k.tab_accepts, "word_accepts": k.word_accepts,
                    "typed_characters": k.typed_characters, "suggestions": k.suggestions}

        return {"texts": [t.label for t in self.texts], "characters": self.characters,
                "model": figures(self.model), "baseline": figures(self.baseline), "ksr_ratio": self.ksr_ratio,
                "model_alone": figures(self.model_alone),
                "baseline_data": self.baseline_source.paths if self.baseline_source else None,
                "ksr_at": {str(k): r.ksr for k, r in self.alternatives.items()},
                "alternatives_by": self.alternatives_by or None,
                "notes": self.notes}


def load_eval_texts(paths: list[str], max_chars: int | None) -> list[EvalText]:
    """The documents in ``paths``, normalised as for training, each cut to ``max_chars`` characters."""
    texts = []
    for doc in read_documents(paths):
        text = cut_at_word(doc.text, max_chars) if max_chars else doc.text
        label = doc.id.split(":")[1] if doc.source == "book" else doc.id
        texts.append(EvalText(label, doc.id, text))
    return texts


def cut_at_word(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space] if space > max_chars // 2 else cut


def baseline_source_for(model_folder: Path | None, given: list[str] | None) -> BaselineSource | None:
    """The baseline's training data: ``--baseline-data`` if given, else what the model folder says it was trained on.

    Reads ``training.json`` (written by ``inkling train``), else the settings in the training state, else the
    paths listed under "Training data" in the model card. None when nothing names the data.
    """
    fraction, listed, origin = DEFAULT_VALIDATION_FRACTION, None, ""
    if model_folder is not None:
        record = model_folder / "training.json"
        card = model_folder / "README.md"
        if record.is_file():
            data = json.loads(record.read_text(encoding="utf-8"))
            listed, fraction, origin = data.get("data"), data.get("validation_fraction", fraction), "training.json"
        elif has_training_state(model_folder):
            # The folder may be a download: its state is read as data only (a pickle that holds code is refused).
            settings = read_training_state(model_folder, with_tensors=False).get("settings", {})
            listed, origin = settings.get("data"), "the training state"
            fraction = settings.get("validation_fraction", fraction)
        elif card.is_file():
            section = card.read_text(encoding="utf-8").split("## Training data", 1)
            if len(section) == 2:
                listed = re.findall(r"^- `([^`]+)`", section[1].split("\n## ", 1)[0], flags=re.MULTILINE)
                origin = "model card"
    if given:
        return BaselineSource(list(given), fraction, "--baseline-data")
    if listed:
        return BaselineSource(list(listed), fraction, origin)
    return None


def baseline_cache_dir() -> Path:
    from engine.training.trainer import default_cache_dir

    return default_cache_dir().parent / "baselines"


def train_baseline(source: BaselineSource, cache_dir: Path | None = None, max_words: int = DEFAULT_MAX_WORDS,
                   log: Callable[[str], None] | None = None) -> tuple[WordTrigramModel, set[str]]:
    """The word-trigram model of the training split of ``source``, and the ids of its training documents."""
    say = log or (lambda message: None)
    cache_dir = Path(cache_dir) if cache_dir is not None else baseline_cache_dir()
    key = baseline_key(source)
    model_file, ids_file = cache_dir / f"{key}.npz", cache_dir / f"{key}.ids.json"
    if model_file.is_file() and ids_file.is_file():
        say("using the cached word-trigram baseline")
        return WordTrigramModel.load(model_file, max_words), set(json.loads(ids_file.read_text()))
    say(f"training the word-trigram baseline on {', '.join(source.paths)} (cached for the next run)")
    documents = read_documents(source.paths)
    training = [d for d in documents if not is_validation(d, source.validation_fraction)] or documents
    model = WordTrigramModel.train((d.text for d in training), max_words=max_words)
    model.save(model_file)
    write_owned_text(ids_file, json.dumps(sorted(d.id for d in training)))
    return model, {d.id for d in training}


def baseline_key(source: BaselineSource) -> str:
    """The cache name of the baseline trained on ``source``: its files' contents, split and formats."""
    digest = hashlib.sha256(f"trigram {FORMAT_VERSION} normalizer {NORMALIZER_VERSION}\n".encode())
    digest.update(files_fingerprint(source.paths).encode())
    digest.update(f"{source.validation_fraction}".encode())
    return digest.hexdigest()[:16]


def measure(name: str, suggester: Suggester, bits: Callable[[str], float], texts: list[EvalText],
            max_words: int | None = DEFAULT_MAX_WORDS,
            progress: Callable[[str, int, int], None] | None = None) -> Figures:
    """Bits/byte (``bits(text)`` = total bits of a text) and KSR of one predictor over all ``texts``."""
    total_bits = sum(bits(t.text) for t in texts)
    total_bytes = sum(len(t.text.encode("utf-8")) for t in texts)
    report = KeystrokeReport()
    done = 0
    total = sum(len(t.text) for t in texts)
    for item in texts:
        position_base = done

        def on_position(position: int, base: int = position_base) -> None:
            if progress is not None:
                progress(name, base + position, total)

        report = report.add(simulate_typing(suggester, item.text, max_words=max_words, progress=on_position))
        done += len(item.text)
    return Figures(name, total_bits / max(total_bytes, 1), report)


MEMORY_MODES = ("on", "off", "both")


def measure_alternatives(lm, texts: list[EvalText], ks: tuple[int, ...] = (1, 3),
                         max_words: int | None = DEFAULT_MAX_WORDS, branch_first_word: bool = True,
                         progress: Callable[[str, int, int], None] | None = None) -> dict[int, KeystrokeReport]:
    """KSR@k for each k in ``ks``: the typist may take any of the first k alternatives the model lists."""
    suggester = AlternativesOfLanguageModel(lm, max(ks), suggestion_tokens(max_words), branch_first_word)
    total = sum(len(t.text) for t in texts)
    reports = {}
    for k in ks:
        report, done = KeystrokeReport(), 0
        for item in texts:
            def on_position(position: int, base: int = done, name: str = f"{lm.name} (KSR@{k})") -> None:
                if progress is not None:
                    progress(name, base + position, total)

            report = report.add(simulate_typing(suggester, item.text, max_words=max_words, progress=on_position,
                                                choices=k))
            done += len(item.text)
        reports[k] = report
    return reports


def evaluate_model(lm, texts: list[EvalText], baseline: WordTrigramModel | None = None,
                   baseline_training_ids: set[str] | None = None, max_words: int | None = DEFAULT_MAX_WORDS,
                   progress: Callable[[str, int, int], None] | None = None, memory: str = "on", ksr_at: int = 0,
                   branch_first_word: bool = True) -> EvalReport:
    """The model's and the baseline's figures on ``texts`` (see the module docstring). ``memory``: "on" measures
    what suggestions use (the model with the memory of the text typed so far), "off" the model alone, "both"
    adds the model alone as ``report.model_alone``. With ``ksr_at`` = k > 0 also the model's KSR@1 and KSR@k over
    the alternatives it lists."""
    if not texts:
        raise ValueError("no evaluation text")
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory must be one of {', '.join(MEMORY_MODES)}, not {memory!r}")
    first = _model_figures(lm, texts, max_words, progress, memory != "off")
    report = EvalReport(texts, first)
    if memory == "both":
        report.model_alone = _model_figures(lm, texts, max_words, progress, False)
    if baseline is not None:
        report.baseline = measure("word-trigram baseline", baseline, baseline.total_bits, texts, max_words, progress)
        seen = [t.label for t in texts if baseline_training_ids and t.id in baseline_training_ids]
        if seen:
            report.notes.append(
                f"{len(seen)} evaluation text(s) are in the training split ({', '.join(seen[:3])}): "
                "both figures are optimistic; evaluate on held-out text"
            )
    if ksr_at > 0:
        report.alternatives = measure_alternatives(lm, texts, tuple(sorted({1, ksr_at})), max_words,
                                                   branch_first_word, progress)
        report.alternatives_by = "first-word branching" if branch_first_word else "plain beam search"
    return report



def _model_figures(lm, texts: list[EvalText], max_words: int | None, progress, memory: bool) -> Figures:
    settings = DecodingSettings(strategy="greedy", max_new_tokens=suggestion_tokens(max_words), token_healing=True,
                                stop=None, memory=memory)
    suggester = LanguageModelSuggester(lm, settings=settings, max_words=max_words)

    def model_bits(text: str) -> float:
        return lm.bits_per_byte(text, memory=memory) * len(text.encode("utf-8"))

    name = lm.name if memory else f"{lm.name} (model alone)"
    return measure(name, suggester, model_bits, texts, max_words, progress)


CARD_SECTION = "## Evaluation (inkling eval)"


def update_model_card(folder: Path, section_body: str) -> Path:
    """Put ``section_body`` under the card's evaluation heading, replacing an earlier one (the rest is kept)."""
    card = Path(folder) / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    before, found, after = text.partition(CARD_SECTION)
    rest = ""
    if found:
        following = after.find("\n## ")
        rest = after[following:] if following >= 0 else ""
    section = f"{CARD_SECTION}\n\n{section_body.strip()}\n"
    # A downloaded folder's README.md could be a link to any file of the user's: never written through.
    try:
        write_owned_text(card, before.rstrip() + "\n\n" + section + rest)
    except NotOwnFileError as exc:
        raise InklingError(f"the model card was not updated: {exc}") from exc
    return card
