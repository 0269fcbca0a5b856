"""Downloading a catalogue GGUF into the user models folder, against a local server standing in for the Hub."""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from engine.loading import gguf_download
from engine.loading.gguf_download import DownloadCancelled, HubFile, download_gguf, fetched_bytes, part_path
from engine.loading.hub_download import DownloadError
from engine.loading.registry import list_models
from tests.support.hub_server import FakeHub

constants = pytest.importorskip("huggingface_hub.constants")
file_download = pytest.importorskip("huggingface_hub.file_download")

REPO = "example/Tiny-GGUF"
NAME = "tiny.Q4_K_M.gguf"
CHUNK = 64 * 1024
CONTENT = b"GGUF" + bytes(range(256)) * 4000  # ~1 MB: 16 chunks


@pytest.fixture
def hub(monkeypatch):
    # Small chunks, so a broken connection leaves whole chunks written (real files are many 10 MB chunks).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        server.files.add(REPO, NAME, CONTENT)
        yield server


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("INKLING_USER_MODELS", str(folder))
    return folder


def listed_names() -> list[str]:
    return [info.name for info in list_models() if info.source == "user"]


def test_download_verifies_and_installs_under_its_own_name(hub, models):
    seen: list[tuple[int, int | None]] = []
    path = download_gguf(HubFile(REPO, NAME), progress=lambda done, total: seen.append((done, total)))
    assert path == models / NAME
    assert path.read_bytes() == CONTENT
    assert seen[-1] == (len(CONTENT), len(CONTENT))
    assert [p.name for p in models.iterdir()] == [NAME]  # no part left behind
    assert NAME in listed_names()


def test_catalogue_sha256_is_checked_too(hub, models):
    sha = hashlib.sha256(CONTENT).hexdigest()
    assert download_gguf(HubFile(REPO, NAME, sha256=sha)).read_bytes() == CONTENT


def test_a_dropped_connection_is_resumed_with_a_range_request(hub, models):
    hub.drop_next_downloads(8 * CHUNK)
    path = download_gguf(HubFile(REPO, NAME))
    assert path.read_bytes() == CONTENT
    ranges = [byte_range for _path, byte_range in hub.gets()]
    assert ranges == [None, f"bytes={8 * CHUNK}-"]


def test_a_download_that_fails_keeps_its_part_and_the_next_one_resumes(hub, models, monkeypatch):
    monkeypatch.setattr(file_download.time, "sleep", lambda _s: None)  # huggingface_hub's pause between retries
    # One chunk arrives, then the network is gone: huggingface_hub's retries (5 without new data) give up, and so
    # does the next try from what had arrived, which brings nothing more.
    hub.drop_next_downloads(CHUNK, *[0] * 20)
    with pytest.raises(DownloadError, match="resumes from there"):
        download_gguf(HubFile(REPO, NAME))
    hub.drop_next_downloads()
    part = part_path(models, NAME, hashlib.sha256(CONTENT).hexdigest())
    kept = part.stat().st_size
    assert 0 < kept < len(CONTENT)
    assert fetched_bytes(models, NAME) == kept
    assert listed_names() == []

    path = download_gguf(HubFile(REPO, NAME))
    assert path.read_bytes() == CONTENT
    assert hub.gets()[-1][1] == f"bytes={kept}-"
    assert not part.exists()


def test_a_try_that_brought_data_is_followed_by_another(hub, models, monkeypatch):
    monkeypatch.setattr(file_download.time, "sleep", lambda _s: None)
    # huggingface_hub gives up after one chunk and five empty retries (older versions at the first break); the
    # download goes on from that chunk as long as a try brings more.
    hub.drop_next_downloads(CHUNK, *[0] * 5)
    path = download_gguf(HubFile(REPO, NAME))
    assert path.read_bytes() == CONTENT
    assert hub.gets()[-1][1] == f"bytes={CHUNK}-"


def test_cancel_keeps_the_part_and_lists_nothing(hub, models):
    with pytest.raises(DownloadCancelled):
        download_gguf(HubFile(REPO, NAME), cancelled=lambda: True)
    assert not (models / NAME).exists()
    assert listed_names() == []


def test_a_checksum_mismatch_is_refused_and_nothing_is_listed(hub, models):
    hub.files.advertised_sha256[f"{REPO}/{NAME}"] = "f" * 64
    with pytest.raises(DownloadError, match="failed its checksum"):
        download_gguf(HubFile(REPO, NAME))
    assert list(models.iterdir()) == []  # the corrupt part is deleted too
    assert listed_names() == []


def test_a_file_changed_on_the_hub_since_the_catalogue_is_refused_before_downloading(hub, models):
    with pytest.raises(DownloadError, match="not the file the catalogue names"):
        download_gguf(HubFile(REPO, NAME, sha256="a" * 64))
    assert hub.gets() == []


def test_a_file_without_a_sha256_is_refused(hub, models):
    hub.files.advertised_sha256[f"{REPO}/{NAME}"] = "not-a-sha256"
    with pytest.raises(DownloadError, match="could not be verified"):
        download_gguf(HubFile(REPO, NAME))
    assert hub.gets() == []


def test_too_little_free_space_is_refused_before_downloading(hub, models, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DownloadError, match="not enough free disk space") as caught:
        download_gguf(HubFile(REPO, NAME))
    assert str(models) in str(caught.value)
    assert hub.gets() == []
    assert listed_names() == []


def test_a_disk_that_fills_up_deletes_the_part(hub, models, monkeypatch):
    real_open = builtins.open

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, _data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def open_full(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FullDisk(handle) if str(path).endswith(gguf_download.PART_SUFFIX) and "a" in mode else handle

    monkeypatch.setattr(builtins, "open", open_full)
    with pytest.raises(DownloadError, match="disk filled up"):
        download_gguf(HubFile(REPO, NAME))
    monkeypatch.setattr(builtins, "open", real_open)
    assert list(models.iterdir()) == []
    assert listed_names() == []


def test_a_missing_file_on_the_hub_is_named(hub, models):
    with pytest.raises(DownloadError, match="example/Tiny-GGUF/absent.gguf"):
        download_gguf(HubFile(REPO, "absent.gguf"))


def test_without_huggingface_hub_the_message_says_how_to_install_it(models, monkeypatch):
    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name == "huggingface_hub" or name.startswith("huggingface_hub."):
            raise ImportError("No module named 'huggingface_hub'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(DownloadError, match=r"pip install 'inkling\[hub\]'"):
        download_gguf(HubFile(REPO, NAME))
