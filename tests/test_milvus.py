"""A library whose vector indexes live in Milvus: Milvus Lite (a file) and a real Milvus 2.3.5 server.

Real photos (scikit-image), the real model, real SQLite, real Milvus; each library is compared with a
FAISS library of the same folder: the same results, the same filters, after deletions, after
migrating both ways. The server is the session's one (tests/milvus_helpers.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_json, grow_library, run_cli, skimage_data
from milvus_helpers import lite_uri, server_uri
from typer.testing import CliRunner

from framefind import FrameFindError, IndexEvents, Library
from framefind.interfaces.cli import app
from framefind.search.query import Query
from framefind.store.remote import MilvusStore
from framefind.store.vectors.milvus import MilvusIndex
from framefind.store.vectors.milvus_connection import TOKEN_ENV, release

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "camera.png", "astronaut.png", "coins.png",
          "motorcycle_left.png"]
TEXTS = ["a cup of coffee", "a cat", "a rocket", "a horse", "a motorcycle"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("milvus-photos") / "photos"
    (root / "animals").mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(skimage_data() / name, root / ("animals" if name in ("chelsea.png", "horse.png") else "") / name)
    return root


def answers(library: Library, photos: Path) -> list:
    """Every query this file compares: words, an example image, and the filters (folder, kind, label)."""
    queries = [Query.of(text, k=5, cutoff=False) for text in TEXTS]
    queries += [Query.of(image=photos / "rocket.jpg", k=5), Query.of("a cup of coffee", k=5, cutoff=False,
                                                                      under=(photos / "animals",)),
                Query.of("a cat", kinds=("video",)), Query.of("an animal", k=5, labels=("cat",))]
    return [[(Path(r.path).name, round(r.score, 3)) for r in library.search(q)] for q in queries]


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory, models_ready) -> list:
    with Library.open(tmp_path_factory.mktemp("faiss-lib") / "lib") as library:
        library.index([photos])
        return answers(library, photos)


@pytest.fixture(scope="module", params=["lite", "server"])
def target(request, tmp_path_factory) -> str:
    """A Milvus URI: a Lite file, or the session's server."""
    if request.param == "lite":
        return lite_uri(tmp_path_factory.mktemp("lite"), "vectors.db")
    return server_uri(tmp_path_factory)


def test_a_milvus_library_answers_as_the_faiss_one(target, photos, reference, tmp_path, models_ready):
    """Index with --backend milvus, search by words and by image, with every kind of filter; then the
    library remembers its backend, a deleted file leaves the collection, and migrating to FAISS and back
    changes no answer."""
    lib = tmp_path / "lib"
    with Library.open(lib, backend="milvus", uri=target) as library:
        assert library.index([photos]).embedded == len(PHOTOS)
        assert isinstance(library.store, MilvusStore) and library.info()["backend"] == f"milvus at {target}"
        assert library.info()["index_files"] == {"visual": "flat", "semantic": "flat"}
        assert answers(library, photos) == reference
        assert reference[0][0][0] == "coffee.png" and [n for n, _ in reference[6]] == ["chelsea.png", "horse.png"]
        assert reference[7] == [] and [n for n, _ in reference[8]] == ["chelsea.png"]
        (photos / "coins.png").rename(tmp_path / "coins.png")  # deleted, then re-indexed
        try:
            assert library.index().removed == 1
            for space in ("visual", "semantic"):
                view = library.store.view(space)
                assert view.delta is None and not len(view.removed)  # the collection is the whole answer
                stored = MilvusIndex.existing(target, library.store.collection(space))
                assert np.array_equal(stored.ids(), np.sort(library.catalog.vector_ids(library.model_id, space)))
                assert len(stored.ids()) == len(PHOTOS) - 1
            gone = answers(library, photos)
        finally:
            (tmp_path / "coins.png").rename(photos / "coins.png")
        assert all("coins.png" not in [n for n, _ in page] for page in gone)
        library.index()
    with Library.open(lib) as library:  # no flags: the library remembers
        assert library.backend == {"name": "milvus", "uri": target} and answers(library, photos) == reference
        moved = library.migrate("faiss")
        assert moved.vectors == 2 * len(PHOTOS) and library.backend == {"name": "faiss"}
        assert library.info()["index_files"] == {"visual": "flat", "semantic": "flat"}
        assert answers(library, photos) == reference
        added: list[int] = []
        with pytest.MonkeyPatch.context() as patch:
            real_add = MilvusIndex.add
            patch.setattr(MilvusIndex, "add", lambda index, ids, vectors: added.append(len(ids)) or real_add(
                index, ids, vectors))
            again = library.migrate(target)  # the collections are still there: nothing to copy, only checked
        assert added == [] and again.vectors == 2 * len(PHOTOS) and library.backend["uri"] == target
        assert answers(library, photos) == reference


