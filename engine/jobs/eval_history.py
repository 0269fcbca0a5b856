"""The in-app evaluation runs, kept as JSON in the user data folder so a model can be picked by its numbers.

``evaluations.json`` (in ``INKLING_DATA_DIR`` when set, else the platformdirs user data folder) holds
``{"version": 1, "runs": [...]}``, oldest first, at most ``MAX_RUNS``. It is written atomically; a file that cannot
be read is kept aside as ``evaluations.json.unreadable-DATE`` and the history starts again, with ``problem`` saying so.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from engine.decoding.settings import DecodingSettings
from engine.jobs.document_eval import DocumentFigures
from engine.owned_files import write_owned_text
from engine.user_data import user_data_dir

HISTORY_FILE = "evaluations.json"
FORMAT_VERSION = 1
MAX_RUNS = 500


@dataclass
class EvaluationRun:
    when: str  # local time, ISO 8601, seconds
    model: str
    architecture: str
    device: str
    document: str  # the file's path
    characters: int
    ksr: float
    exact_match: dict[str, float]  # "1", "3", "5" -> share (JSON keys are strings)
    bits_per_byte: float
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    suggestions: int
    settings: dict = field(default_factory=dict)
    settings_summary: str = ""
    elapsed_s: float = 0.0

    @property
    def document_name(self) -> str:
        return Path(self.document).name

    @property
    def model_name(self) -> str:
        return Path(self.model).name if ("/" in self.model or "\\" in self.model) else self.model

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationRun:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_figures(cls, figures: DocumentFigures, *, model: str, architecture: str, device: str, document: str,
                     settings: DecodingSettings) -> EvaluationRun:
        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else seconds * 1000

        return cls(
            when=datetime.datetime.now().isoformat(timespec="seconds"), model=model, architecture=architecture,
            device=device, document=str(document), characters=figures.characters, ksr=figures.ksr,
            exact_match={str(n): rate for n, rate in figures.exact_match.items()},
            bits_per_byte=figures.bits_per_byte, latency_p50_ms=ms(figures.latency_p50_s),
            latency_p90_ms=ms(figures.latency_p90_s), suggestions=figures.suggestions,
            settings=settings.to_dict(), settings_summary=describe_settings(settings),
            elapsed_s=figures.elapsed_s)


def describe_settings(settings: DecodingSettings) -> str:
    """A short reading of the settings that shape a suggestion, e.g. "beam 4, up to 16 tokens, to the sentence end"."""
    strategy = {"greedy": "greedy", "sample": f"sampling t={settings.temperature:g}",
                "beam": f"beam {settings.num_beams}"}[settings.strategy]
    length = {None: f"{settings.max_new_tokens} tokens", "word": "one word", "sentence": "to the sentence end",
              "line": "to the line end"}[settings.stop]
    if settings.stop is not None:
        length += f" (at most {settings.max_new_tokens} tokens)"
    return f"{strategy}, {length}" + ("" if settings.memory else ", model alone (no memory)")


def history_path(data_dir: str | os.PathLike | None = None) -> Path:
    return (Path(data_dir) if data_dir is not None else user_data_dir()) / HISTORY_FILE


class EvaluationHistory:
    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else history_path()
        self.problem: str | None = None  # set when a damaged file was kept aside

    def load(self) -> list[EvaluationRun]:
        """Every stored run, oldest first."""
        if not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
                raise TypeError("not an evaluation history")
            return [EvaluationRun.from_dict(item) for item in data["runs"]]
        except (OSError, ValueError, TypeError) as exc:
            kept = self._keep_aside()
            self.problem = (f"The evaluation history could not be read ({exc}); it was kept as {kept.name} and a "
                            "new one was started")
            return []

    def add(self, run: EvaluationRun) -> list[EvaluationRun]:
        """Store ``run`` after the others; returns the whole history."""
        runs = (self.load() + [run])[-MAX_RUNS:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_owned_text(self.path, json.dumps({"version": FORMAT_VERSION, "runs": [r.to_dict() for r in runs]},
                                               indent=1) + "\n")
        return runs

    def _keep_aside(self) -> Path:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
        try:
            os.replace(self.path, kept)
        except OSError:
            pass
        return kept
