"""``framefind watch`` and ``serve --watch`` (issue #21) on real photos with the real default model.

The watcher runs as the user runs it (a child process, tests/watched.py); each test waits for what it says it saw
or did, and for searches to find (or stop finding) the files, with generous deadlines: nothing here times it.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, wait_until
from tagged_photos import xmp_packet
from watched import Watching, photos

from framefind import IndexEvents, Library
from framefind.errors import FrameFindError
from framefind.search.query import Query
from framefind.store.watch import Watcher, WatchOptions


def searchable(lib: Path, folder: Path) -> set[str]:
    """The paths under ``folder`` a search returns now: every result, its copies and its near-duplicates."""
    with Library.open(lib, create=False) as library:
        page = library.search_page(Query.of("a photo", under=(folder,), k=200, cutoff=False))
    return {p for r in page.results for p in (r.path, *r.duplicates, *(d.path for d in r.near_duplicates))}


def item_vectors(lib: Path, path: Path) -> list[dict[str, np.ndarray]]:
    """The items of the file's content, each with its vectors."""
    with Library.open(lib, create=False) as library:
        content = library.catalog.content_of(str(path))
        rows = library.catalog.db.execute(
            "SELECT i.id, v.space, v.vec FROM items i JOIN vectors v ON v.item_id = i.id WHERE i.hash = ? "
            "AND i.model = ? ORDER BY i.id", (content, library.model_id)).fetchall()
    items: dict[int, dict[str, np.ndarray]] = {}
    for item, space, vec in rows:
        items.setdefault(item, {})[space] = np.frombuffer(vec, np.float16)
    return list(items.values())


def embedded(lib: Path) -> set[tuple[str, float]]:
    """(content, when it was embedded) of every content: a re-embedding changes the time."""
    with Library.open(lib, create=False) as library:
        return set(library.catalog.db.execute("SELECT hash, at FROM embedded"))


def batches(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("indexed ")]


