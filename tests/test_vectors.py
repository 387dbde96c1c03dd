"""One suite for every vector index type of every backend (txtai's testann/testdense.py style).

Backends: FAISS, Milvus Lite (a file in a temporary directory) and a real Milvus 2.3.5 server (the
``milvus`` package's embedded standalone binary, one per session: tests/milvus_helpers.py). The same
tests run against all three; what differs is said where it does (Milvus removes from HNSW too; the
FAISS thread policy test is FAISS's own). A Milvus "index file" is a pointer to its collection.

Vectors are real: Fashion-MNIST test images (Debian dataset-fashion-mnist), flattened to 784-d,
centred and L2-normalised, so neighbourhoods have the uneven structure of real data. Ids are large
non-contiguous and shuffled (10**12 + 7*i in random order) so a backend that confuses row numbers,
storage positions and ids fails.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import fashion_mnist
from milvus_helpers import lite_uri, server_uri

from framefind.errors import FrameFindError
from framefind.store.vectors import factory
from framefind.store.vectors import faiss as faiss_backend
from framefind.store.vectors import milvus as milvus_backend
from framefind.store.vectors.factory import build_index, choose_kind, create_index, load_index, needs_rebuild

TARGETS = {"faiss": factory.BACKENDS["faiss"].kinds, "milvus-lite": milvus_backend.KINDS,
           "milvus-server": milvus_backend.KINDS}
ALL_KINDS = [pytest.param(target, kind, id=f"{target}-{kind}") for target, kinds in TARGETS.items() for kind in kinds]
# Tests that build their own small index run on the server for "flat" only: they never flush, and Milvus
# searches unflushed (growing) segments by brute force whatever the index type, while each collection
# costs the server ~3 s to load. The shared ``built`` indexes are flushed: every kind's index is searched.
PER_TEST = [p for p in ALL_KINDS if p.values[0] != "milvus-server" or p.values[1] == "flat"]
# A Milvus index file is a pointer written and read here, the same for Lite and a server: Lite covers it.
FILE_TESTS = [p for p in ALL_KINDS if p.values[0] != "milvus-server"]
N = 3000
BASE_ID = 10**12


def unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    images, _ = fashion_mnist(N + 200)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255
    vectors = unit(pixels - pixels.mean(axis=0))
    ids = BASE_ID + 7 * np.random.default_rng(0).permutation(N).astype(np.int64)  # storage order != id order
    return ids, vectors  # the 200 extra rows are unseen queries


@pytest.fixture(scope="module")
def milvus_lite(tmp_path_factory) -> str:
    return lite_uri(tmp_path_factory.mktemp("lite"))


def where(request, target: str) -> dict:
    """``backend=`` and its options for a target: FAISS, or Milvus at a Lite file or the session's server."""
    if target == "faiss":
        return {"backend": "faiss"}
    if target == "milvus-lite":
        return {"backend": "milvus", "uri": request.getfixturevalue("milvus_lite")}
    return {"backend": "milvus", "uri": server_uri(request.getfixturevalue("tmp_path_factory"))}


@pytest.fixture(scope="module")
def milvus_built(request, data) -> dict:
    """Every kind's shared index in Milvus, built side by side: most of a build is the server's own
    waiting (a collection load, a flush, the index build), so three at once take the time of one."""
    from concurrent.futures import ThreadPoolExecutor

    ids, vectors = data
    jobs, skipped = {}, {}
    for target in (t for t in TARGETS if t != "faiss"):
        try:  # a server that cannot start skips its own cases, not Milvus Lite's
            jobs.update({(target, kind): where(request, target) for kind in TARGETS[target]})
        except pytest.skip.Exception as exc:
            skipped.update({(target, kind): str(exc) for kind in TARGETS[target]})

    def build(key: tuple[str, str]):
        index = build_index(ids, vectors[:N], kind=key[1], **jobs[key])
        index.flush()  # seal and index, so searches here go through the kind's index, not a scan ...
        assert index.settle()  # ... nor, on the server, the interim index of the growing segment (~15 s)
        return index

    with ThreadPoolExecutor(max(1, len(jobs))) as pool:
        return {**dict(zip(jobs, pool.map(build, jobs), strict=True)), **skipped}


