"""Concurrent use of one library: readers in threads and processes beside a real indexer process, a
second indexer, and a writer killed in the middle of an index rebuild.

The other writer is ``framefind index`` stopped at a chosen step (tests/paused_cli.py): what must happen
while it runs happens while it is certainly running, on any machine, fast or slow."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from conftest import grow_library, run_cli, wait_until, write_fashion_pngs
from paused_cli import PausedIndex

from framefind import Library

QUERIES = ["a pair of sneakers", "a leather handbag", "a summer dress", "a wool coat", "trousers"]
READERS = 8
SEARCHES_WHILE_PAUSED = 5  # per reader thread: 40 in all, as many as the test asked for before it was timed


@pytest.mark.slow
def test_eight_threads_and_other_processes_search_while_an_indexer_adds_and_deletes(tmp_path, models_ready):
    photos = tmp_path / "photos"
    paths = write_fashion_pngs(photos, 1500)
    staged = tmp_path / "staged"
    staged.mkdir()
    for path in paths[300:]:  # the indexer will find these as new files
        path.rename(staged / path.name)
    lib = tmp_path / "lib"
    run_cli("index", str(photos), "--library", str(lib), "-q")
    deleted = paths[:100]
    for path in deleted:
        path.unlink()
    for path in paths[300:]:
        (staged / path.name).rename(path)
    probes = [paths[150], paths[250]]

    errors: list[str] = []
    seen: set[str] = set()
    searches = [0] * READERS  # each reader's count
    library = Library.open(lib, create=False)  # one library object shared by every thread, as a server has
    stop = threading.Event()

    def reader(number: int) -> None:
        while not stop.is_set():
            try:
                if number % 2:
                    results = library.search(QUERIES[number % len(QUERIES)], k=10)
                else:
                    results = library.search(image=probes[number % 4 // 2], k=10)
                for result in results:
                    if not os.path.exists(result.path):
                        errors.append(f"not a live file: {result.path}")
                    seen.add(result.path)
            except Exception as exc:  # noqa: BLE001 - any error at all fails the test
                errors.append(f"{type(exc).__name__}: {exc}")
            searches[number] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    with PausedIndex("files:600", str(photos), "--library", str(lib), "-q") as writer:
        for thread in threads:
            thread.start()
        writer.paused()  # 600 of the 1,200 new files in, 18 batches committed; the writer holds the library
        before = list(searches)
        wait_until(lambda: all(now - then >= SEARCHES_WHILE_PAUSED
                               for now, then in zip(searches, before, strict=True)),
                   "every reader searching while the indexer holds the library")
        new_seen = seen & {str(p) for p in paths[300:]}
        cli_runs = [run_cli("search", "a handbag", "--library", str(lib), "--json", check=False)
                    for _ in range(3)]  # separate reader processes too, while the indexer holds the library
        writer.go()
        returncode, stderr = writer.finish(timeout=300)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert returncode == 0, stderr
    assert not errors, errors[:5]
    assert all(proc.returncode == 0 and "Traceback" not in proc.stderr for proc in cli_runs), cli_runs
    assert new_seen, "searches during the run should see newly committed batches"
    final = library.search(image=paths[1000], k=1)[0]
    assert final.path == str(paths[1000])
    assert not {r.path for q in QUERIES for r in library.search(q, k=50)} & {str(p) for p in deleted}
    library.close()


@pytest.mark.slow
def test_a_second_indexer_refuses_in_one_line_or_waits(tmp_path, models_ready):
    write_fashion_pngs(tmp_path / "photos", 1200)
    lib = tmp_path / "lib"
    with PausedIndex("files:1", str(tmp_path / "photos"), "--library", str(lib), "-q") as first:
        first.paused()  # it holds the writer lock ("PID ROLE" in writer.lock) until told to go on
        second = run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q", check=False)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert second.stderr.strip().splitlines() == [
            f"framefind: error: {lib}: another framefind index (pid {first.pid}) is updating this library; "
            "wait for it to finish, or run again with --wait"]
        waiting = subprocess.Popen([sys.executable, "-m", "framefind", "index", str(tmp_path / "photos"), "--library",
                                    str(lib), "-q", "--wait"], stderr=subprocess.PIPE, text=True)
        told = waiting.stderr.readline()  # said before it waits: the first run cannot end before this line
        first.go()
        returncode, stderr = first.finish(timeout=300)
        _, rest = waiting.communicate(timeout=300)
    assert returncode == 0, stderr
    assert f"waiting for another index run (pid {first.pid})" in told and waiting.returncode == 0, told + rest
    assert "1200 files: 0 embedded" in rest and "1200 unchanged" in rest


@pytest.mark.slow
@pytest.mark.parametrize("step", ["build:1", "build:2"], ids=["as-the-first-space-builds", "as-the-second-builds"])
def test_kill_9_during_an_index_rebuild_leaves_a_consistent_library(tmp_path, models_ready, step):
    """Killed as the first space's build begins (old files only), or as the second begins (one space's
    new file in, the other's not yet)."""
    paths = write_fashion_pngs(tmp_path / "photos", 200)
    lib = tmp_path / "lib"
    run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q")
    grow_library(lib, 12_000)
    with PausedIndex(step, "--library", str(lib), "--index-type", "hnsw", "-q") as writer:
        writer.paused()  # the rebuild has begun and cannot end: it waits for a line that never comes
        writer.signal(signal.SIGKILL)
        returncode, stderr = writer.finish(timeout=60)
    assert returncode == -signal.SIGKILL
    assert stderr.count("framefind: building the") == int(step[-1]) and "hnsw" in stderr, stderr

    with Library.open(lib, create=False) as library:  # readers: the old files, or the catalog, never a crash
        hit = library.search(image=paths[42], k=3)[0]
        assert hit.path == str(paths[42]) and hit.score == pytest.approx(1.0, abs=1e-3)
        assert library.info()["items"] == 12_000
    resumed = run_cli("index", "--library", str(lib), "-q", timeout=600)
    assert "0 embedded" in resumed.stderr
    with Library.open(lib, create=False) as library:
        assert library.info()["index_files"] == {"visual": "hnsw", "semantic": "hnsw"}
        assert not [p.name for p in library.store.directory.iterdir() if p.name.endswith(".tmp")]
        for space in library.model.spaces:
            view = library.store.view(space)
            assert view.delta is None and not len(view.removed) and view.base.count() == 12_000
        assert library.search(image=paths[42], k=1)[0].path == str(paths[42])
    shutil.rmtree(tmp_path / "photos")