@pytest.mark.slow
def test_copied_photos_are_found_deleted_ones_go_a_slow_write_is_indexed_once_and_whole(tmp_path, models_ready):
    """The issue's "done when": 30 copied in are found, 10 deleted disappear, a photo written in pieces is indexed
    once and whole, and SIGINT exits 0 with no traceback."""
    inbox, lib = tmp_path / "inbox", tmp_path / "lib"
    inbox.mkdir()
    staged = photos(tmp_path / "staged", 31)
    with Watching("watch", str(inbox), "--library", str(lib), "--verbose") as watcher:
        watcher.wait_for("framefind: watching 1 folder")
        for path in staged[:30]:
            shutil.copy(path, inbox / path.name)
        copied = {str(inbox / p.name) for p in staged[:30]}
        wait_until(lambda: searchable(lib, inbox) >= copied, "the 30 copied photos in search results")

        deleted = {str(inbox / p.name) for p in staged[:10]}
        for path in deleted:
            os.unlink(path)
        wait_until(lambda: not searchable(lib, inbox) & deleted, "the 10 deleted photos gone from search results")
        assert searchable(lib, inbox) == copied - deleted

        slow, data = inbox / "slow.jpg", staged[30].read_bytes()
        with open(slow, "wb") as fh:  # each piece is written once the watcher has seen the one before
            done = 0
            for cut in (len(data) // 3, 2 * len(data) // 3, len(data)):
                fh.write(data[done:cut])
                fh.flush()
                done = cut
                watcher.wait_for(f"framefind: seen {slow} ({cut} bytes)")
        wait_until(lambda: str(slow) in searchable(lib, inbox), "the slowly written photo in search results")
        returncode, stderr = watcher.stop(signal.SIGINT)

    assert returncode == 0 and "Traceback" not in stderr, stderr
    assert stderr.rstrip().endswith("framefind: stopped watching; what was indexed is kept")
    assert stderr.count(f"  new {slow}\n") == 1 and f"  changed {slow}" not in stderr  # once
    assert "skipped" not in stderr  # no half photo was ever read (a truncated JPEG is skipped)
    plain = tmp_path / "plain"
    with Library.open(plain) as library:
        library.index([staged[30]])
    watched, whole = item_vectors(lib, slow), item_vectors(plain, staged[30])
    assert len(watched) == 1 and watched[0].keys() == whole[0].keys()  # one item, with its vectors, whole
    assert all(np.array_equal(watched[0][space], whole[0][space]) for space in whole[0])


@pytest.mark.slow
def test_polling_finds_new_and_deleted_photos_and_sigterm_stops(tmp_path, models_ready):
    inbox, lib = tmp_path / "inbox", tmp_path / "lib"
    inbox.mkdir()
    staged = photos(tmp_path / "staged", 5)
    with Watching("watch", str(inbox), "--library", str(lib), "--poll", "0.5") as watcher:
        watcher.wait_for("framefind: watching 1 folder")
        for path in staged:
            shutil.copy(path, inbox / path.name)
        wait_until(lambda: len(searchable(lib, inbox)) == 5, "5 photos found by polling")
        (inbox / staged[0].name).unlink()
        wait_until(lambda: len(searchable(lib, inbox)) == 4, "a deleted photo gone")
        returncode, stderr = watcher.stop(signal.SIGTERM)
    assert returncode == 0 and "Traceback" not in stderr, stderr


@pytest.mark.slow
def test_a_vanished_folder_is_offline_and_comes_back_without_re_embedding(tmp_path, models_ready):
    album, lib = tmp_path / "album", tmp_path / "lib"
    kept = {str(p) for p in photos(album, 5)}
    run_cli("index", str(album), "--library", str(lib), "-q")
    before = embedded(lib)
    with Watching("watch", "--library", str(lib)) as watcher:  # the library's folders
        watcher.wait_for("framefind: watching 1 folder")
        away = album.rename(tmp_path / "away")  # a disk unmounted, a NAS switched off
        watcher.wait_for(f"framefind: {album} is offline")
        with Library.open(lib, create=False) as library:  # offline, not deleted (searches show no missing file)
            assert all(library.catalog.content_of(path) for path in kept) and library.info()["files"] == 5
        beside = run_cli("index", "--library", str(lib), "-q")  # an index run beside the watcher: the same rule
        assert f"framefind: warning: {album}: offline" in beside.stderr and "0 removed" in beside.stderr
        away.rename(album)
        watcher.wait_for(f"framefind: {album} is back")
        extra = photos(tmp_path / "more", 1, skip=5)[0]
        shutil.copy(extra, album / extra.name)
        wait_until(lambda: str(album / extra.name) in searchable(lib, album), "a photo added once it is back")
        watcher.wait_for("indexed ")  # the batch's line comes once its run is over, after the search finds it
        returncode, stderr = watcher.stop()
    assert returncode == 0, stderr
    assert [line.split(" in ")[0] for line in batches(stderr)] == ["indexed 1 new, 0 changed, 0 removed"], stderr
    after = embedded(lib)
    assert before < after and len(after - before) == 1  # the 5 kept their vectors; only the new one was embedded
    assert searchable(lib, album) == kept | {str(album / extra.name)}


@pytest.mark.slow
def test_a_sidecar_after_its_picture_is_read_and_index_runs_beside_the_watcher(tmp_path, models_ready):
    inbox, lib = tmp_path / "inbox", tmp_path / "lib"
    inbox.mkdir()
    picture = photos(tmp_path / "staged", 1, prefix="IMG_7001-")[0]
    with Watching("watch", str(inbox), "--library", str(lib)) as watcher:
        watcher.wait_for("framefind: watching 1 folder")
        shutil.copy(picture, inbox / "IMG_7001.jpg")
        wait_until(lambda: str(inbox / "IMG_7001.jpg") in searchable(lib, inbox), "the picture")
        assert by_words(lib, "lighthouse keeper") == []
        (inbox / "IMG_7001.xmp").write_bytes(xmp_packet("The lighthouse keeper's lamp", ("heirloom",)))
        wait_until(lambda: by_words(lib, "lighthouse keeper") == ["IMG_7001.jpg"], "the sidecar's caption")
        watcher.wait_for("words of 1 re-read (sidecars)")
        other = tmp_path / "other"
        photos(other, 2, skip=1)
        beside = run_cli("index", str(other), "--library", str(lib), "--wait", "-q")  # the writer lock is shared
        assert "2 embedded" in beside.stderr
        returncode, stderr = watcher.stop()
    assert returncode == 0, stderr


def test_bad_input_is_one_line(tmp_path):
    lib = tmp_path / "lib"
    for args, line in [((str(tmp_path / "nope"),), f"{tmp_path / 'nope'}: no such file or directory"),
                       ((), f"{lib}: no framefind library here (run 'framefind index PATH' first)"),
                       ((str(tmp_path), "--settle", "-1"), "--settle -1: seconds, 0 or more"),
                       ((str(tmp_path), "--poll", "0"), "--poll / --poll-interval: seconds, more than 0")]:
        proc = run_cli("watch", *args, "--library", str(lib), check=False)
        assert proc.returncode == 1 and proc.stderr.strip() == f"framefind: error: {line}", proc.stderr
    assert not lib.exists()


def by_words(lib: Path, words: str) -> list[str]:
    """What the files' own words alone find."""
    with Library.open(lib, create=False) as library:
        return [Path(r.path).name for r in library.search(Query.of(words, signals=("metadata",), k=10,
                                                                    read_places=False))]


@contextmanager
def watching_here(library: Library, folder: Path, said: list[str], **options) -> Iterator[None]:
    """A Watcher of ``folder`` in a thread of this process, its lines into ``said``, watching once this is
    entered; stopped (and its thread ended) on the way out."""
    stop = threading.Event()
    watcher = Watcher(library, [str(folder)], WatchOptions(settle=0.2, **options), said.append)
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: any("framefind: watching 1 folder" in line for line in said), "watching")
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def test_a_watcher_started_on_an_empty_mount_point_deletes_nothing(tmp_path, models_ready):
    """A disk not mounted when the watcher starts leaves its mount point empty: offline, not every file deleted;
    once mounted again nothing is re-embedded."""
    album = tmp_path / "album"
    kept = photos(album, 3)
    said: list[str] = []
    with Library.open(tmp_path / "lib") as library:
        assert library.index([album]).embedded == 3
        away = album.rename(tmp_path / "disk")
        album.mkdir()
        with watching_here(library, album, said):
            assert f"framefind: {album} is offline (empty: a disk or share not mounted?); its files stay in the " \
                "library" in said
            album.rmdir()
            away.rename(album)  # mounted again
            wait_until(lambda: f"framefind: {album} is back; looking for what changed meanwhile" in said, "back")
        assert not [line for line in said if line.startswith("indexed ")]  # no batch: nothing changed
        assert all(library.catalog.content_of(str(path)) for path in kept) and library.info()["files"] == 3