@pytest.fixture(scope="module", params=[p.values for p in ALL_KINDS], ids=[p.id for p in ALL_KINDS])
def built(request, data):
    """(target, kind, index of the first N vectors): shared, so tests here must not mutate it."""
    target, kind = request.param
    ids, vectors = data
    if target != "faiss":
        index = request.getfixturevalue("milvus_built")[target, kind]
        if isinstance(index, str):
            pytest.skip(index)
        return target, kind, index
    return target, kind, build_index(ids, vectors[:N], kind=kind, backend="faiss")


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    rows = np.arange(len(vectors)) if rows is None else rows
    return rows[np.argsort(-(queries @ vectors[rows].T), axis=1)[:, :k]]


def test_stored_vector_finds_itself_first(built, data):
    _, kind, index = built
    ids, vectors = data
    rows = np.array([0, 5, 1234, N - 1])
    scores, found = index.search(vectors[rows], 5)
    assert index.kind == kind and index.dim == 784
    assert scores.shape == found.shape == (4, 5) and scores.dtype == np.float32 and found.dtype == np.int64
    assert (found[:, 0] == ids[rows]).all()
    assert np.allclose(scores[:, 0], 1.0, atol=0.02)  # sq8 codes round a little
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_ids_are_the_given_ids(built, data):
    _, _, index = built
    ids, vectors = data
    assert index.count() == len(index) == N
    assert index.ids().dtype == np.int64 and (index.ids() == np.sort(ids)).all()
    _, found = index.search(vectors[N:N + 50], 10)
    assert np.isin(found, ids).all()


@pytest.mark.parametrize(("target", "kind"), PER_TEST)
def test_k_larger_than_count_shrinks(target, kind, data, request):
    ids, vectors = data
    index = build_index(ids[:5], vectors[:5], kind=kind, **where(request, target))
    scores, found = index.search(vectors[N:N + 3], 10)
    assert found.shape == scores.shape == (3, 5)
    assert (np.sort(found, axis=1) == np.sort(ids[:5])).all()  # every stored vector, none missing
    assert np.isfinite(scores).all()
    assert index.search(vectors[N:N + 3], 3)[1].shape == (3, 3)


@pytest.mark.parametrize(("target", "kind"), PER_TEST)
def test_empty_index(target, kind, data, tmp_path, request):
    ids, vectors = data
    backend = where(request, target)
    index = create_index(784, kind, n_hint=N, **backend)
    assert index.count() == 0 and len(index.ids()) == 0
    for allowed in (None, np.array([1, 2], np.int64)):
        scores, found = index.search(vectors[:2], 10, allowed=allowed)
        assert scores.shape == found.shape == (2, 0)
    index.save(tmp_path / "empty.index")  # an empty library saves, loads, and trains on its first add
    loaded = load_index(tmp_path / "empty.index", backend=backend["backend"])
    assert (loaded.kind, loaded.dim, loaded.count()) == (kind, 784, 0)
    loaded.add(ids[:500], vectors[:500])
    assert loaded.count() == 500 and (loaded.search(vectors[7:8], 1)[1] == ids[7]).all()


