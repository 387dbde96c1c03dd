"""Indexing on a Ray cluster (store/ray_index.py), on a real local cluster: a head and a second node, each a
`ray start` process on 127.0.0.1 with one CPU. The library is the one a plain index makes; the tasks ran on the
cluster; a worker killed mid-run loses nothing and duplicates nothing; a file a node cannot read is one line;
without Ray, one line naming the extra."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_photos, run_cli, skimage_data, wait_until
from ray_cluster import Cluster, alive, free_port
from test_workers import catalog_state

from framefind import FrameFindError, IndexEvents, Library
from framefind.media.files import FileStat, scan
from framefind.store import indexer, ray_index

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'framefind[ray]')")

QUERIES = ["a cat", "a rocket", "a cup of coffee", "a horse"]


def test_tasks_keep_copies_together_balance_and_end_at_videos():
    todo = [FileStat(f"/m/{i}.jpg", size, 0, "image") for i, size in enumerate([500, 100, 500, 300, 200, 100])]
    todo.insert(3, FileStat("/m/clip.mp4", 9000, 0, "video"))
    tasks = [[Path(s.path).name for s in task] for task in ray_index.split_tasks(todo, 3)]
    assert tasks == [["0.jpg", "2.jpg", "1.jpg", "5.jpg"], ["clip.mp4"], ["3.jpg", "4.jpg"]]
    same = [FileStat(f"/m/{i}.bmp", 1000, 0, "image") for i in range(7)]  # more of one size than a task holds
    assert [len(task) for task in ray_index.split_tasks(same, 3)] == [3, 3, 1]


def test_without_ray_or_an_address_it_is_one_line(tmp_path, monkeypatch):
    """Runs before the cluster fixture joins this process to the cluster: a process joined already uses its
    connection, whatever the address."""
    assert not ray.is_initialized()
    (tmp_path / "media").mkdir()
    shutil.copy(skimage_data() / "horse.png", tmp_path / "media")
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(FrameFindError, match=rf"^--ray {nobody}: no Ray cluster answers there \(Connection refused\)$"):
        Library.open(tmp_path / "lib").index([tmp_path / "media"], ray=nobody)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(FrameFindError, match=r"^--ray auto: RAY_ADDRESS is not set"):
        Library.open(tmp_path / "lib").index([tmp_path], ray="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import ray fails
    with pytest.raises(FrameFindError) as caught:
        Library.open(tmp_path / "lib").index([tmp_path], ray="127.0.0.1:6379")
    assert str(caught.value) == "--ray needs the ray extra: pip install 'framefind[ray]'"


@pytest.fixture(scope="module")
def cluster():
    nodes = Cluster()
    try:
        ray.init(address=nodes.address, log_to_driver=False, logging_level="WARNING")
        wait_until(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, "both Ray nodes to join")
        yield nodes
    finally:
        ray.shutdown()
        nodes.stop()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Photos, a copy of one, a truncated JPEG and an empty file."""
    folder = copy_photos(tmp_path_factory.mktemp("ray") / "media", n_wallpapers=6)
    shutil.copy(folder / "chelsea.png", folder / "chelsea-copy.png")
    whole = next(folder.glob("wallpaper*.jpg")).read_bytes()
    (folder / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def index(library_dir: Path, media: Path, ray_address: str | None = None, **callbacks) -> tuple:
    errors: list = []
    with Library.open(library_dir) as library:
        events = IndexEvents(on_error=lambda path, reason: errors.append((path, reason)), **callbacks)
        report = library.index([media], events=events, ray=ray_address)
        state = catalog_state(library)
        state["top"] = {q: [(Path(r.path).name, r.start) for r in library.search(q, k=6, cutoff=False)]
                        for q in QUERIES}
    return report, state, errors


def assert_same_library(mine: dict, theirs: dict) -> None:
    assert mine["files"] == theirs["files"]
    assert mine["items"].keys() == theirs["items"].keys()
    for content, rows in theirs["items"].items():
        assert [r[:3] for r in mine["items"][content]] == [r[:3] for r in rows]  # each item once
        for a, b in zip(mine["items"][content], rows, strict=True):
            np.testing.assert_allclose(a[3], b[3], atol=1e-5)
    assert mine["top"] == theirs["top"]


def test_ray_makes_the_library_a_plain_index_makes(cluster, media, tmp_path):
    plain, alone, plain_errors = index(tmp_path / "plain", media)
    on_ray, shared, errors = index(tmp_path / "ray", media, cluster.address)
    files = len(list(media.iterdir()))
    assert (on_ray.scanned, on_ray.embedded, on_ray.linked, on_ray.failed) == (files, files - 3, 1, 2)
    assert (plain.embedded, plain.linked, plain.failed) == (on_ray.embedded, on_ray.linked, on_ray.failed)
    assert on_ray.workers == 2 and on_ray.on_ray and not on_ray.interrupted  # the cluster's CPU slots
    assert sorted(errors) == sorted(plain_errors)  # the same lines: nothing node-specific in a bad file
    assert_same_library(shared, alone)
    tasks = len(list(ray_index.split_tasks(list(scan([str(media)])))))

    def finished() -> set:  # task events reach the cluster's store a moment after each task ends
        events = [e for e in ray.timeline() if e.get("cat") == "task::embed_files"]
        return {e["args"]["task_id"] for e in events}, {e["tid"] for e in events}

    wait_until(lambda: len(finished()[0]) >= tasks, f"{tasks} embed_files tasks in the cluster's timeline")
    assert len(finished()[1]) >= 2  # two worker processes (one per node) ran them
    again = Library.open(tmp_path / "ray").index([media], ray=cluster.address)
    assert (again.embedded, again.linked, again.unchanged) == (0, 0, files)
    assert not again.on_ray  # nothing to embed: the cluster was not joined


def test_vectors_reach_milvus_as_after_a_plain_index(cluster, media, tmp_path):
    """The coordinator commits; the library's vector store (here Milvus Lite) is filled from the catalog after."""
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    _, alone, _ = index(tmp_path / "plain", media)
    with Library.open(tmp_path / "milvus", backend="milvus") as library:
        report = library.index([media], ray=cluster.address)
        assert library.info()["backend"].startswith("milvus") and report.embedded == len(alone["items"])
        top = {q: [(Path(r.path).name, r.start) for r in library.search(q, k=6, cutoff=False)] for q in QUERIES}
    assert top == alone["top"]


def test_the_text_and_faces_passes_read_on_the_cluster(cluster, tmp_path):
    """OCR and faces read the files on the workers; the coordinator embeds the texts, commits, groups people: the
    same texts and faces a plain run finds."""
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("page.png", "astronaut.png", "coffee.png"):
        shutil.copy(skimage_data() / name, folder)

    def read(library_dir: Path, ray_address: str | None) -> tuple:
        with Library.open(library_dir) as library:
            report = library.index([folder], ocr=True, faces=True, ray=ray_address)
            db = library.catalog.db
            texts = db.execute("SELECT hash, source, start, end, text, vec FROM texts ORDER BY hash, id").fetchall()
            faces = db.execute("SELECT hash, at, x, y, w, h, score, vec FROM faces ORDER BY hash, x").fetchall()
        return report.enrichment.done, report.faces.faces, texts, faces

    plain, plain_faces, texts, faces = read(tmp_path / "plain", None)
    on_ray, ray_faces, ray_texts, ray_found = read(tmp_path / "ray", cluster.address)
    assert on_ray == plain == {"ocr": 3} and ray_faces == plain_faces >= 1  # the astronaut
    assert ray_texts == texts and any("segmentation" in row[4].lower() for row in texts)  # page.png's words
    assert [row[:6] for row in ray_found] == [row[:6] for row in faces]
    for mine, theirs in zip(ray_found, faces, strict=True):
        np.testing.assert_allclose(np.frombuffer(mine[7], np.float32), np.frombuffer(theirs[7], np.float32),
                                   atol=1e-5)

    def tasks() -> int:  # task events reach the cluster's store a moment after each task ends
        return len({e["args"]["task_id"] for e in ray.timeline() if e.get("cat") == "task::read_files"})

    wait_until(lambda: tasks() >= 2, "read_files tasks (ocr, faces) in the cluster's timeline")


def test_a_worker_killed_mid_run_is_retried_elsewhere(cluster, media, tmp_path, monkeypatch):
    # A task per file: the run is still going at the kill, and chelsea.png and its copy go to two tasks, both
    # decoded; the coordinator links the second (nothing duplicated).
    monkeypatch.setattr(ray_index, "TASK_FILES", 1)
    killed: list[int] = []

    def kill_one(done: float, total: int) -> None:  # after a result came back: kill a worker inside a task
        if not killed and done < total:
            for pid in cluster.workers_running("embed_files")[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    report, state, _ = index(tmp_path / "killed", media, cluster.address, progress=kill_one)
    assert killed, "no worker was inside a task when results came back"
    wait_until(lambda: not alive(killed[0]), "the killed worker to be gone")
    files = len(list(media.iterdir()))
    assert not report.interrupted
    assert (report.embedded, report.linked, report.failed) == (files - 3, 1, 2)  # every file exactly once
    _, alone, _ = index(tmp_path / "plain", media)
    assert_same_library(state, alone)


def test_a_file_a_node_cannot_read_is_one_line_and_the_run_goes_on(cluster, media, tmp_path, monkeypatch):
    """The coordinator sees the file; the nodes do not (here: it is gone once planned, as on a node whose
    mount lacks it)."""
    folder = tmp_path / "media"
    shutil.copytree(media, folder)
    victim = folder / "coffee.png"
    planned = indexer.plan

    def plan_then_unmount(*args, **kwargs):
        result = planned(*args, **kwargs)
        victim.unlink()
        return result

    monkeypatch.setattr(indexer, "plan", plan_then_unmount)
    report, _, errors = index(tmp_path / "lib", folder, cluster.address)
    unreadable = [(path, reason) for path, reason in errors if path == str(victim)]
    assert len(unreadable) == 1
    reason = unreadable[0][1]
    assert reason.startswith("cannot read (No such file or directory) on node ") and "\n" not in reason
    files = len(list(media.iterdir()))
    assert (report.embedded, report.linked, report.failed) == (files - 4, 1, 3)  # the others all went in


def test_the_cli_joins_the_cluster_by_address_or_ray_address(cluster, media, tmp_path, monkeypatch):
    proc = run_cli("index", str(media), "--library", str(tmp_path / "cli"), "-q", "--ray", cluster.address)
    assert "1 moved/copied" in proc.stderr and "2 failed" in proc.stderr
    assert "files/s, on the Ray cluster's 2 CPUs)" in proc.stderr
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    auto = run_cli("index", str(media / "horse.png"), "--library", str(tmp_path / "auto"), "-q", "--ray", "auto")
    assert "1 embedded" in auto.stderr
    both = run_cli("index", str(media), "--library", str(tmp_path / "both"), "--ray", "auto", "-w", "2", check=False)
    assert both.returncode == 1
    assert both.stderr.strip() == ("framefind: error: --ray and --workers: one or the other (Ray runs its own "
                                   "workers)")


def test_the_rest_api_indexes_on_the_servers_cluster(cluster, media, tmp_path):
    """serve --ray: index runs started from the API (and so the web app's Re-index) run on the cluster."""
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    with Library.open(tmp_path / "lib") as library:
        library.index([media / "horse.png"])
    with TestClient(create_app(tmp_path / "lib", ray=cluster.address)) as client:
        assert client.get("/api/status").json()["ray"] == cluster.address
        assert client.get("/api/watching").json() is None  # not served with --watch
        assert client.post("/api/index", json={"paths": [str(media)]}).status_code == 202
        assert client.get("/api/status").json()["index"]["on_ray"] is True
        wait_until(lambda: not client.get("/api/status").json()["index"]["running"], "the index run to finish")
        index = client.get("/api/status").json()["index"]
        files = len(list(media.iterdir()))
        assert index["error"] is None and index["on_ray"] is True
        assert (index["report"]["embedded"], index["report"]["workers"]) == (files - 4, 2)  # horse.png was in
        both = client.post("/api/index", json={"ray": True, "workers": 2})
        assert both.status_code == 400 and both.json() == {"error": "--ray and --workers: one or the other (Ray "
                                                                     "runs its own workers)"}