def test_several_index_workers_fill_one_milvus(target, photos, reference, tmp_path, models_ready):
    """Two worker processes embed and commit; the one collection per space holds every vector once."""
    with Library.open(tmp_path / "lib", backend="milvus", uri=target) as library:
        report = library.index([photos], workers=2)
        assert (report.embedded, report.failed, report.interrupted) == (len(PHOTOS), 0, False)
        for space in ("visual", "semantic"):
            stored = MilvusIndex.existing(target, library.store.collection(space))
            assert np.array_equal(stored.ids(), np.sort(library.catalog.vector_ids(library.model_id, space)))
        assert answers(library, photos) == reference


def test_cli_search_and_migrate_need_no_flags(photos, reference, tmp_path, models_ready):
    """`framefind index --backend milvus --uri`, then search, migrate and info as a user types them. The
    CLI adds nothing that depends on where Milvus runs: Lite stands for both (each command here is a
    process that imports pymilvus and loads the model: ~3 s)."""
    lib, target = str(tmp_path / "lib"), lite_uri(tmp_path)
    run_cli("index", str(photos), "--library", lib, "--backend", "milvus", "--uri", target, "-q")
    hits = cli_json("search", "a cup of coffee", "-k", "5", "--all", "--library", lib)
    assert [(Path(h["path"]).name, round(h["score"], 3)) for h in hits] == reference[0]
    proc = run_cli("migrate", "--to", "faiss", "--library", lib, "-q")
    assert f"{2 * len(PHOTOS)} vectors of 1 model(s) in 2 index(es) now in faiss" in proc.stderr
    with Library.open(lib) as library:
        assert library.info()["backend"] == "faiss" and library.store.files("semantic")
    proc = run_cli("migrate", "--to", target, "--library", lib, "-q")
    assert f"now in milvus at {target}" in proc.stderr
    hits = cli_json("search", "a cup of coffee", "-k", "5", "--all", "--library", lib)
    assert [(Path(h["path"]).name, round(h["score"], 3)) for h in hits] == reference[0]


def test_an_existing_faiss_library_moves_when_indexed_with_another_backend(photos, reference, tmp_path,
                                                                           models_ready):
    """--backend on a library that has vectors: they move (as migrate moves them) before the index run;
    a pinned index type then re-indexes the collections where they are."""
    uri = lite_uri(tmp_path)
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
    with Library.open(tmp_path / "lib", backend="milvus", uri=uri) as library:
        assert library.backend == {"name": "faiss"}  # searches stay on FAISS until the vectors are there
        notes = []
        assert library.index(events=IndexEvents(on_migrate=lambda *note: notes.append(note))).embedded == 0
        assert notes[-1] == (f"milvus at {uri}", 2 * len(PHOTOS), 2 * len(PHOTOS))
        assert library.backend == {"name": "milvus", "uri": uri}
        assert answers(library, photos) == reference
    with Library.open(tmp_path / "lib", index_type="hnsw") as library:  # re-indexed in place
        rebuilt = []
        library.index(events=IndexEvents(on_rebuild=lambda space, kind, n: rebuilt.append((space, kind, n))))
        assert sorted(rebuilt) == [("semantic", "hnsw", len(PHOTOS)), ("visual", "hnsw", len(PHOTOS))]
        assert library.info()["index_files"] == {"visual": "hnsw", "semantic": "hnsw"}
        assert answers(library, photos) == reference


def test_a_lite_file_held_by_another_process(photos, reference, tmp_path, models_ready):
    """Milvus Lite serves one process per file: an indexer elsewhere is refused in one line, a search
    elsewhere is answered exactly from the catalog."""
    lib = tmp_path / "lib"
    with Library.open(lib, backend="milvus") as library:  # default: a Lite file inside the library
        library.index([photos])
        assert library.backend["uri"] == str(lib / "milvus.db")
        hits = cli_json("search", "a cup of coffee", "-k", "5", "--all", "--library", str(lib))
        assert [(Path(h["path"]).name, round(h["score"], 3)) for h in hits] == reference[0]
        proc = run_cli("index", "--library", str(lib), "-q", check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"framefind: error: {lib / 'milvus.db'}: another process has this Milvus Lite file open (Lite serves "
            "one process at a time: use a Milvus server to index and search at once)"]
    run_cli("index", "--library", str(lib), "-q")  # closed: free again


