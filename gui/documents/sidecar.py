"""The notes on where a document's suggested text came from, kept in the user data folder, never beside it.

Each saved document has one file ``provenance/<sha256 of its resolved path>.json`` in the user data folder
(``INKLING_DATA_DIR`` when set, else platformdirs'; ``ProvenanceStore``), so no stray file lands in the writer's
folders or repositories, and nothing goes inside the text itself. The file names the document's resolved path
(``document``), so notes that belong to another path are recognised and never applied. It holds

- ``accepted``: every run of accepted suggestion text still in the document, with the model, the decoding settings
  and the seed that produced it;
- ``history``: the suggestions made at a point of the document (re-rolls included), so they can still be stepped
  through after the document is closed and opened again.

Offsets count Python characters (code points) of the text as the editor holds it ("\\n" line breaks). Each record
also keeps the text it points at, so a document edited elsewhere is matched again instead of trusted blindly.
The file is written atomically (``document_io.atomic_write_bytes``, private to the user) and never through a
symbolic link: a link planted at its name is refused when reading and when writing, and the refusal is reported.
One that cannot be read is reported and ignored, never fatal: the document itself always opens and saves.

Earlier versions kept the same notes beside the document as ``.notes.txt.inkling.json`` (hidden on Unix).
``migrate_legacy_sidecar`` moves one into the store when its document is opened: read without following a link,
stored, then deleted, only when it is a regular file that parses and nothing else has taken its name meanwhile;
a link, a damaged file or one that could not be stored is left where it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.decoding.results import Completion
from engine.owned_files import NotOwnFileError, read_owned, read_owned_text, remove_owned_file
from engine.user_data import user_data_dir
from gui.documents.document_io import DocumentError, atomic_write_bytes
from gui.origin import Origin

SIDECAR_FORMAT = "inkling-sidecar"
SIDECAR_VERSION = 1
PROVENANCE_FOLDER = "provenance"  # in the user data folder


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
    document: str | None = None  # the resolved path of the document they belong to (in the store)

    def is_empty(self) -> bool:
        return not self.accepted and not self.history

    def to_json(self) -> str:
        document = {} if self.document is None else {"document": self.document}
        return json.dumps({"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, **document,
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
        chars, document = data.get("document_chars"), data.get("document")
        return cls([AcceptedRecord.from_dict(r) for r in data.get("accepted", [])],
                   [HistoryRecord.from_dict(r) for r in data.get("history", [])],
                   chars if isinstance(chars, int) else None, document if isinstance(document, str) else None)


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


def provenance_dir() -> Path:
    return user_data_dir() / PROVENANCE_FOLDER


def resolved(document: str | os.PathLike) -> str:
    """The path the notes are kept under: absolute, with links resolved (a document opened through a link and
    through its target has one set of notes)."""
    return os.path.realpath(document)


class ProvenanceStore:
    """The notes of every saved document, one file each in ``folder`` (default: ``provenance_dir()``)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else provenance_dir()

    def path_for(self, document: str | os.PathLike) -> Path:
        return self.folder / f"{hashlib.sha256(os.fsencode(resolved(document))).hexdigest()}.json"

    def write(self, document: str | os.PathLike, sidecar: Sidecar) -> None:
        """Save the notes of ``document`` atomically; a document without any record gets none (old notes are
        emptied rather than left stale). Raises ``DocumentError``."""
        path = self.path_for(document)
        if sidecar.is_empty() and not os.path.lexists(path):
            return
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DocumentError(f"Cannot create the folder {self.folder}: {exc.strerror or exc}") from exc
        notes = replace(sidecar, document=resolved(document))
        atomic_write_bytes(path, notes.to_json().encode("utf-8"), private=True)

    def read(self, document: str | os.PathLike) -> Sidecar | None:
        """The notes of ``document``, None when it has none (or the file there names another document);
        ``SidecarError`` when they cannot be used."""
        path = self.path_for(document)
        about = f"the notes on where the suggested text of {Path(document).name} came from ({path})"
        try:
            text = read_owned_text(path)  # never through a link: it could point at any file of the user's
        except FileNotFoundError:
            return None
        except NotOwnFileError as exc:
            raise SidecarError(f"{exc} Where the suggested text came from is not shown.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SidecarError(f"Cannot read {about}: {exc}") from exc
        try:
            sidecar = Sidecar.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise SidecarError(f"{about[0].upper()}{about[1:]} are damaged ({exc}) and were not used") from exc
        return sidecar if sidecar.document == resolved(document) else None


def legacy_sidecar_path(document: str | os.PathLike) -> Path:
    """Where earlier versions kept the notes: ``.notes.txt.inkling.json`` beside ``notes.txt``."""
    document = Path(document)
    return document.with_name(f".{document.name}.inkling.json")


def _read_legacy(path: Path) -> tuple[Sidecar, os.stat_result] | None:
    """The legacy sidecar at ``path`` and the file it was read from; None when there is none. ``SidecarError``
    when it is a link, not a regular file, unreadable or damaged."""
    try:
        data, seen = read_owned(path)  # never through a link: it could point at any file of the user's
    except FileNotFoundError:
        return None
    except NotOwnFileError as exc:
        raise SidecarError(f"{exc} Where the suggested text came from is not shown.") from exc
    except OSError as exc:
        raise SidecarError(f"Cannot read {path.name}: {exc}") from exc
    try:
        return Sidecar.from_json(data.decode("utf-8")), seen
    except (ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise SidecarError(f"{path.name} is damaged ({exc}); where the suggested text came from is not shown") \
            from exc


def migrate_legacy_sidecar(document: str | os.PathLike,
                           store: ProvenanceStore) -> tuple[Sidecar | None, str | None]:
    """Move the sidecar an earlier version left beside ``document`` into ``store``: its notes (None when there was
    none or it cannot be used) and a sentence for the user when something went wrong (None when all went well).
    It is deleted only once stored, and only while it is still the regular file that was read."""
    path = legacy_sidecar_path(document)
    try:
        legacy = _read_legacy(path)
    except SidecarError as exc:
        return None, str(exc)
    if legacy is None:
        return None, None
    sidecar, seen = legacy
    try:
        store.write(document, sidecar)
    except DocumentError as exc:
        return sidecar, (f"{path.name} could not be moved into Inkling's data folder and stays beside the "
                         f"document: {exc}")
    try:
        remove_owned_file(path, seen)
    except OSError as exc:
        return sidecar, f"{path.name} was moved into Inkling's data folder but could not be deleted: {exc}"
    return sidecar, None


def retire_legacy_sidecar(document: str | os.PathLike) -> None:
    """After the notes of ``document`` were stored: a usable legacy sidecar beside it is out of date, and goes
    (a link, a damaged file or anything else is left alone, and a failure is not worth a word)."""
    path = legacy_sidecar_path(document)
    try:
        legacy = _read_legacy(path)
        if legacy is not None:
            remove_owned_file(path, legacy[1])
    except (SidecarError, OSError):
        pass


__all__ = ["AcceptedRecord", "DocumentError", "HistoryEntry", "HistoryRecord", "Origin", "ProvenanceStore",
           "Sidecar", "SidecarError", "legacy_sidecar_path", "migrate_legacy_sidecar", "provenance_dir",
           "retire_legacy_sidecar"]
