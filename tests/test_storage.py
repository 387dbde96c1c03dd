"""The storage layer: model identity, models side by side, index types, stable keys, typed queries,
bounded SQLite work per search, and refusing a library from a newer release."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, skimage_data, write_fashion_pngs

from framefind import FrameFindError, IndexEvents, Library
from framefind.media.units import Item
from framefind.models.base import load_model
from framefind.search.query import Filters, Query, Term
from framefind.search.results import ResultKey

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "camera.png", "astronaut.png", "coins.png"]


def _photos(target: Path, names=PHOTOS) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(skimage_data() / name, target / name)
    return target


def _ranking(library: Library, query: str, k: int = 5) -> list[tuple[str, float]]:
    return [(Path(r.path).name, r.score) for r in library.search(query, k=k, cutoff=False)]


def test_model_id_changes_with_everything_that_changes_vectors(tmp_path, monkeypatch):
    base = load_model("effnet-conse")
    assert base.id == load_model("effnet-conse").id and base.id.startswith("effnet-conse-")
    assert load_model("effnet-conse", {"top_t": 5}).id != base.id
    assert load_model("effnet-conse", {"video": {"max_gap": 1.0}}).id != base.id
    assert load_model("effnet-conse", {"top_t": 20}).id == base.id  # the default, said explicitly
    import framefind.models.conse as conse

    monkeypatch.setattr(conse, "label_text", lambda label: label["names"])  # other class sentences
    assert load_model("effnet-conse").id != base.id
    for bad, message in [({"top_t": 0}, "top_t"), ({"colour": 1}, "unknown model option"),
                         ({"video": {"gap": 1}}, "video")]:
        with pytest.raises(FrameFindError, match=message):
            load_model("effnet-conse", bad)


def test_weights_are_identified_by_content_not_path(tmp_path):
    from framefind.models.identity import file_digest

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"weights" * 1000)
    shutil.copy(a, b)
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"other" * 1000)
    assert file_digest(a) != file_digest(b)


def test_two_models_coexist_and_switching_back_re_embeds_nothing(tmp_path):
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        assert library.index([photos]).embedded == len(PHOTOS)
        first_id, first = library.model_id, _ranking(library, "a cup of coffee")
    with Library.open(tmp_path / "lib", model="effnet-conse", model_options={"top_t": 3}) as library:
        assert library.model_id == first_id  # still searching the complete first model ...
        report = library.index()
        assert report.embedded == len(PHOTOS)  # ... until the new model has embedded everything
        second_id = library.model_id
        assert second_id != first_id and library.model.top_t == 3
        second = _ranking(library, "a cup of coffee")
        assert second[0][0] == "coffee.png" and second != first
        models = {m["id"]: m for m in library.models()}
        assert models[first_id]["contents"] == models[second_id]["contents"] == len(PHOTOS)
        assert models[second_id]["active"] and not models[first_id]["active"]
    with Library.open(tmp_path / "lib", model="effnet-conse", model_options={}) as library:
        report = library.index()
        assert (report.embedded, report.unchanged) == (0, len(PHOTOS))
        assert library.model_id == first_id and _ranking(library, "a cup of coffee") == first
        assert library.drop_model(second_id) == len(PHOTOS)
        assert [m["id"] for m in library.models()] == [first_id]
        with pytest.raises(FrameFindError, match="active model"):
            library.drop_model(first_id)
        count = library.catalog.db.execute("SELECT COUNT(*) FROM items WHERE model != ?", (first_id,)).fetchone()
        assert count[0] == 0 and not (tmp_path / "lib" / "index" / second_id).exists()


def test_an_interrupted_switch_keeps_searching_the_old_model(tmp_path):
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        first_id = library.model_id
    calls = []

    def stop_after_first_batch(done: float, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with Library.open(tmp_path / "lib", model_options={"top_t": 3}) as library:
        report = library.index(events=IndexEvents(progress=stop_after_first_batch))
        assert report.interrupted and library.model_id == first_id
        assert len(library.search("a cat", k=len(PHOTOS), cutoff=False)) == len(PHOTOS)  # the old model, complete


def test_index_type_can_change_on_an_existing_library(tmp_path, models_ready):
    write_fashion_pngs(tmp_path / "photos", 400)
    probe = sorted((tmp_path / "photos").iterdir())[17]
    lib = tmp_path / "lib"
    run_cli("index", str(tmp_path / "photos"), "--library", str(lib), "-q")
    with Library.open(lib) as library:
        assert library.info()["index_files"] == {"visual": "flat", "semantic": "flat"}
        exact = [(r.path, r.score) for r in library.search(image=probe, k=5)]
    for kind in ("hnsw", "sq8", "ivf-sq8", "ivf-pq", "flat", "auto"):
        proc = run_cli("index", "--library", str(lib), "--index-type", kind, "-q")
        assert "0 embedded" in proc.stderr
        with Library.open(lib) as library:
            expected_kind = "flat" if kind == "auto" else kind
            assert library.info()["index_files"] == {"visual": expected_kind, "semantic": expected_kind}
            assert [p.name.split(".")[3] for p in library.store.directory.iterdir()].count(expected_kind) >= 2
            hits = library.search(image=probe, k=5)
            assert hits[0].path == str(probe) and hits[0].score == pytest.approx(1.0, abs=0.02)
            overlap = len({h.path for h in hits} & {path for path, _ in exact})
            assert overlap >= 4, (kind, overlap)
    proc = run_cli("index", "--library", str(lib), "--index-type", "annoy", check=False)
    assert proc.returncode == 1 and "unknown index type 'annoy'" in proc.stderr and "Traceback" not in proc.stderr


def test_stable_keys_survive_moves_reindexing_and_model_changes(tmp_path):
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        top = library.search("a cup of coffee", k=1)[0]
        key = ResultKey.parse(top.key)
        assert key.start is None and len(key.content) == 32
        (photos / "coffee.png").rename(photos / "morning.png")
        library.index()
        again = library.search("a cup of coffee", k=1)[0]
        assert again.key == top.key and Path(again.path).name == "morning.png"
        assert library.resolve(top.key)[0].paths == [str(photos / "morning.png")]
    with Library.open(tmp_path / "lib", model_options={"top_t": 5}) as library:
        library.index()
        assert library.search("a cup of coffee", k=1)[0].key == top.key
        assert library.resolve(top.key)[0].paths == [str(photos / "morning.png")]
        with pytest.raises(FrameFindError, match="not a result key"):
            library.resolve("coffee.png")


def test_typed_queries_weights_negative_terms_and_filters(tmp_path):
    photos = _photos(tmp_path / "photos")
    _photos(tmp_path / "photos" / "animals", ["chelsea.png", "horse.png"])
    (tmp_path / "photos" / "animals" / "chelsea.png").rename(tmp_path / "photos" / "animals" / "cat.png")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        cat_and_horse = library.search(Query((Term("words", "a cat"), Term("words", "a horse")), k=3))
        assert {Path(r.path).name for r in cat_and_horse[:2]} <= {"chelsea.png", "cat.png", "horse.png"}
        without_cat = library.search(Query((Term("words", "an animal"), Term("words", "a cat", -1.0)), k=3))
        assert all("cat" not in Path(r.path).name and "chelsea" not in r.path for r in without_cat[:1])
        inside = library.search(Query.of("a cup of coffee", k=5, under=(photos / "animals",), cutoff=False))
        assert len(inside) == 2 and all("/animals/" in r.path for r in inside)  # k filtered results
        by_image = library.search(Query((Term("image", str(photos / "rocket.jpg")),), k=1))
        assert Path(by_image[0].path).name == "rocket.jpg"
        only_video = library.search(Query.of("a cat", kinds=("video",)))
        assert only_video == []
        for bad, message in [(Query(()), "empty query"), (Query((Term("words", "x", -1.0),)), "positive term"),
                             (Query((Term("words", "cat"),), filters=Filters(kinds=("gif",))), "unknown gif"),
                             (Query((Term("image", "/nope.jpg"),)), "no such file"),
                             (Query((Term("words", "cat"), Term("words", "cat", -1.0))), "cancel out")]:
            with pytest.raises(FrameFindError, match=message):
                library.search(bad)


def test_search_makes_a_bounded_number_of_sqlite_queries(tmp_path, videos_and_photos):
    library = videos_and_photos
    counts = {}
    for k in (3, 30):
        library.search("warm-up", k=k)
        for state in ("cold", "warm"):  # cold: nothing kept from earlier searches (search/cache.py)
            if state == "cold":
                library._searcher.cache.clear()
            statements: list[str] = []
            library.catalog.db.set_trace_callback(statements.append)
            results = library.search("a cup of coffee", k=k)
            library.catalog.db.set_trace_callback(None)
            assert any(r.kind == "video" for r in results) and any(r.kind == "image" for r in results)
            counts[k, state] = len([s for s in statements if s.lstrip().upper().startswith("SELECT")])
    # item infos, frames, labels ("why"), folding vectors, feedback, calibration checks: none per hit; a repeated
    # search reads no vector nor explanation again. Since #20 (15 here): which text signals the library holds, the
    # place names among the words, the files' words (all words, then any; their scan's change stamp), the places
    assert counts[3, "cold"] == counts[30, "cold"] and counts[30, "cold"] <= 16, counts
    assert counts[3, "warm"] == counts[30, "warm"] < counts[30, "cold"], counts


@pytest.fixture
def videos_and_photos(tmp_path, models_ready):
    from videos import slideshow

    media = _photos(tmp_path / "media")
    shots = [(skimage_data() / name, 3.0) for name in ("coffee.png", "rocket.jpg", "horse.png")]
    slideshow(media / "shots.mp4", shots)
    with Library.open(tmp_path / "lib") as library:
        assert library.index([media]).failed == 0
        yield library


def test_a_library_from_a_newer_release_is_refused_in_one_line(tmp_path):
    photos = _photos(tmp_path / "photos", PHOTOS[:2])
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
    with sqlite3.connect(tmp_path / "lib" / "catalog.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    proc = run_cli("search", "a cat", "--library", str(tmp_path / "lib"), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"framefind: error: {tmp_path / 'lib' / 'catalog.sqlite'}: made by a newer framefind (library format 99; "
        "this release reads up to 6): upgrade framefind to use it"]


def test_image_thumbnails_are_stored_once_per_content(tmp_path):
    photos = _photos(tmp_path / "photos", ["coffee.png", "rocket.jpg"])
    shutil.copy(photos / "coffee.png", photos / "copy.png")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        rows = library.catalog.db.execute("SELECT hash, at, length(jpeg) FROM thumbnails").fetchall()
        assert len(rows) == 2 and all(at == 0 and 2_000 < size < 60_000 for _, at, size in rows)
        hit = library.search("a rocket", k=1)[0]
        from io import BytesIO

        from PIL import Image

        with Image.open(BytesIO(library.thumbnail(hit))) as thumb:
            assert thumb.format == "JPEG" and 160 < max(thumb.size) <= 320
            original = np.asarray(Image.open(photos / "rocket.jpg").convert("RGB").resize(thumb.size), float)
            assert np.abs(np.asarray(thumb.convert("RGB"), float) - original).mean() < 12


def test_a_missing_thumbnail_is_made_by_the_writer_never_by_a_reader(tmp_path):
    """Images indexed by 0.1.0 have none: a reader shows one made from the file, the next index stores it."""
    photos = _photos(tmp_path / "photos", ["coffee.png", "rocket.jpg"])
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        hit = library.search("a rocket", k=1)[0]
        with library.catalog.transaction() as db:
            db.execute("DELETE FROM thumbnails")  # as 0.1.0 left them
    catalog = tmp_path / "lib" / "catalog.sqlite"
    before = catalog.stat().st_mtime_ns, catalog.read_bytes()
    with Library.open(tmp_path / "lib", create=False) as library:
        shown = library.thumbnail(hit)  # made from the file
        assert shown[:2] == b"\xff\xd8"
    assert (catalog.stat().st_mtime_ns, catalog.read_bytes()) == before  # the reader wrote nothing
    with sqlite3.connect(catalog) as db:
        assert db.execute("SELECT COUNT(*) FROM thumbnails").fetchone()[0] == 0
    db.close()
    with Library.open(tmp_path / "lib", create=False) as library:
        report = library.index()
        assert (report.embedded, report.unchanged) == (0, 2)
        assert library.catalog.db.execute("SELECT COUNT(*) FROM thumbnails WHERE at = 0").fetchone()[0] == 2
        assert library.catalog.thumbnail(hit.key, 0.0) == library.thumbnail(hit) == shown


def test_a_damaged_index_file_is_answered_around_and_replaced_by_the_writer(tmp_path):
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        expected = _ranking(library, "a rocket")
        newest = library.store.files("semantic")[-1][1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a full disk
    with Library.open(tmp_path / "lib") as library:
        assert [name for name, _ in _ranking(library, "a rocket")] == [name for name, _ in expected]
        assert library.store.view("semantic").base is None  # answered exactly from the catalog
        library.index()
        assert library.store.view("semantic").base is not None and library.store.kind("semantic") == "flat"
        assert _ranking(library, "a rocket") == expected


def test_a_reader_of_a_current_index_file_reads_no_ids_and_still_sees_later_commits(tmp_path, monkeypatch):
    """A fresh process's first search: when the newest index file is the catalog at its generation, the
    view is that file alone (reading every id took 30 ms of 0.5 s at 10k items); once a batch is committed
    after it, the view adds it as the exact delta again."""
    photos = _photos(tmp_path / "photos")
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
    reader = Library.open(tmp_path / "lib")
    calls: list = []
    original = reader.catalog.vector_ids
    monkeypatch.setattr(reader.catalog, "vector_ids", lambda *a: calls.append(a) or original(*a))
    view = reader.store.view("semantic")
    assert calls == [] and view.delta is None and not len(view.removed)
    with Library.open(tmp_path / "lib") as writer, writer.catalog.transaction():  # a batch, no new file yet
        vectors = {space: np.eye(1, dim, dtype=np.float32) for space, dim in writer.model.spaces.items()}
        writer.catalog.add_content("f" * 32, "image", writer.model_id, (8, 8), [Item()], vectors)
    view = reader.store.view("semantic")
    assert len(calls) == 1 and view.delta is not None and view.delta.count() == 1
    reader.close()
