"""Search that learns and knows when nothing matches: feedback, the relevance cutoff, filters (dates,
durations, labels) and near-duplicates folded into one result. Real photos, real model, real SQLite."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from conftest import cli_json, copy_photos, run_cli, skimage_data
from PIL import Image

from framefind import Library, Query
from framefind.errors import FrameFindError
from framefind.search import relevance


def _exif_copy(source: Path, target: Path, taken: str) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    Image.open(source).convert("RGB").save(target, "JPEG", quality=92, exif=exif)
    return target


@pytest.fixture(scope="module")
def learning_library(tmp_path_factory):
    """Photos and wallpapers; astronaut with a half-size and a q30 copy; three photos dated by EXIF."""
    base = tmp_path_factory.mktemp("learning")
    photos = copy_photos(base / "photos", 20)
    astronaut = Image.open(photos / "astronaut.png").convert("RGB")
    astronaut.resize((256, 256)).save(photos / "astronaut half.jpg", quality=90)
    astronaut.save(photos / "astronaut q30.jpg", quality=30)
    dated = base / "photos" / "dated"
    dated.mkdir()
    _exif_copy(skimage_data() / "chelsea.png", dated / "cat 2019.jpg", "2019:07:14 12:30:00")
    _exif_copy(skimage_data() / "coffee.png", dated / "coffee 2019.jpg", "2019:03:02 08:00:00")
    _exif_copy(skimage_data() / "horse.png", dated / "horse 2021.jpg", "2021:03:20 17:00:00")
    library = Library.open(base / "library")
    assert library.index([photos]).failed == 0
    yield photos, library
    library.close()


def _taken_in(photos: Path, year: int, months: tuple[int, ...] = ()) -> set[str]:
    """Names of the files taken in ``year`` (or in ``months`` of any year): EXIF when there, else mtime
    (some Debian wallpapers carry their own EXIF dates)."""
    from framefind.media.capture import capture_time

    out = set()
    for path in photos.rglob("*.*"):
        when = datetime.fromtimestamp(capture_time(path, "image") or path.stat().st_mtime)
        if (months and when.month in months) or (not months and when.year == year):
            out.add(path.name)
    return out


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


# -- the relevance cutoff ---------------------------------------------------------------------------------
# Page-level (settle.py): a word query whose best result reaches relevance.CUTOFF matched, and shows its results
# down to relevance.FLOOR; one whose best stays under CUTOFF matched nothing. Scores are probabilities.
LOREM = "lorem ipsum dolor"  # lore ##m, ip ##sum, do ##lor: no word the text model knows


@pytest.mark.parametrize("absent", ["zzqx flurble", "asdf qwerty", LOREM])
def test_letter_soup_matches_nothing(learning_library, absent):
    _, library = learning_library
    page = library.search_page(absent, k=10)
    assert page.results == [] and page.nothing_matched and page.below_cutoff > 0
    assert page.cutoff == relevance.CUTOFF and page.closest == {"visual": 0.0, "metadata": 0.0}  # no evidence
    everything = library.search(absent, k=10, cutoff=False)
    assert len(everything) == 10 and all(r.score == 0 for r in everything)  # --all: a full page anyway


def _cat(results) -> tuple[int, float]:
    """Rank and score of the cat (chelsea.png and its EXIF copy fold into one result); (len, 0) if absent."""
    for rank, r in enumerate(results):
        if {"chelsea.png", "cat 2019.jpg"} & ({Path(r.path).name} | {Path(n.path).name for n in r.near_duplicates}):
            return rank, r.score
    return len(results), 0.0


def test_a_page_that_matched_shows_results_down_to_the_floor(learning_library):
    _, library = learning_library
    page = library.search_page(Query.of("a cat", k=10, signals=("visual",)))  # the pictures (a name says "cat")
    assert _names(page.results)[0] in ("chelsea.png", "cat 2019.jpg")
    assert {"chelsea.png", "cat 2019.jpg"} <= set(_names(page.results)) | {
        Path(n.path).name for r in page.results for n in r.near_duplicates}
    assert not page.nothing_matched and page.results[0].score >= relevance.CUTOFF
    assert page.cutoff == relevance.FLOOR and page.closest == {"visual": page.results[0].score}
    everything = library.search(Query.of("a cat", k=10, cutoff=False, signals=("visual",)))
    shown = [r.key for r in everything if r.score >= relevance.FLOOR]
    assert [r.key for r in page.results] == shown and 1 < len(shown) < 10  # more than the cat, not the page
    assert page.below_cutoff > 0 and everything[len(shown)].score < relevance.FLOOR


def test_nothing_matched_when_no_result_reaches_the_cutoff(learning_library):
    """A word query whose best is close (over FLOOR) but under CUTOFF shows nothing, not its near misses."""
    _, library = learning_library
    everything = library.search("a tennis ball", k=10, cutoff=False)
    best = everything[0].score
    assert relevance.FLOOR <= best < relevance.CUTOFF, best  # a page that matched would show these
    assert sum(r.score >= relevance.FLOOR for r in everything) > 1
    page = library.search_page("a tennis ball", k=10)
    assert page.results == [] and page.nothing_matched and page.below_cutoff >= len(everything)
    assert page.cutoff == relevance.CUTOFF and page.closest == {"visual": best, "metadata": 0.0}
    assert f"{best:.3f}" in page.why_nothing() and f"{relevance.CUTOFF:.3f}" in page.why_nothing()


def test_a_subtraction_moves_results_and_is_judged_on_what_the_query_asks_for(learning_library, monkeypatch):
    """ "an animal -cat": the cat drops out and the other animals still match; letter soup minus a word still
    names nothing (whether words name anything is judged on the terms asked for, not on the subtracted ones)."""
    _, library = learning_library
    rank, score = _cat(library.search("an animal", k=40, cutoff=False))
    assert rank < 3 and score >= relevance.CUTOFF  # without the subtraction the cat is an animal that matches
    minus_rank, minus_score = _cat(library.search('an animal -"a cat"', k=40, cutoff=False))
    assert minus_rank > rank + 3 and minus_score < relevance.FLOOR
    said = []
    judged = library._searcher.visual_context
    monkeypatch.setattr(library._searcher, "visual_context", lambda space, vector, words:
                        said.append(words) or judged(space, vector, words))
    page = library.search_page('an animal -"a cat"', k=10)
    assert said == ["an animal"]
    assert not page.nothing_matched and page.cutoff == relevance.FLOOR
    assert _names(page.results)[0] in ("horse.png", "horse 2021.jpg") and _cat(page.results)[0] == len(page.results)
    soup = library.search_page('zzqx flurble -"a cat"', k=10)
    assert soup.nothing_matched and soup.closest == {"visual": 0.0, "metadata": 0.0} and said[-1] == "zzqx flurble"


def test_cli_says_nothing_matched_and_json_is_empty(learning_library):
    _, library = learning_library
    proc = run_cli("search", "zzqx flurble", "--library", str(library.directory))
    assert proc.stdout.strip() == "" and "nothing matched well" in proc.stderr and "--all" in proc.stderr
    assert cli_json("search", "zzqx flurble", "--library", str(library.directory)) == []
    assert len(cli_json("search", "zzqx flurble", "--all", "-k", "4", "--library", str(library.directory))) == 4


# -- feedback ------------------------------------------------------------------------------------------------
def test_feedback_moves_the_ranking_and_survives_a_move(tmp_path):
    photos = copy_photos(tmp_path / "photos", 20)
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        before = library.search("an animal", k=12, cutoff=False)
        liked = before[6]  # a result well down the page
        similar_before = _rank(library.search("animals", k=30, cutoff=False), liked.key)
        library.feedback("An  animal", liked.key, 1)  # case and spacing do not matter
        after = library.search("an animal", k=12, cutoff=False)
        assert after[0].key == liked.key and after[0].pinned
        # Rocchio moved the query itself: a similar query, with nothing pinned, ranks it higher too.
        similar = library.search_page(Query.of("animals", k=30, cutoff=False))
        assert similar.learned == 1 and _rank(similar.results, liked.key) < similar_before
        disliked = after[1]
        library.feedback("an animal", disliked.key, -1)
        again = library.search("an animal", k=12, cutoff=False)
        assert disliked.key not in [r.key for r in again] and again[0].key == liked.key
        assert library.search_page(Query.of("an animal", k=12, cutoff=False, learn=False)).learned == 0
        unlearned = library.search(Query.of("an animal", k=12, cutoff=False, learn=False))
        assert [r.key for r in unlearned] == [r.key for r in before]

    # Move the liked file and re-index: the vote follows the content.
    moved = photos / "elsewhere"
    moved.mkdir()
    shutil.move(liked.path, moved / Path(liked.path).name)
    with Library.open(tmp_path / "lib") as library:
        report = library.index()
        assert report.embedded == 0 and report.linked == 1
        top = library.search("an animal", k=5, cutoff=False)[0]
        assert top.key == liked.key and top.path == str(moved / Path(liked.path).name) and top.pinned


def _rank(results, key: str) -> int:
    keys = [r.key for r in results]
    return keys.index(key) if key in keys else len(keys)


def test_feedback_on_one_query_helps_a_similar_one(tmp_path):
    photos = copy_photos(tmp_path / "photos", 20)
    with Library.open(tmp_path / "lib") as library:
        library.index([photos])
        target = library.search("some animals", k=20, cutoff=False)[5]
        before = _rank(library.search("some animals", k=40, cutoff=False), target.key)
        library.feedback("an animal", target.key, 1)
        page = library.search_page(Query.of("some animals", k=40, cutoff=False))
        assert page.learned == 1 and not any(r.pinned for r in page.results)  # borrowed, not pinned
        after = _rank(page.results, target.key)
        assert after < before, (before, after)
        far = library.search_page(Query.of("a brick wall", k=40, cutoff=False))
        assert far.learned == 0  # feedback on unrelated queries does not carry over


def test_cli_feedback_by_path_and_export_as_golden_queries(tmp_path):
    photos = copy_photos(tmp_path / "photos", 10)
    lib = str(tmp_path / "lib")
    run_cli("index", str(photos), "--library", lib, "-q")
    rocket = str(photos / "rocket.jpg")
    proc = run_cli("feedback", "something that flies", rocket, "--up", "--library", lib)
    assert "noted" in proc.stderr
    assert cli_json("search", "something that flies", "--library", lib)[0]["path"] == rocket
    listed = cli_json("feedback", "--library", lib)
    assert [(row["query"], row["vote"]) for row in listed] == [("something that flies", "up")]
    golden = tmp_path / "golden.json"
    run_cli("feedback", "--export", str(golden), "--library", lib)
    data = json.loads(golden.read_text())
    assert data["queries"] == [{"text": "something that flies", "relevant": [rocket]}]
    from framefind.eval.datasets import load_dataset

    dataset = load_dataset(golden)  # what framefind eval reads
    assert [q.text for q in dataset.queries] == ["something that flies"] and not dataset.notes
    assert dataset.queries[0].targets[0].path == rocket and dataset.roots == [str(photos)]
    bad = run_cli("feedback", "q", str(tmp_path / "nope.jpg"), "--up", "--library", lib, check=False)
    assert bad.returncode == 1 and "not in this library" in bad.stderr and "Traceback" not in bad.stderr


# -- filters ---------------------------------------------------------------------------------------------------
def test_dates_typed_in_the_query_filter_by_capture_date(learning_library):
    photos, library = learning_library
    page = library.search_page("a photo 2019", k=10)
    shown = set(_names(page.results)) | {Path(n.path).name for r in page.results for n in r.near_duplicates}
    assert page.dates and "2019-01-01 to 2019-12-31" in page.dates
    in_2019 = _taken_in(photos, 2019)
    assert {"cat 2019.jpg", "coffee 2019.jpg"} <= in_2019 and len(in_2019) < 10
    all_2019 = library.search(Query.of("a photo 2019", k=10, cutoff=False))
    assert set(_names(all_2019)) == in_2019  # k=10: every one taken then, and nothing else
    assert page.results and shown <= in_2019
    march = library.search(Query.of("a photo in March", k=30, cutoff=False))
    assert {"coffee 2019.jpg", "horse 2021.jpg"} <= set(_names(march)) == _taken_in(photos, 0, (3,))
    quoted = Query.of('"2019" poster')
    assert quoted.filters.dates is None and quoted.terms[0].value == "2019 poster"
    with pytest.raises(FrameFindError, match="only a date"):
        Query.of("2019")


def test_files_without_exif_are_dated_by_modification_time(learning_library):
    photos, library = learning_library
    old = datetime(2015, 6, 1, 12, 0).timestamp()
    os.utime(photos / "rocket.jpg", (old, old))
    library.index()  # the changed mtime is seen; the content is not re-embedded
    found = library.search(Query.of("a rocket in 2015", k=10, cutoff=False))
    assert _names(found)[0] == "rocket.jpg" and set(_names(found)) == _taken_in(photos, 2015)


def test_label_filter_and_boost(learning_library):
    _, library = learning_library
    cats = library.search(Query.of("an animal", k=10, cutoff=False, labels=("cat",)))
    assert set(_names(cats)) | {n.path.rsplit("/", 1)[-1] for r in cats for n in r.near_duplicates} == {
        "chelsea.png", "cat 2019.jpg"}  # exactly the cats, however many results were asked for
    assert not library.search(Query.of("an animal", k=10, cutoff=False, labels=("xylophone",)))
    boosted = library.search(Query.of("a photo", k=10, cutoff=False, boost_labels=("espresso",)))
    assert _names(boosted)[0] in ("coffee.png", "coffee 2019.jpg")
    labels = dict(library.labels())
    assert sum(labels.values()) == 3 * library.info()["items"]  # every item's top 3


def test_cli_filters_and_bad_dates(learning_library):
    _, library = learning_library
    lib = str(library.directory)
    rows = cli_json("search", "a photo", "--all", "--from", "2019", "--to", "2019-12", "--library", lib)
    assert {Path(r["path"]).name for r in rows} == _taken_in(Path(library.catalog.roots()[0]), 2019)
    bad = run_cli("search", "a photo", "--from", "someday", "--library", lib, check=False)
    assert bad.returncode == 1 and "not a date" in bad.stderr and "Traceback" not in bad.stderr
    none = cli_json("search", "a photo", "--all", "--min-duration", "1", "--library", lib)
    assert none == []  # a duration bound keeps videos only, and this library has none


# -- near-duplicates in results ----------------------------------------------------------------------------------
def test_near_duplicates_fold_into_one_result(learning_library):
    photos, library = learning_library
    results = library.search(image=photos / "astronaut.png", k=5)
    top = results[0]
    assert Path(top.path).name == "astronaut.png"
    assert sorted(Path(n.path).name for n in top.near_duplicates) == ["astronaut half.jpg", "astronaut q30.jpg"]
    others = {Path(r.path).name for r in results[1:]}
    assert not others & {"astronaut half.jpg", "astronaut q30.jpg"}  # no false members, no second slots
    assert all(not r.near_duplicates for r in results[1:])


def test_rest_api_cutoff_dates_labels_feedback_export(learning_library):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    photos, library = learning_library
    with TestClient(create_app(library.directory)) as client:
        nothing = client.get("/api/search", params={"q": "zzqx flurble"}).json()
        assert nothing["results"] == [] and nothing["nothing_matched"] and nothing["below_cutoff"] > 0
        assert nothing["cutoff"] == relevance.CUTOFF and nothing["closest"] == {"visual": 0.0, "metadata": 0.0}
        full = client.get("/api/search", params={"q": "zzqx flurble", "all": "true", "k": 5}).json()
        assert len(full["results"]) == 5
        dated = client.get("/api/search", params={"q": "a photo 2019", "all": "true"}).json()
        assert "2019-01-01 to 2019-12-31" in dated["dates"]
        assert {r["name"] for r in dated["results"]} == _taken_in(photos, 2019)
        kept = client.get("/api/search", params={"q": "a photo 2019", "all": "true", "read_dates": "false"}).json()
        assert kept["dates"] is None and len(kept["results"]) > len(dated["results"])
        cats = client.get("/api/search", params={"q": "an animal", "all": "true", "label": "cat"}).json()
        names = {r["name"] for r in cats["results"]}
        assert names | {n["name"] for r in cats["results"] for n in r["near_duplicates"]} == {"chelsea.png",
                                                                                              "cat 2019.jpg"}
        astronaut = client.get("/api/search", params={"q": "an astronaut", "all": "true"}).json()["results"]
        folded = next(r for r in astronaut if r["name"].startswith("astronaut"))  # the best of three copies
        assert {folded["name"], *(n["name"] for n in folded["near_duplicates"])} == {
            "astronaut.png", "astronaut half.jpg", "astronaut q30.jpg"}
        assert client.get(folded["near_duplicates"][0]["thumbnail_url"]).content[:2] == b"\xff\xd8"
        labels = client.get("/api/labels").json()["labels"]
        counts = [row["count"] for row in labels]
        assert counts and counts == sorted(counts, reverse=True)
        bad = client.get("/api/search", params={"q": "a photo", "after": "someday"})
        assert bad.status_code == 400 and "not a date" in bad.json()["error"]
        vote = client.post("/api/feedback", json={"query": "An Astronaut", "key": folded["key"], "vote": "up"}).json()
        assert vote["query"] == "an astronaut"
        golden = client.get("/api/feedback/export")
        assert "attachment" in golden.headers["content-disposition"]
        assert {"text": "an astronaut", "relevant": [folded["path"]]} in golden.json()["queries"]


def test_a_selective_filter_still_returns_k_results(learning_library):
    """Filters run inside the vector search: a label most items lack still fills the page."""
    _, library = learning_library
    label, count = library.labels()[0]  # the most frequent label: still a few items of 40
    assert 2 <= count < 10
    labelled = {row[0] for row in library.catalog.db.execute(
        "SELECT i.hash FROM labels l JOIN items i ON i.id = l.item_id WHERE l.label = ?", (label,))}
    for k in (count, count + 5):
        results = library.search(Query.of("a picture", k=k, cutoff=False, labels=(label,)))
        folded = [n.key for r in results for n in r.near_duplicates]
        assert len(results) + len(folded) == count, (label, k, count)  # all of them, however far down
        assert all(library.key_of(key).content in labelled for key in [r.key for r in results] + folded)
