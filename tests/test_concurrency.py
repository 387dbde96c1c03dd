"""Concurrent use of one library: readers in threads and processes beside a real indexer process, a
second indexer, and a writer killed in the middle of an index rebuild."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import grow_library, run_cli, write_fashion_pngs

from framefind import Library

QUERIES = ["a pair of sneakers", "a leather handbag", "a summer dress", "a wool coat", "trousers"]


def _indexer(photos: Path, lib: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "framefind", "index", str(photos), "--library", str(lib), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


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
    searches = [0]
    library = Library.open(lib, create=False)  # one library object shared by every thread, as a server has
    writer = _indexer(photos, lib, "-q")
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
                searches[0] += 1
            except Exception as exc:  # noqa: BLE001 - any error at all fails the test
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    cli_runs = []
    while writer.poll() is None and len(cli_runs) < 3:  # separate reader processes too
        cli_runs.append(run_cli("search", "a handbag", "--library", str(lib), "--json", check=False))
    _, stderr = writer.communicate(timeout=300)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert writer.returncode == 0, stderr
    assert not errors, errors[:5]
    assert searches[0] >= 40, searches[0]
    assert all(proc.returncode == 0 and "Traceback" not in proc.stderr for proc in cli_runs), cli_runs
    assert seen & {str(p) for p in paths[300:]}, "searches during the run should see newly committed batches"
    final = library.search(image=paths[1000], k=1)[0]
    assert final.path == str(paths[1000])
    assert not {r.path for q in QUERIES for r in library.search(q, k=50)} & {str(p) for p in deleted}
    library.close()


@pytest.mark.slow
def test_a_second_indexer_refuses_in_one_line_or_waits(tmp_path, models_ready):
    write_fashion_pngs(tmp_path / "photos", 1200)
    lib = tmp_path / "lib"
    first = _indexer(tmp_path / "photos", lib, "-q")
    lock = lib / "writer.lock"  # holds "PID ROLE"
    _wait_for(lambda: lock.exists() and lock.read_text().split()[:1] == [str(first.pid)])
    second = run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q", check=False)
    assert first.poll() is None, "the first indexer must still be running for this test to mean anything"
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines() == [
        f"framefind: error: {lib}: another framefind index (pid {first.pid}) is updating this library; "
        "wait for it to finish, or run again with --wait"]
    waiting = run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q", "--wait")
    assert first.wait(timeout=120) == 0
    assert f"waiting for another index run (pid {first.pid})" in waiting.stderr
    assert "1200 files: 0 embedded" in waiting.stderr and "1200 unchanged" in waiting.stderr


@pytest.mark.slow
def test_kill_9_during_an_index_rebuild_leaves_a_consistent_library(tmp_path, models_ready):
    paths = write_fashion_pngs(tmp_path / "photos", 200)
    lib = tmp_path / "lib"
    run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q")
    grow_library(lib, 12_000)
    writer = subprocess.Popen([sys.executable, "-m", "framefind", "index", "--library", str(lib), "--index-type",
                               "hnsw", "-q"], stderr=subprocess.PIPE, text=True)
    line = writer.stderr.readline()  # "building the visual index (hnsw, ...)": the rebuild has begun
    assert "building the" in line and "hnsw" in line, line
    time.sleep(1.0)
    assert writer.poll() is None, "the rebuild must still be running for this test to mean anything"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)

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