@pytest.mark.parametrize(("uri", "message"), [
    ("http://127.0.0.1:1", "http://127.0.0.1:1: cannot connect to Milvus (Fail connecting to server on "
                           "127.0.0.1:1, illegal connection params or server unavailable); a server with "
                           "authentication needs FRAMEFIND_MILVUS_TOKEN=user:password"),
    ("http://root:Milvus@127.0.0.1:1", "http://root:***@127.0.0.1:1: no credentials in the URI (the library "
                                       "stores it); set FRAMEFIND_MILVUS_TOKEN=user:password instead"),
    ("ftp://example.org/x", "ftp://example.org/x: not a Milvus URI (give http://host:19530 for a Milvus server "
                            "or cluster, or a path ending in .db for Milvus Lite)"),
    ("/nonexistent/folder/x.db", "/nonexistent/folder/x.db: cannot open Milvus Lite (no directory "
                                 "/nonexistent/folder)"),
], ids=["unreachable", "credentials", "not-a-uri", "no-folder"])
def test_a_bad_or_unreachable_uri_is_one_line_naming_it(uri, message, photos, tmp_path, monkeypatch):
    """Through the CLI in this process (a real process for the unreachable server, where pymilvus and
    gRPC would log tracebacks if they were not kept quiet)."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)  # set once the session's server runs
    args = ["index", str(photos), "--library", str(tmp_path / "lib"), "--backend", "milvus", "--uri", uri]
    if uri.startswith("http"):
        proc = run_cli(*args, check=False)
        code, stderr = proc.returncode, proc.stderr
    else:
        result = CliRunner().invoke(app, args)
        code, stderr = result.exit_code, result.stderr
    assert code == 1 and stderr.strip().splitlines() == [f"framefind: error: {message}"]


@pytest.mark.parametrize(("token", "told"), [(None, ""), ("root:wrong", " (it is set: check it)")])
def test_a_server_with_authentication_needs_the_token(token, told, photos, tmp_path, tmp_path_factory, monkeypatch):
    """The session's server runs with authentication on (as a deployment would): without the right
    token, one line naming the server and the variable, and nothing indexed."""
    uri = server_uri(tmp_path_factory)
    release(uri)  # a fresh connection, with this test's credentials
    if token is None:
        monkeypatch.delenv(TOKEN_ENV)
    else:
        monkeypatch.setenv(TOKEN_ENV, token)
    try:
        with pytest.raises(FrameFindError) as raised, Library.open(tmp_path / "lib", backend="milvus", uri=uri) as lib:
            lib.index([photos])
        assert str(raised.value).startswith(f"{uri}: cannot connect to Milvus (")
        assert str(raised.value).endswith(f"; a server with authentication needs {TOKEN_ENV}=user:password{told}")
        with Library.open(tmp_path / "lib") as library:
            assert library.info()["items"] == 0
    finally:
        release(uri)  # the next test connects with the session's token again


def test_backend_choices_are_checked(tmp_path):
    with pytest.raises(FrameFindError, match="unknown backend 'annoy'.*faiss, milvus"):
        Library.open(tmp_path / "a", backend="annoy")
    with pytest.raises(FrameFindError, match="a URI is for milvus"):
        Library.open(tmp_path / "b", backend="faiss", uri="http://127.0.0.1:19530")
    with pytest.raises(FrameFindError, match="'sq8' is not offered by the milvus backend"):
        Library.open(tmp_path / "c", backend="milvus", index_type="sq8")


def test_the_writer_that_chooses_milvus_names_its_collections(tmp_path):
    """An empty library set on Milvus gets its id (every collection's prefix) from the process that chose the
    backend: a search process, which only reads the catalog, would otherwise write it on its first query."""
    with Library.open(tmp_path / "lib", backend="milvus", uri=lite_uri(tmp_path)) as library:
        made = library.catalog.meta("library_id")
        assert made and library.backend["name"] == "milvus"
    with Library.open(tmp_path / "lib", create=False) as library:
        assert library.catalog.meta("library_id") == made and library.store.collection("visual").startswith(
            f"ff_{made}_")


def test_pymilvus_missing_is_one_line(photos, tmp_path):
    lib = tmp_path / "lib"
    code = ("import sys; sys.modules['pymilvus'] = None  # as if not installed\n"
            "from framefind.interfaces.cli import app\n"
            f"app(['index', {str(photos)!r}, '--library', {str(lib)!r}, '--backend', 'milvus', '-q'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f"framefind: error: {lib / 'milvus.db'}: the milvus backend needs pymilvus: pip install 'framefind[milvus]'"]


def test_readers_answer_from_the_catalog_what_the_collection_lacks_yet(photos, tmp_path, models_ready):
    """While an index run commits batches (here: vectors added straight to the catalog), a reader
    searches the collection plus an exact delta of what it lacks, listing the collection once; the
    writer's sync then makes the collection the whole answer again."""
    lib = tmp_path / "lib"
    with Library.open(lib, backend="milvus", uri=lite_uri(tmp_path)) as library:
        library.index([photos])
        before = library.store.view("visual")
        assert before.delta is None and before.base.count() == len(PHOTOS)
    grow_library(lib, len(PHOTOS) + 40)
    with Library.open(lib) as library:
        store, model_id = library.store, library.model_id
        view = store.view("visual")
        assert view.delta.count() == 40 and view.base.count() == len(PHOTOS) and not len(view.removed)
        ids, vectors = library.catalog.vectors(model_id, "visual")
        newest = int(ids.max())
        _, found = store.search("visual", vectors[ids == newest], 1)
        assert found[0, 0] == newest  # found in the delta, before the collection has it
        grow_library(lib, len(PHOTOS) + 50)
        again = store.view("visual")
        assert again.base is view.base and again.delta.count() == 50  # the collection was not listed again
        library.index()
        synced = store.view("visual")
        assert synced.delta is None and synced.base.count() == len(PHOTOS) + 50
        assert store.search("visual", vectors[ids == newest], 1)[1][0, 0] == newest
