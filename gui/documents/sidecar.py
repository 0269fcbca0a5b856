"""The sidecar file that remembers, next to a document, where its suggested text came from.

``notes.txt`` gets ``.notes.txt.inkling.json`` in the same folder (hidden on Unix): never anything inside the text
itself, so the document stays exactly what the user wrote and accepted. It holds

- ``accepted``: every run of accepted suggestion text still in the document, with the model, the decoding settings
  and the seed that produced it;
- ``history``: the suggestions made at a point of the document (re-rolls included), so they can still be stepped
  through after the document is closed and opened again.

Offsets count Python characters (code points) of the text as the editor holds it ("\\n" line breaks). Each record
also keeps the text it points at, so a document edited elsewhere is matched again instead of trusted blindly.
The file is written atomically (``document_io.atomic_write_bytes``) and never through a symbolic link: a link
planted at the sidecar's name (in a shared or synced folder) is refused when reading and when writing, and the
refusal is reported. One that cannot be read is reported and ignored, never fatal: the document itself always
opens and saves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.decoding.results import Completion
from engine.owned_files import NotOwnFileError, read_owned_text
from gui.documents.document_io import DocumentError, atomic_write_bytes
from gui.origin import Origin

SIDECAR_FORMAT = "inkling-sidecar"
SIDECAR_VERSION = 1


class SidecarError(Exception):
    """The sidecar exists but cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class AcceptedRecord:
    start: int
    end: int
    text: str
    origin: Origin
    accepted_at: str  # ISO 8601, local time with offset

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "accepted_at": self.accepted_at,
                **self.origin.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> AcceptedRecord:
        return cls(int(data["start"]), int(data["end"]), str(data["text"]), Origin.from_dict(data),
                   str(data.get("accepted_at", "")))


@dataclass(frozen=True)
class HistoryEntry:
    """One suggestion made at a point: its alternatives, best first, and what produced them."""

    completions: tuple[Completion, ...]
    origin: Origin

    def to_dict(self) -> dict:
        return {**self.origin.to_dict(), "completions": [completion_to_dict(c) for c in self.completions]}

    @classmethod
    def from_dict(cls, data: dict) -> HistoryEntry:
        return cls(tuple(completion_from_dict(c) for c in data.get("completions", [])), Origin.from_dict(data))


@dataclass(frozen=True)
class HistoryRecord:
    """The suggestions made at one point of the document, oldest first."""

    offset: int
    before: str  # the text just before the point, to find it again
    after: str  # the start of the text after it
    entries: tuple[HistoryEntry, ...]

    def to_dict(self) -> dict:
        return {"offset": self.offset, "before": self.before, "after": self.after,
                "entries": [entry.to_dict() for entry in self.entries]}

    @classmethod
    def from_dict(cls, data: dict) -> HistoryRecord:
        return cls(int(data["offset"]), str(data.get("before", "")), str(data.get("after", "")),
                   tuple(HistoryEntry.from_dict(e) for e in data.get("entries", [])))


@dataclass
class Sidecar:
    accepted: list[AcceptedRecord] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)
    document_chars: int | None = None  # length of the text when saved: a hint where records moved to

    def is_empty(self) -> bool:
        return not self.accepted and not self.history

    def to_json(self) -> str:
        return json.dumps({"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
                           "document_chars": self.document_chars,
                           "accepted": [record.to_dict() for record in self.accepted],
                           "history": [record.to_dict() for record in self.history]},
                          ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Sidecar:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            raise ValueError("not an Inkling sidecar")
        if data.get("version") != SIDECAR_VERSION:
            raise ValueError(f"sidecar version {data.get('version')!r}; this Inkling reads {SIDECAR_VERSION}")
        chars = data.get("document_chars")
        return cls([AcceptedRecord.from_dict(r) for r in data.get("accepted", [])],
                   [HistoryRecord.from_dict(r) for r in data.get("history", [])],
                   chars if isinstance(chars, int) else None)


def completion_to_dict(completion: Completion) -> dict:
    return {"text": completion.text, "logprob": completion.logprob, "token_ids": list(completion.token_ids),
            "token_logprobs": list(completion.token_logprobs), "token_texts": list(completion.token_texts),
            "finish_reason": completion.finish_reason, "seed": completion.seed}


def completion_from_dict(data: dict) -> Completion:
    return Completion(text=str(data["text"]), logprob=float(data.get("logprob", 0.0)),
                      token_ids=tuple(int(t) for t in data.get("token_ids", ())),
                      token_logprobs=tuple(float(x) for x in data.get("token_logprobs", ())),
                      token_texts=tuple(str(t) for t in data.get("token_texts", ())),
                      finish_reason=str(data.get("finish_reason", "length")), seed=data.get("seed"))


def sidecar_path(document: str | os.PathLike) -> Path:
    document = Path(document)
    return document.with_name(f".{document.name}.inkling.json")


def write_sidecar(document: str | os.PathLike, sidecar: Sidecar) -> None:
    """Save the sidecar of ``document`` atomically; a document without any record gets none (an old one is
    emptied rather than left stale). Raises ``DocumentError``."""
    path = sidecar_path(document)
    if sidecar.is_empty() and not os.path.lexists(path):
        return
    atomic_write_bytes(path, sidecar.to_json().encode("utf-8"))


def read_sidecar(document: str | os.PathLike) -> Sidecar | None:
    """The sidecar of ``document``, None when it has none; ``SidecarError`` when it cannot be used."""
    path = sidecar_path(document)
    try:
        text = read_owned_text(path)  # never through a link: it could point at any file of the user's
    except FileNotFoundError:
        return None
    except NotOwnFileError as exc:
        raise SidecarError(f"{exc} Where the suggested text came from is not shown.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"Cannot read {path.name}: {exc}") from exc
    try:
        return Sidecar.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise SidecarError(f"{path.name} is damaged ({exc}); where the suggested text came from is not shown") \
            from exc


__all__ = ["AcceptedRecord", "DocumentError", "HistoryEntry", "HistoryRecord", "Origin", "Sidecar",
           "SidecarError", "read_sidecar", "sidecar_path", "write_sidecar"]