def test_a_folder_emptied_while_watched_has_its_files_removed_not_kept_offline(tmp_path, models_ready):
    """Only a folder that comes (back) online empty is taken for an unmounted disk; one the user empties while it is
    watched is a folder whose photos were deleted."""
    album = tmp_path / "album"
    shots = photos(album, 2)
    said: list[str] = []
    with Library.open(tmp_path / "lib") as library:
        library.index([album])
        with watching_here(library, album, said):
            for shot in shots:
                shot.unlink()
            wait_until(lambda: library.info()["files"] == 0, "both photos removed from the library")
        assert not [line for line in said if "offline" in line]


def test_a_batch_leaves_the_index_files_and_searches_add_what_is_newer(tmp_path, models_ready):
    """The watcher's small batches do not load and write the index files again (seconds at 100k items): searches
    find the new photos exactly beside the files, and the next plain index run writes them."""
    album = tmp_path / "album"
    photos(album, 3)
    said: list[str] = []
    with Library.open(tmp_path / "lib") as library:
        library.index([album])
        written = {space: library.store.files(space) for space in library.model.spaces}
        with watching_here(library, album, said):
            for new in photos(tmp_path / "staged", 2, skip=3):
                shutil.copy(new, album / new.name)
                wait_until(lambda new=new: str(album / new.name) in searchable(tmp_path / "lib", album),
                           f"{new.name} found by a search")
        assert {space: library.store.files(space) for space in library.model.spaces} == written
        assert searchable(tmp_path / "lib", album) == {str(p) for p in album.iterdir()}
        library.index()
        generation = library.catalog.generation(library.model_id)
        assert all(library.store.files(space)[-1][0] == generation for space in library.model.spaces)


