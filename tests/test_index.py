"""Incremental indexing, moves, edits, deletions, bad input, and crash/interrupt recovery."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, skimage_data, write_fashion_pngs
from paused_cli import PausedIndex
from PIL import Image

from framefind import Library, Query

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "camera.png", "astronaut.png"]


def _photos(target: Path, names=PHOTOS) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(skimage_data() / name, target / name)
    return target


def _consistent(library: Library) -> int:
    """Assert catalog and FAISS agree exactly (each item once in every space); return the item count."""
    db = library.catalog.db
    items = {r[0] for r in db.execute("SELECT id FROM items")}
    duplicated = "SELECT COUNT(*) FROM (SELECT hash FROM items GROUP BY hash HAVING COUNT(*) > 1)"
    assert db.execute(duplicated).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM contents WHERE hash NOT IN (SELECT hash FROM files)").fetchone()[0] == 0
    for space in library.model.spaces:
        view = library.store.view(space)
        ids = view.base.ids()
        assert view.delta is None and not len(view.removed), "index files are current after an index run"
        assert len(ids) == len(set(ids.tolist())) == len(items) and set(ids.tolist()) == items
        assert set(library.catalog.vector_ids(library.model_id, space).tolist()) == items
    return len(items)


def test_incremental_add_edit_delete_move(tmp_path):
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        first = library.index([photos])
        assert (first.scanned, first.embedded, first.failed) == (6, 6, 0)

        again = library.index([photos])
        assert (again.embedded, again.unchanged, again.linked, again.removed) == (0, 6, 0, 0)

        shutil.copy(skimage_data() / "motorcycle_left.png", photos / "bike.png")
        added = library.index([photos])
        assert (added.embedded, added.unchanged) == (1, 6)
        assert Path(library.search("a motorcycle", k=1, cutoff=False)[0].path).name == "bike.png"

        # Edit: same name, new content (and mtime) -> re-embedded, old vectors gone.
        Image.open(skimage_data() / "coffee.png").save(photos / "horse.png")
        written = (photos / "horse.png").stat()  # a second later than that: an mtime no filesystem rounds away
        os.utime(photos / "horse.png", ns=(written.st_atime_ns, written.st_mtime_ns + 10**9))
        edited = library.index([photos])
        assert (edited.embedded, edited.unchanged) == (1, 6)
        pictures = Query.of("a horse", k=1, cutoff=False, signals=("visual",))  # its name still says horse
        assert Path(library.search(pictures)[0].path).name != "horse.png"

        # Move + rename into a subfolder: linked by content hash, never re-embedded.
        (photos / "pets").mkdir()
        (photos / "chelsea.png").rename(photos / "pets" / "my cat.png")
        moved = library.index([photos])
        assert (moved.embedded, moved.linked, moved.removed) == (0, 1, 1)
        top = library.search("a cat", k=1, cutoff=False)[0]
        assert top.path == str(photos / "pets" / "my cat.png") and not top.duplicates

        # Delete: dropped from results and from the index on the next run.
        (photos / "rocket.jpg").unlink()
        deleted = library.index()  # no paths: re-index every known root
        assert (deleted.removed, deleted.embedded) == (1, 0)
        assert all(Path(r.path).name != "rocket.jpg" for r in library.search("a rocket", k=10, cutoff=False))
        assert _consistent(library) == 6


def test_second_root_leaves_the_first_alone(tmp_path):
    a = _photos(tmp_path / "a", PHOTOS[:3])
    b = _photos(tmp_path / "b", PHOTOS[3:])
    with Library.open(tmp_path / "lib") as library:
        library.index([a])
        report = library.index([b])
        assert (report.embedded, report.removed) == (3, 0)
        assert library.info()["files"] == 6 and library.catalog.roots() == sorted([str(a), str(b)])


def _png_with_size(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header claims a huge image (a decompression bomb), with valid CRCs."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_bad_files_are_reported_one_line_each_and_leave_the_index_intact(tmp_path, models_ready):
    photos = _photos(tmp_path / "photos", PHOTOS[:3])
    lib = tmp_path / "lib"
    run_cli("index", str(photos), "--library", str(lib), "-q")
    with Library.open(lib) as library:
        before = [(r.path, r.score) for r in library.search("a cup of coffee", k=3, cutoff=False)]

    jpeg = (skimage_data() / "rocket.jpg").read_bytes()
    bad = {
        "empty.jpg": ("write", b""),
        "truncated.jpg": ("write", jpeg[: len(jpeg) // 3]),
        "notes.png": ("write", b"just some text, not an image\n" * 20),
        "noise.gif": ("write", os.urandom(4096)),
        "bomb.png": ("bomb", None),
    }
    for name, (how, data) in bad.items():
        _png_with_size(photos / name, 40000, 40000) if how == "bomb" else (photos / name).write_bytes(data)
    os.mkfifo(photos / "pipe.jpg")  # must be skipped, not opened (opening a FIFO blocks)
    shutil.copy(skimage_data() / "horse.png", photos / "horse.png")

    proc = run_cli("index", str(photos), "--library", str(lib), "-q", timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("framefind: skipped")]
    assert len(lines) == len(bad), proc.stderr
    reasons = {"empty.jpg": "empty file", "truncated.jpg": "truncated", "notes.png": "not a readable image",
               "noise.gif": "not a readable image", "bomb.png": "image too large"}
    for name, reason in reasons.items():
        assert any(str(photos / name) in line and reason in line for line in lines), (name, lines)
    assert f"{len(bad)} failed" in proc.stderr and "1 embedded" in proc.stderr and "Traceback" not in proc.stderr

    with Library.open(lib) as library:
        after = [(r.path, r.score) for r in library.search("a cup of coffee", k=10, cutoff=False)]
        assert [hit for hit in after if not hit[0].endswith("horse.png")] == before
        info = library.info()
        assert (info["files"], info["failed"]) == (4, len(bad))
        assert _consistent(library) == 4
        rerun = library.index([photos])  # failed files are not retried until they change
        assert (rerun.failed, rerun.unchanged, rerun.embedded) == (0, 4 + len(bad), 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    photos = _photos(tmp_path / "photos", PHOTOS[:2])
    (photos / "chelsea.png").chmod(0)
    with Library.open(tmp_path / "lib") as library:
        report = library.index([photos])
        assert report.failed == 1 and "permission denied" in report.errors[0][1]


def _committed_files(lib: Path) -> int:
    try:
        with sqlite3.connect(f"file:{lib / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_interrupted_indexing_resumes_without_loss_or_duplicates(tmp_path, models_ready, how):
    n = 1500
    write_fashion_pngs(tmp_path / "photos", n)
    lib = tmp_path / "lib"
    with PausedIndex("files:100", str(tmp_path / "photos"), "--library", str(lib), "-q") as proc:
        proc.paused()  # 100 files through, 96 of them committed (batches of 32); the run cannot end before the signal
        proc.signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
        returncode, stderr = proc.finish(timeout=60)
    committed = _committed_files(lib)
    assert 0 < committed < n, "the run must be stopped part-way for this test to mean anything"
    if how == "ctrl-c":
        assert returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr

    resumed = run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q")
    assert f"{n - committed} embedded" in resumed.stderr and f"{committed} unchanged" in resumed.stderr
    with Library.open(lib) as library:
        assert library.info()["files"] == n and _consistent(library) == n
        probe = sorted((tmp_path / "photos").iterdir())[7]
        assert library.search(image=probe, k=1)[0].path == str(probe)


def test_index_files_survive_deletion_and_staleness(tmp_path):
    """The FAISS files are derived data: deleting them or leaving an old one behind changes no result."""
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        index_dir = library.store.directory
        expected = [(r.path, r.score) for r in library.search("a rocket", k=6, cutoff=False)]
        stale = {p.name: p.read_bytes() for p in index_dir.iterdir()}
        (photos / "rocket.jpg").unlink()
        library.index([photos])
    for name, data in stale.items():  # an index file from before the deletion, as after a crash
        (index_dir / name).write_bytes(data)
    for path in index_dir.glob("*.faiss"):
        if path.name not in stale:
            path.unlink()
    remaining = [hit for hit in expected if "rocket" not in hit[0]]
    with Library.open(tmp_path / "lib") as library:
        found = [(r.path, r.score) for r in library.search("a rocket", k=6, cutoff=False)]
        assert found == remaining  # deleted id masked
        assert sorted(p.name for p in index_dir.iterdir()) == sorted(stale)  # a search never writes
        assert library.index().removed == 0  # the writer brings the files up to date
        assert _consistent(library) == 5
    shutil.rmtree(tmp_path / "lib" / "index")
    with Library.open(tmp_path / "lib") as library:
        scores = [r.score for r in library.search("a rocket", k=5, cutoff=False)]
        assert np.allclose(scores, [hit[1] for hit in remaining])


def test_copies_of_a_broken_file_fail_with_it_and_copies_of_a_good_one_are_linked(tmp_path):
    """One file of a run decodes a content, its copies wait for it: a copy of a truncated JPEG must fail
    as the original does (not be recorded as linked to content that never got in), whichever copy the
    decode threads reach first."""
    folder = tmp_path / "photos"
    folder.mkdir()
    whole = (skimage_data() / "rocket.jpg").read_bytes()
    for i in range(6):
        (folder / f"broken-{i}.jpg").write_bytes(whole[: len(whole) // 3])
        shutil.copy(skimage_data() / "chelsea.png", folder / f"cat-{i}.png")
    with Library.open(tmp_path / "lib") as library:
        report = library.index([folder])
        assert (report.embedded, report.linked, report.failed) == (1, 5, 6)
        rows = library.catalog.db.execute("SELECT path, status, hash IN (SELECT hash FROM contents) FROM files "
                                          "ORDER BY path").fetchall()
        assert [(Path(p).name.split("-")[0], status, known) for p, status, known in rows] == \
            [("broken", "failed", 0)] * 6 + [("cat", "ok", 1)] * 6
        again = library.index([folder])
        assert (again.embedded, again.linked, again.failed, again.unchanged) == (0, 0, 0, 12)