@pytest.mark.parametrize(("target", "kind"), PER_TEST)
def test_remove(target, kind, data, request):
    ids, vectors = data
    index = build_index(ids[:400], vectors[:400], kind=kind, **where(request, target))
    gone = ids[100:150]
    removed = index.remove(np.concatenate([gone, [5, 6]]))  # unknown ids are ignored
    if kind == "hnsw" and target == "faiss":  # Milvus marks deleted rows, in any kind of index
        assert removed is False and index.count() == 400  # the caller rebuilds
        return
    assert removed is True and index.count() == 350
    assert not np.isin(gone, index.ids()).any() and len(index.ids()) == 350
    _, found = index.search(vectors[100:150], 10)
    assert not np.isin(found, gone).any() and (found >= 0).all()
    assert index.remove(gone) is True and index.count() == 350  # nothing left to remove
    index.add(gone, vectors[100:150])  # ids can come back
    assert (index.search(vectors[100:103], 1)[1][:, 0] == gone[:3]).all()


@pytest.mark.parametrize(("target", "kind"), PER_TEST)
def test_add_rejects_bad_input(target, kind, data, request):
    ids, vectors = data
    index = build_index(ids[:50], vectors[:50], kind=kind, **where(request, target))
    with pytest.raises(ValueError):
        index.add(ids[49:51], vectors[49:51])  # ids[49] is already there
    with pytest.raises(ValueError):
        index.add(np.array([-1], np.int64), vectors[:1])
    with pytest.raises(ValueError):
        index.add(ids[60:62], vectors[60:61])
    assert index.count() == 50
    with pytest.raises(ValueError):
        index.search(vectors[:2].astype(np.float64), 3)
    with pytest.raises(ValueError):
        index.search(vectors[0], 3)
    with pytest.raises(ValueError):
        index.search(vectors[:2, :100].copy(), 3)
    with pytest.raises(ValueError):
        index.search(vectors[:2], 0)


@pytest.mark.parametrize("path", ["scored", "in-search"])
def test_allowed_filter(built, data, path, monkeypatch):
    """Both ways a filter is applied. FAISS: small sets scored directly, larger ones inside the search.
    Milvus: small sets as an ``id in [...]`` expression, larger ones by a wider unfiltered search
    filtered here, short rows redone with the expression."""
    target, kind, index = built
    if path == "in-search" and target == "faiss":
        monkeypatch.setattr(faiss_backend, "EXACT_SUBSET_MAX", 0)
    if path == "in-search" and target != "faiss":
        monkeypatch.setattr(milvus_backend, "FILTER_IN_MAX", 10)
    ids, vectors = data
    queries = vectors[N:N + 20]
    far = np.argsort(queries[0] @ vectors[:N].T)[:30]  # the 1% least like query 0
    scores, found = index.search(queries, 10, allowed=ids[far])
    assert found.shape == (20, 10) and np.isin(found, ids[far]).all()  # k results although all are far
    assert (scores[0] < 0.2).all()
    truth = ids[exact_top(vectors, queries, 10, far)]
    assert np.mean([len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)]) >= 9
    rows = np.random.default_rng(0).choice(N, N // 10, replace=False)  # a 10% filter
    _, found = index.search(queries, 10, allowed=ids[rows])
    truth = ids[exact_top(vectors, queries, 10, rows)]
    assert (found >= 0).all() and np.isin(found, ids[rows]).all()
    assert np.mean([len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)]) >= 9
    scores, found = index.search(queries[:3], 10, allowed=np.array([], np.int64))
    assert found.shape == (3, 10) and (found == -1).all() and np.isneginf(scores).all()
    absent = np.concatenate([ids[:4], BASE_ID - 1 - np.arange(100)])  # ids not in the index are fine
    scores, found = index.search(queries[:3], 10, allowed=absent)
    assert (np.sort(found[:, :4], axis=1) == np.sort(ids[:4])).all() and (found[:, 4:] == -1).all()
    assert np.isneginf(scores[:, 4:]).all() and np.isfinite(scores[:, :4]).all()