def test_a_batch_re_reads_the_words_of_what_it_moved_and_of_a_copy_whose_twin_was_deleted(tmp_path, models_ready):
    """A batch looks at its own contents' folder words only; those it touched are current: a photo moved from
    one folder to another, and a copy whose twin in another folder was deleted."""
    album = tmp_path / "album"
    moved = photos(album / "kayak", 1)[0]
    kept = photos(album / "tractor", 1, skip=1)[0]
    twin = album / "violin" / kept.name
    twin.parent.mkdir()
    shutil.copy(kept, twin)  # one content in two folders
    (album / "volcano").mkdir()
    arrived = album / "volcano" / moved.name
    said: list[str] = []

    def by_words(library: Library, words: str) -> set[str]:
        page = library.search_page(Query.of(words, signals=("metadata",), k=10, read_places=False))
        return {p for r in page.results for p in (r.path, *r.duplicates)}

    with Library.open(tmp_path / "lib") as library:
        library.index([album])
        assert str(kept) in by_words(library, "violin") and str(moved) in by_words(library, "kayak")
        with watching_here(library, album, said):
            moved.rename(arrived)
            twin.unlink()
            wait_until(lambda: str(arrived) in by_words(library, "volcano"), "the moved photo's new folder words")
            wait_until(lambda: str(kept) not in by_words(library, "violin"), "the deleted twin's folder words gone")
        assert str(arrived) not in by_words(library, "kayak") and str(kept) in by_words(library, "tractor")


def test_the_inotify_limit_is_one_line_and_watching_goes_on_by_polling(tmp_path, models_ready, monkeypatch):
    from watchdog.observers.inotify import InotifyObserver

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(InotifyObserver, "schedule", full)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    said: list[str] = []
    with Library.open(tmp_path / "lib") as library, watching_here(library, inbox, said, poll_interval=0.2):
        limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
        assert [line for line in said if "limit reached" in line] == [
            f"framefind: inotify watch limit reached (fs.inotify.max_user_watches={limit}); raise it with: sudo "
            f"sysctl fs.inotify.max_user_watches=524288 — watching {inbox} by polling instead"]
        photo = photos(inbox, 1)[0]
        wait_until(lambda: library.catalog.content_of(str(photo)) is not None, "a photo found by polling")


