"""Big index rebuilds in the background (store/rebuild.py): ``index`` returns at once, searches keep
answering from the current file, the new type is installed with what was committed meanwhile, one build
at a time, and an indexer waits for an install instead of refusing."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import background_build_running, copy_photos, wait_until

from framefind import FrameFindError, IndexEvents, Library
from framefind.store import indexfiles
from framefind.store.locks import INSTALL, WriterLock
from framefind.store.rebuild import LOG_NAME, running, start
from framefind.store.vectors.factory import load_index


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return copy_photos(tmp_path_factory.mktemp("rebuild") / "photos", n_wallpapers=6)


def newest(library: Library, space: str):
    return load_index(library.store.files(space)[-1][1])


def wait_for_build(directory: Path) -> None:
    wait_until(lambda: running(directory) is None, "the background build to finish", poll=0.1)


@contextlib.contextmanager
def kept(lock: WriterLock):
    """The writer lock that ``library.index()`` takes stays held when the run ends, until the block ends: a
    background build the run started cannot install its file before the test has looked (however fast)."""
    release = lock.release
    lock.release = lambda: None
    try:
        yield
    finally:
        del lock.release
        release()


def top(library: Library, text: str = "a cat") -> list[str]:
    return [Path(r.path).name for r in library.search(text, k=5, cutoff=False)]


def test_a_pinned_type_change_builds_in_the_background_and_searches_go_on(photos, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    with Library.open(lib) as library:
        library.index([photos])
        before = top(library)
        assert library.info()["index_files"] == {"visual": "flat", "semantic": "flat"}
    monkeypatch.setenv(indexfiles.BACKGROUND_ENV, "1")  # every rebuild is "big" (the build process inherits it)
    with Library.open(lib, index_type="ivf-sq8") as library:
        with kept(library.lock):  # the build may train, but cannot install its file yet
            report = library.index()
            assert report.rebuild_pid is not None and running(lib) == report.rebuild_pid
            assert start(lib, library.model_id, {"semantic": 384}) is None  # one build at a time
            assert library.info()["index_files"] == {"visual": "flat", "semantic": "flat"}
            assert top(library) == before  # searches go on, from the flat files
        wait_for_build(lib)
        assert library.info()["index_files"] == {"visual": "ivf-sq8", "semantic": "ivf-sq8"}
        assert library.info()["rebuilding"] is None
        for space in ("visual", "semantic"):
            assert np.array_equal(newest(library, space).ids(), np.sort(library.catalog.vector_ids(library.model_id,
                                                                                                    space)))
        assert top(library) == before
        assert library.index().rebuild_pid is None  # nothing due any more
    assert "installed" in (lib / LOG_NAME).read_text()


def test_the_install_catches_up_with_what_was_committed_during_the_build(photos, tmp_path, monkeypatch):
    first = tmp_path / "first"
    first.mkdir()
    names = sorted(p.name for p in photos.iterdir())
    for name in names[:-3]:
        shutil.copy(photos / name, first / name)
    monkeypatch.setenv(indexfiles.BACKGROUND_ENV, "1")
    with Library.open(tmp_path / "lib") as library:
        library.index([first])
    with Library.open(tmp_path / "lib", index_type="ivf-sq8") as library:
        store = library.store
        wanted = store.catalog.vector_ids(library.model_id, "semantic")
        monkeypatch.setattr(indexfiles, "BUILD_CHUNK", 4)  # several chunks: the stream must not lose any
        built = store.build("semantic", wanted)  # what the background process does, before the install
        assert built.kind == "ivf-sq8" and np.array_equal(built.ids(), np.sort(wanted))
        for name in names[-3:]:  # meanwhile: three photos added, one removed
            shutil.copy(photos / name, first / name)
        (first / names[0]).unlink()
        with background_build_running(tmp_path / "lib"):  # a build runs: the index run must not start another
            report = library.index()
        assert report.rebuild_pid is None and (report.embedded, report.removed) == (3, 1)
        assert library.store.kind("semantic") == "flat"  # brought up to date, not rebuilt in the foreground
        with WriterLock(tmp_path / "lib").acquire(role=INSTALL):
            path = store.install("semantic", built)
        assert path is not None and library.store.kind("semantic") == "ivf-sq8"
        installed = newest(library, "semantic")
        assert np.array_equal(installed.ids(), np.sort(library.catalog.vector_ids(library.model_id, "semantic")))
        assert len(installed.ids()) == len(names) - 1


def test_a_finished_or_dead_build_is_not_running(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    assert running(lib) is None  # no lock file yet
    with background_build_running(lib):
        assert running(lib) == os.getpid()
        assert start(lib, "some-model", {"semantic": 384}) is None
    assert running(lib) is None  # the pid is still in the file, the lock is not held
    (lib / "rebuild.lock").write_text("999999999")  # a build that died: its pid is gone
    assert running(lib) is None


def test_an_indexer_waits_for_an_install_but_refuses_another_indexer(photos, tmp_path):
    lib = tmp_path / "lib"
    with Library.open(lib) as library:
        library.index([photos / "chelsea.png"])
    held, done = threading.Event(), threading.Event()

    def hold(role: str) -> None:
        with WriterLock(lib).acquire(role=role):
            held.set()
            done.wait()  # released once the other side has waited, or refused

    waited: list = []
    thread = threading.Thread(target=hold, args=(INSTALL,))
    thread.start()
    held.wait()
    try:
        with Library.open(lib) as library:
            report = library.index([photos / "coffee.png"],
                                   events=IndexEvents(on_wait=lambda pid: (waited.append(pid), done.set())))
    finally:
        done.set()
        thread.join()
    assert report.embedded == 1 and waited == [os.getpid()]
    held.clear()
    done.clear()
    thread = threading.Thread(target=hold, args=("index",))
    thread.start()
    held.wait()
    try:
        with Library.open(lib) as library, pytest.raises(FrameFindError, match="another framefind index"):
            library.index([photos / "horse.png"])
    finally:
        done.set()
        thread.join()


def test_the_rest_api_and_info_say_when_a_build_runs(photos, tmp_path):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    lib = tmp_path / "lib"
    Library.open(lib).index([photos / "chelsea.png"])
    with TestClient(create_app(lib)) as client:
        assert client.get("/api/status").json()["rebuilding"] is None
        with background_build_running(lib):
            assert client.get("/api/status").json()["rebuilding"] == os.getpid()
            assert Library.open(lib).info()["rebuilding"] == os.getpid()
        assert client.get("/api/status").json()["rebuilding"] is None
