"""What a library's searches reuse between requests (search/cache.py) gives the results a fresh library
gives, and stops being used when the library changes: a new index run (by this library object or
another process's), a deleted file, a feedback vote."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_photos, skimage_data
from PIL import Image

from framefind import Library, Query

QUERIES = ["an animal", "a cup of coffee", "a rocket on the launch pad", "a cat -dog", "zzqx flurble"]


def _page(library: Library, query: Query):
    """Everything a page says, field by field: the score and each signal's evidence (cosine and relevance),
    the tiers, the folded near-duplicates, and what the cutoff did and how close each signal came."""
    page = library.search_page(query)
    results = [(r.key, r.path, r.score, r.why, r.pinned, r.boosted,
                [(m.signal, m.score, m.text, m.start, m.end, m.relevance) for m in r.matches],
                [(n.key, n.score) for n in r.near_duplicates]) for r in page.results]
    return results, page.below_cutoff, page.cutoff, page.closest, page.learned


def _queries(photo: Path) -> list[Query]:
    words = [Query.of(q, k=8, cutoff=cutoff) for q in QUERIES for cutoff in (True, False)]
    return words + [Query.of(image=photo, k=8)]


def _same_as_fresh(library: Library, queries: list[Query]) -> None:
    with Library.open(library.directory) as fresh:
        for query in queries:
            assert _page(library, query) == _page(fresh, query), query


@pytest.fixture
def indexed(tmp_path):
    photos = copy_photos(tmp_path / "photos", 6)
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        yield photos, library


def test_a_repeated_search_reads_nothing_again_and_gives_the_same_page(indexed, monkeypatch):
    photos, library = indexed
    query = Query.of("an animal", k=8)
    first = _page(library, query)
    embedded: list[list[str]] = []
    embed = library.model.embed_texts
    monkeypatch.setattr(library.model, "embed_texts", lambda texts: embedded.append(texts) or embed(texts))
    misses = library._searcher.cache.misses
    assert _page(library, query) == first
    assert library._searcher.cache.misses == misses and embedded == []  # vectors and words from memory
    _same_as_fresh(library, _queries(photos / "astronaut.png"))


def test_a_new_index_run_by_another_writer_is_seen(indexed):
    photos, reader = indexed
    queries = _queries(photos / "astronaut.png")
    _same_as_fresh(reader, queries)  # the reader's caches are full now
    assert "coffee.png" in [Path(r.path).name for r in reader.search("a cup of coffee", k=3, cutoff=False)]
    with Image.open(skimage_data() / "chelsea.png") as cat:  # new content: the cat, mirrored
        cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "another cat.png")
    (photos / "coffee.png").unlink()  # a result of "a cup of coffee" before
    with Library.open(reader.directory) as writer:  # as `framefind index` in another process
        report = writer.index()
        assert report.embedded == 1 and report.removed == 1
    generation = reader._searcher.cache._generation
    pages = {str(q): _page(reader, q) for q in queries}
    assert reader._searcher.cache._generation != generation
    assert not any(r[1].endswith("coffee.png") for page in pages.values() for r in page[0])
    top = reader.search(image=skimage_data() / "chelsea.png", k=1)[0]  # the new cat: folded into the old one
    assert [Path(top.path).name] + [Path(n.path).name for n in top.near_duplicates] == ["chelsea.png",
                                                                                        "another cat.png"]
    _same_as_fresh(reader, queries)


def test_an_index_run_by_the_library_itself_and_a_vote_are_seen(indexed):
    photos, library = indexed
    queries = _queries(photos / "astronaut.png")
    _same_as_fresh(library, queries)
    with Image.open(photos / "astronaut.png") as image:  # a near-duplicate: new content, folded into its original
        image.convert("RGB").resize((256, 256)).save(photos / "astronaut half.jpg", quality=85)
    assert library.index().embedded == 1
    top = library.search(image=photos / "astronaut.png", k=3)[0]
    assert [Path(n.path).name for n in top.near_duplicates] == ["astronaut half.jpg"]
    _same_as_fresh(library, queries)
    down = library.search(Query.of("an animal", k=8, cutoff=False))[0]
    library.feedback("an animal", down.key, -1)
    assert down.key not in [r.key for r in library.search(Query.of("an animal", k=8, cutoff=False))]
    _same_as_fresh(library, queries)