def test_a_copy_that_stalls_longer_than_the_settle_time_is_not_read_until_closed(tmp_path, models_ready):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = photos(tmp_path / "staged", 1)[0].read_bytes()
    target, said = inbox / "stalled.jpg", []
    with Library.open(tmp_path / "lib") as library, watching_here(library, inbox, said, verbose=True):
        with open(target, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()  # then nothing for longer than the settle time: the copy stalls
            wait_until(lambda: f"framefind: waiting for {target} to be closed (still open for writing)" in said,
                       "the watcher holding off the open file")
            fh.write(data[len(data) // 2:])
        wait_until(lambda: any(line.startswith("indexed 1 new") for line in said), "the photo indexed")
        assert library.index([target]).unchanged == 1  # what it indexed was the whole file
    assert said.count(f"  new {target}") == 1  # once, never read half (a truncated JPEG is skipped, then "changed")
    assert not [line for line in said if "skipped" in line or line.startswith("  changed")]


def test_folders_on_network_mounts_are_polled(tmp_path, models_ready, monkeypatch):
    from framefind.store import watch, watch_events

    mounts = tmp_path / "mounts"  # /proc/mounts as a NAS mount makes it
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nnas:/photos {tmp_path}/nas nfs4 rw,relatime 0 0\n"
                      f"//nas/share {tmp_path}/smb cifs rw 0 0\n")
    assert watch_events.network_fs(str(tmp_path / "nas" / "2019"), str(mounts)) == "nfs4"
    assert watch_events.network_fs(str(tmp_path / "smb"), str(mounts)) == "cifs"
    assert watch_events.network_fs(str(tmp_path / "local"), str(mounts)) is None
    monkeypatch.setattr(watch, "network_fs", lambda path: watch_events.network_fs(path, str(mounts)))
    nas = tmp_path / "nas"
    nas.mkdir()
    said: list[str] = []
    with Library.open(tmp_path / "lib") as library, watching_here(library, nas, said, poll_interval=0.2):
        assert f"framefind: {nas} is on a network file system (nfs4): polling it every 0.2 s" in said
        photo = photos(nas, 1)[0]
        wait_until(lambda: library.catalog.content_of(str(photo)) is not None, "a photo found by polling")


def inotify_watches() -> int:
    """The inotify watches this process holds (each listed in /proc/self/fdinfo of its inotify descriptor)."""
    count = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        count += sum(line.startswith("inotify wd:") for line in text.splitlines())
    return count


def test_hidden_folders_get_no_watch_and_their_photos_are_not_indexed(tmp_path, models_ready):
    root = tmp_path / "photos"
    for folder in ("a", "b/c", ".git/objects/1", ".git/objects/2", ".thumbnails/large"):
        (root / folder).mkdir(parents=True)
    said: list[str] = []
    baseline = inotify_watches()
    with Library.open(tmp_path / "lib") as library, watching_here(library, root, said):
        assert inotify_watches() - baseline == 4  # photos, a, b, b/c: none of the 5 hidden folders
        (root / ".cache" / "x").mkdir(parents=True)  # created later: hidden, no watch either
        hidden = photos(root / ".cache" / "x", 1)[0]
        (root / "d").mkdir()  # its watch comes after the hidden folder's would have
        wait_until(lambda: inotify_watches() - baseline == 5, "a watch on the new folder d")
        shown = photos(root / "d", 1, skip=1)[0]
        wait_until(lambda: library.catalog.content_of(str(shown)) is not None, "the visible photo indexed")
        assert inotify_watches() - baseline == 5 and library.catalog.content_of(str(hidden)) is None


def test_serve_watch_shows_new_photos_in_the_web_app(tmp_path, models_ready):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    album, lib = tmp_path / "album", tmp_path / "lib"
    photos(album, 2)
    with Library.open(lib) as library:
        library.index([album])
    app = create_app(lib, watch=WatchOptions(settle=0.2))
    with TestClient(app) as client:
        new = photos(tmp_path / "staged", 1, skip=2)[0]
        shutil.copy(new, album / "new.jpg")

        def found() -> bool:
            body = client.get("/api/search", params={"q": "a photo", "all": "true", "k": 50}).json()
            return str(album / "new.jpg") in {p for r in body["results"] for p in (
                r["path"], *r["duplicates"], *(d["path"] for d in r["near_duplicates"]))}
        wait_until(found, "the new photo in the web app's search")


def test_index_keeps_an_offline_folder_and_does_not_make_roots_of_what_is_inside_one(tmp_path, models_ready):
    album = tmp_path / "album"
    shots = photos(album, 3)
    (album / "sub").mkdir()
    inner = photos(album / "sub", 1, skip=3)[0]
    with Library.open(tmp_path / "lib") as library:
        assert library.index([album]).embedded == 4
        away = album.rename(tmp_path / "away")
        offline = library.index()
        assert offline.offline == [str(album)] and offline.removed == 0 and library.info()["files"] == 4
        away.rename(album)
        back = library.index()
        assert (back.embedded, back.unchanged, back.removed, back.offline) == (0, 4, 0, [])
        album.rename(away)  # unmounted: the mount point stays, empty
        album.mkdir()
        warned: list[tuple[str, str]] = []
        empty = library.index(events=IndexEvents(on_warning=lambda path, why: warned.append((path, why))))
        assert (empty.removed, empty.offline, library.info()["files"]) == (0, [str(album)], 4)
        assert warned == [(str(album), "offline (empty: a disk or share not mounted?); its files stay in the library "
                                       "until it is back")]
        album.rmdir()
        away.rename(album)
        assert library.index().unchanged == 4
        inner.unlink()
        assert library.index([album / "sub"]).removed == 1  # a folder inside the album: not a root of its own
        shots[0].unlink()
        assert library.index([shots[0]]).removed == 1  # a file gone from a folder that is there: deleted
        (album / "sub").rmdir()
        assert library.index([album / "sub"]).removed == 0  # a vanished folder with nothing known in it
        assert library.roots() == [str(album)]
        with pytest.raises(FrameFindError, match="no such file or directory"):
            library.index([tmp_path / "never-there"])