@pytest.mark.parametrize(("target", "kind"), [p for p in ALL_KINDS if p.values[0] != "faiss"])
def test_rows_a_filtered_milvus_search_left_short_are_scored_exactly(target, kind, request, data, monkeypatch):
    """Where Milvus's filtered search comes back short (an approximate kind walked past the allowed rows), those
    rows are redone by reading the allowed vectors back by id and scoring them here: the exact answer."""
    index = request.getfixturevalue("milvus_built")[target, kind]
    if isinstance(index, str):
        pytest.skip(index)
    real_search, real_exact, redone = milvus_backend.MilvusIndex._search, milvus_backend.MilvusIndex._exact, []

    def half_empty(self, queries, limit, expr="", widen=1.0):  # every other row loses its second half
        scores, found = real_search(self, queries, limit, expr, widen)
        scores[::2, limit // 2:], found[::2, limit // 2:] = -np.inf, -1
        return scores, found

    def exact(self, queries, k, present):
        redone.append(len(queries))
        return real_exact(self, queries, k, present)

    monkeypatch.setattr(milvus_backend.MilvusIndex, "_exact", exact)
    monkeypatch.setattr(milvus_backend.MilvusIndex, "_search", half_empty)
    ids, vectors = data
    queries = vectors[N + 20:N + 26]
    rows = np.random.default_rng(1).choice(N, 150, replace=False)
    scores, found = index.search(queries, 10, allowed=ids[rows])
    truth = ids[exact_top(vectors, queries, 10, rows)]
    assert redone == [3]  # the three short rows, scored from the vectors read back
    assert np.array_equal(found[::2], truth[::2])
    expected = np.sort(queries[::2] @ vectors[rows].T, axis=1)[:, ::-1][:, :10]
    assert np.allclose(scores[::2], expected, atol=1e-5)


def test_batches_match_single_queries(built, data):
    """Small batches run on one thread, large ones on all: the answers must not depend on it."""
    _, _, index = built
    queries = data[1][N:N + 40]
    scores, found = index.search(queries, 10)
    for q in (0, 17, 39):
        one_scores, one = index.search(queries[q:q + 1], 10)
        assert np.allclose(one_scores[0], scores[q], atol=1e-5)
        assert len(np.intersect1d(one[0], found[q])) >= 9  # BLAS vs scalar rounding may swap a tie at the end


def test_single_queries_run_on_one_thread_and_restore_it(built, data, monkeypatch):
    """One query gains nothing from OpenMP threads and loses a scheduler tick on a busy core (faiss.py)."""
    target, _, index = built
    if target != "faiss":
        pytest.skip("FAISS thread policy")
    calls: list[int] = []
    real = faiss_backend.faiss.omp_set_num_threads
    monkeypatch.setattr(faiss_backend.faiss, "omp_set_num_threads", lambda n: (calls.append(n), real(n)))
    before = faiss_backend.faiss.omp_get_max_threads()
    index.search(data[1][N:N + 1], 10)
    assert calls == [1, before] and faiss_backend.faiss.omp_get_max_threads() == before
    calls.clear()
    index.search(data[1][N:N + 40], 10)  # a batch keeps every thread: FAISS splits the queries
    assert calls == []


def test_recall_against_exact(built, data):
    _, kind, index = built
    _, vectors = data
    noise = np.random.default_rng(1).standard_normal((100, 784)).astype(np.float32) * (0.3 / 28)
    queries = unit(vectors[:100] + noise)  # perturbed stored vectors
    truth = exact_top(vectors[:N], queries, 10)
    _, found = index.search(queries, 10)
    recall = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, data[0][truth], strict=True)])
    assert recall >= (0.999 if kind == "flat" else 0.9), recall


def test_save_load_round_trip(built, data, tmp_path):
    target, kind, index = built
    path = tmp_path / "semantic.7.index"
    index.save(path)
    loaded = load_index(path, backend=index.backend)
    assert (loaded.kind, loaded.dim, loaded.count()) == (kind, 784, N)
    assert (loaded.ids() == index.ids()).all()
    queries = data[1][N:N + 25]
    for allowed in (None, data[0][::9]):
        scores, found = index.search(queries, 10, allowed=allowed)
        loaded_scores, loaded_found = loaded.search(queries, 10, allowed=allowed)
        if target == "faiss" or kind == "flat":
            assert (found == loaded_found).all() and np.array_equal(scores, loaded_scores)
        else:  # a live collection: Milvus (Lite too) swaps in segment indexes it builds in the background
            assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(found, loaded_found, strict=True)]) >= 9
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


