"""A local HTTP server that stands in for the Hugging Face Hub in download tests (no internet is needed).

It serves what ``huggingface_hub`` asks of the Hub for one file: ``HEAD`` and ``GET /{repo}/resolve/{revision}/{file}``
with ``X-Repo-Commit``, ``ETag`` / ``X-Linked-Etag`` (the Git LFS sha256) and ``X-Linked-Size``, and byte ranges
(``Range: bytes=N-`` answered 206) so a download can resume. ``drop_next_downloads`` makes the next GETs send so
many bytes and then close the connection, as a broken network does; ``requests`` records each (method, path, Range).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFiles:
    files: dict[str, bytes] = field(default_factory=dict)  # "repo/name/file" -> content
    advertised_sha256: dict[str, str] = field(default_factory=dict)  # a lie to tell instead of the real hash
    drops: list[int] = field(default_factory=list)  # bytes each of the next GETs sends before breaking
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, file_name: str, content: bytes) -> str:
        self.files[f"{repo_id}/{file_name}"] = content
        return hashlib.sha256(content).hexdigest()


class FakeHub:
    """``with FakeHub() as hub: hub.files.add(...)``; ``hub.endpoint`` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.files = HubFiles()
        state = self.files

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                return None

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                state.requests.append((self.command, self.path, self.headers.get("Range")))
                key = _file_key(self.path)
                content = state.files.get(key) if key else None
                if content is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                sha = state.advertised_sha256.get(key) or hashlib.sha256(content).hexdigest()
                start = _range_start(self.headers.get("Range"))
                if start is not None and start >= len(content):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if start is not None else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(content)))
                self.send_header("Accept-Ranges", "bytes")
                piece = content[start or 0:]
                if start is not None:
                    self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
                self.send_header("Content-Length", str(len(piece)))
                self.end_headers()
                if not body:
                    return
                with state.lock:
                    drop = state.drops.pop(0) if state.drops else None
                if drop is not None:
                    self.wfile.write(piece[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(piece)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)

    def __enter__(self) -> FakeHub:  # noqa: PYI034 (the package targets Pythons without typing.Self)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def drop_next_downloads(self, *after_bytes: int) -> None:
        """The next GETs break after sending these many bytes each (then they work again)."""
        with self.files.lock:
            self.files.drops = list(after_bytes)

    def gets(self) -> list[tuple[str, str | None]]:
        return [(path, byte_range) for method, path, byte_range in self.files.requests if method == "GET"]


def _file_key(path: str) -> str | None:
    """"/org/name/resolve/main/file.gguf" -> "org/name/file.gguf"."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) < 5 or parts[2] != "resolve":
        return None
    return "/".join(parts[:2] + parts[4:])


def _range_start(header: str | None) -> int | None:
    if not header or not header.startswith("bytes="):
        return None
    start = header[len("bytes="):].split("-", 1)[0]
    return int(start) if start.isdigit() else None