@pytest.mark.parametrize(("target", "kind"), FILE_TESTS)
def test_concurrent_saves_leave_a_loadable_file(target, kind, data, tmp_path, request):
    ids, vectors = data
    backend = where(request, target)
    indexes = [build_index(ids[:n], vectors[:n], kind=kind, **backend) for n in (300, 500)]
    path = tmp_path / "index.bin"
    errors: list[BaseException] = []

    def save_repeatedly(index) -> None:
        try:
            for _ in range(5):
                index.save(path)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=save_repeatedly, args=(index,)) for index in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert load_index(path, backend=backend["backend"]).count() in (300, 500)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(("target", "kind"), FILE_TESTS)
def test_corrupt_file_is_a_one_line_error_naming_it(target, kind, data, tmp_path, request):
    ids, vectors = data
    good = tmp_path / "good.index"
    backend = where(request, target)["backend"]
    build_index(ids[:300], vectors[:300], kind=kind, **where(request, target)).save(good)
    content = good.read_bytes()
    cases = {"truncated.index": content[: len(content) // 2], "garbage.index": b"not an index" * 10,
             "empty.index": b""}
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
    for name in [*cases, "missing.index"]:
        with pytest.raises(FrameFindError) as info:
            load_index(tmp_path / name, backend=backend)
        assert name in str(info.value) and "\n" not in str(info.value)


def test_ivf_pq_rescores_from_codes_left_in_its_file(data, tmp_path):
    """A loaded ivf-pq keeps its PQ codes in memory and re-scores candidates from the SQ8 codes mapped
    from its file; the writer's add or remove on a loaded index first reads them in."""
    ids, vectors = data
    index = build_index(ids[:2000], vectors[:2000], kind="ivf-pq")
    index.save(tmp_path / "a.faiss")
    loaded = load_index(tmp_path / "a.faiss")
    assert loaded._mapped == tmp_path / "a.faiss"
    queries = vectors[N:N + 20]
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    loaded.add(ids[2000:2500], vectors[2000:2500])
    assert loaded._mapped is None and loaded.remove(ids[:100]) and loaded.count() == 2400
    assert (loaded.search(vectors[2000:2010], 1)[1][:, 0] == ids[2000:2010]).all()
    loaded.save(tmp_path / "b.faiss")
    again = load_index(tmp_path / "b.faiss")
    assert again.count() == 2400 and not np.isin(ids[:100], again.ids()).any()
    assert (again.search(vectors[2000:2010], 1)[1][:, 0] == ids[2000:2010]).all()


def test_choose_kind_thresholds():
    for dim, approximate in ((384, "ivf-sq8"), (1280, "ivf-pq")):  # SQ8 codes of wide vectors outgrow RAM
        limit = factory.FLAT_MAX_FLOATS // dim
        assert choose_kind(0, dim) == choose_kind(limit, dim) == "flat"
        assert choose_kind(limit + 1, dim) == choose_kind(10 * limit, dim) == approximate
    assert choose_kind(50_000, 384) == "flat"  # exact while a scan stays ~3-4 ms
    assert choose_kind(100_000, 384) == "ivf-sq8"  # concurrent scans share memory
    assert choose_kind(10**6, 1280, offered=milvus_backend.KINDS) == "ivf-sq8"  # a backend without ivf-pq
    for kind in factory.INDEX_TYPES[1:]:
        assert choose_kind(10, 384, kind) == choose_kind(10**7, 384, kind) == kind
    with pytest.raises(FrameFindError, match="flat.*ivf-sq8, ivf-pq"):
        choose_kind(10, 384, "ivf-pq4")


def test_needs_rebuild(data):
    ids, vectors = data
    flat = build_index(ids[:50], vectors[:50])
    limit = factory.FLAT_MAX_FLOATS // 784
    assert flat.kind == "flat"
    assert not needs_rebuild(flat, limit, "auto") and needs_rebuild(flat, limit + 1, "auto")
    assert needs_rebuild(flat, 50, "hnsw") and not needs_rebuild(flat, 10**7, "flat")
    ivf = build_index(ids[:800], vectors[:800], kind="ivf-sq8")
    assert ivf.nlist == 800 // 39  # a pinned IVF with few vectors shrinks nlist to what they can train
    assert not needs_rebuild(ivf, 800, "ivf-sq8") and needs_rebuild(ivf, 200_000, "ivf-sq8")
    # past the threshold auto keeps an approximate index until n falls below half of it; an IVF
    # trained on 9000 vectors (230 lists) is not undersized for limit + 1 (52k, which calls for 913)
    images, _ = fashion_mnist(9000)
    limit = factory.FLAT_MAX_FLOATS // 384
    big = build_index(np.arange(9000), unit(images.reshape(9000, -1)[:, :384].astype(np.float32) - 128),
                      kind="ivf-sq8")
    assert big.nlist == 230 and not big.undersized(limit + 1) and big.undersized(4 * limit)
    assert not needs_rebuild(big, limit + 1, "auto") and not needs_rebuild(big, limit // 2 + 1, "auto")
    assert needs_rebuild(big, limit // 2 - 1, "auto") and needs_rebuild(big, 4 * limit, "auto")


def test_unknown_backend_or_kind_is_one_line_listing_choices():
    with pytest.raises(FrameFindError, match="'elasticsearch'.*faiss, milvus") as info:
        create_index(384, "flat", backend="elasticsearch")
    assert "\n" not in str(info.value)
    with pytest.raises(FrameFindError, match="milvus backend needs a uri"):
        create_index(384, "flat", backend="milvus")
    with pytest.raises(FrameFindError, match="'sq8' is not offered by the milvus backend.*flat, hnsw, ivf-sq8"):
        create_index(384, "sq8", backend="milvus", uri="http://127.0.0.1:1")
    with pytest.raises(FrameFindError, match="'ivf-pq4'.*auto, flat, sq8, hnsw, ivf-sq8, ivf-pq"):
        create_index(384, "ivf-pq4")
    with pytest.raises(FrameFindError, match="faiss"):
        load_index("whatever.index", backend="annoy")
    assert build_index(np.arange(3), np.eye(3, 8, dtype=np.float32)).kind == "flat"


@pytest.mark.parametrize(("target", "kinds"), [("milvus-lite", ("ivf-sq8", "hnsw", "flat")),
                                               ("milvus-server", ("ivf-sq8",))])
def test_milvus_reindexes_in_place_and_load_recovers_the_kind(target, kinds, data, tmp_path, request):
    """A change of index type re-indexes the collection where it is (no vectors move); the collection
    says what it is, as a FAISS file does."""
    ids, vectors = data
    index = build_index(ids[:2000], vectors[:2000], kind="flat", **where(request, target))
    queries = vectors[N:N + 30]
    truth = ids[exact_top(vectors[:2000], queries, 10)]
    for kind in kinds:
        index.reindex(kind, 2000)
        index.save(tmp_path / "index")
        loaded = load_index(tmp_path / "index", backend="milvus")
        assert (loaded.kind, loaded.count(), index.kind) == (kind, 2000, kind)
        nlist = min(faiss_backend.nlist_for(2000), milvus_backend.MAX_NLIST) if kind == "ivf-sq8" else 0
        assert loaded.nlist == nlist
        _, found = loaded.search(queries, 10)
        assert np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth, strict=True)]) >= 0.9
