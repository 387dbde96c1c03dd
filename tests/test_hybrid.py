"""Search by what is said and what is written, fused with visual search: real espeak-ng speech, text
rendered into real photos and frames, scikit-image's printed page, Whisper tiny.en and RapidOCR."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli_json, run_cli, skimage_data
from PIL import Image, ImageDraw, ImageFont
from speech_media import spoken_video
from videos import need, slideshow

from framefind import Library, Query
from framefind.store.enrich import enrich, pending

SAID = [(2.0, "the quarterly budget is ready"), (12.0, "we meet in the garden tomorrow")]


def _sign(target: Path, words: str) -> Path:
    """A real photo with a big caption rendered on it (a sign, a slide title)."""
    image = Image.open(skimage_data() / "rocket.jpg").convert("RGB")
    draw = ImageDraw.Draw(image)
    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
    font = ImageFont.truetype(str(font_path), 40) if font_path.exists() else ImageFont.load_default(40)
    draw.rectangle((20, 150, image.width - 20, 230), fill="white")
    draw.text((40, 165), words, fill="black", font=font)
    image.save(target)
    return target


def _spoken(target: Path, lines: list[tuple[float, str]], duration: float, photos: list[Path]) -> Path:
    """A spoken video made in a work folder beside ``target``'s (its intermediate files stay out of the library)."""
    work = target.parent.parent / "work"
    work.mkdir(exist_ok=True)
    return shutil.move(spoken_video(work / target.name, lines, duration, photos), target)


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory):
    need("espeak-ng", "espeak-ng")
    need("ffmpeg", "ffmpeg")
    base = tmp_path_factory.mktemp("hybrid")
    media = base / "media"
    media.mkdir()
    for name in ("chelsea.png", "coffee.png", "horse.png", "page.png", "camera.png"):
        shutil.copy(skimage_data() / name, media / name)
    photos = [skimage_data() / name for name in ("chelsea.png", "coffee.png", "horse.png", "rocket.jpg")]
    _spoken(media / "meeting.mp4", SAID, 20.0, photos)
    sign = _sign(base / "sign.png", "OPEN HOUSE SUNDAY")
    slideshow(media / "slides.mp4", [(skimage_data() / "chelsea.png", 4.0), (sign, 4.0),
                                      (skimage_data() / "coffee.png", 4.0)])
    library = Library.open(base / "library")
    report = library.index([media], transcribe=True, ocr=True)
    assert report.failed == 0 and not report.interrupted
    yield media, library
    library.close()


def _speech(result) -> list:
    return [m for m in result.matches if m.signal == "speech"]


@pytest.mark.parametrize("words,at", [("quarterly budget", 2.0), ("garden tomorrow", 12.0)])
def test_spoken_phrases_are_found_at_their_time(hybrid, words, at):
    _, library = hybrid
    top = library.search(words, k=5)[0]
    assert Path(top.path).name == "meeting.mp4", [(r.path, r.matches) for r in library.search(words, k=5)]
    said = _speech(top)
    assert said and abs(said[0].start - at) <= 1.0 and top.start <= at + 1.0 <= top.end + 1.0
    assert "«" in said[0].text  # the matched words are marked for highlighting


def test_text_written_in_frames_is_found_at_its_time(hybrid):
    _, library = hybrid
    top = library.search("open house", k=5)[0]
    written = [m for m in top.matches if m.signal == "text"]
    assert Path(top.path).name == "slides.mp4" and written
    assert 3.0 <= written[0].start <= 5.0 and written[0].end <= 9.0  # the sign is shown from 4 s to 8 s


def test_a_printed_page_is_found_by_its_words(hybrid):
    _, library = hybrid
    for words in ("histogram of grey values", '"region-based segmentation"'):
        top = library.search(words, k=3)[0]
        assert Path(top.path).name == "page.png" and any(m.signal == "text" for m in top.matches), words


def test_only_restricts_the_signals(hybrid):
    _, library = hybrid
    spoken = library.search(Query.of("quarterly budget", signals=("speech",)))
    assert spoken and all(_speech(r) and {m.signal for m in r.matches} == {"speech"} for r in spoken)
    pictures = library.search(Query.of("quarterly budget", signals=("visual",), cutoff=False))
    assert pictures and all([m.signal for m in r.matches] == ["visual"] for r in pictures)  # plain image search
    assert all(r.score == round(r.matches[0].relevance, 3) for r in pictures)  # the picture's relevance is the score


def test_cli_and_rest_show_why_it_matched(hybrid):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    _, library = hybrid
    lib = str(library.directory)
    rows = cli_json("search", "quarterly budget", "--only", "speech", "--library", lib)
    match = rows[0]["matches"][0]
    assert match["signal"] == "speech" and "«budget»" in match["text"].lower() and abs(match["start"] - 2) <= 1
    table = run_cli("search", "quarterly budget", "--library", lib).stdout
    assert "meeting.mp4" in table and ("said 1." in table or "said 2." in table) and "budget" in table
    bad = run_cli("search", "x", "--only", "smell", "--library", lib, check=False)
    assert bad.returncode == 1 and "unknown" in bad.stderr and "Traceback" not in bad.stderr
    with TestClient(create_app(library.directory)) as client:
        body = client.get("/api/search", params={"q": "garden tomorrow", "only": "speech"}).json()
        assert body["results"][0]["matches"][0]["signal"] == "speech"
        status = client.get("/api/status").json()
        assert status["passes"] == ["ocr", "speech"] and status["passages"] >= 3


def test_silent_and_unspoken_content_costs_nothing_and_everything_is_done(hybrid):
    media, library = hybrid
    assert pending(library.catalog, "speech") == [] and pending(library.catalog, "ocr") == []
    said = library.catalog.db.execute(
        "SELECT COUNT(*) FROM texts t JOIN files f ON f.hash = t.hash WHERE t.source = 'speech' "
        "AND f.path LIKE '%slides.mp4'").fetchone()[0]
    assert said == 0  # the slideshow has no speech: nothing transcribed, no junk phrases


def test_an_interrupted_pass_resumes_where_it_stopped(tmp_path):
    need("espeak-ng", "espeak-ng")
    media = tmp_path / "media"
    media.mkdir()
    photos = [skimage_data() / "chelsea.png", skimage_data() / "coffee.png"]
    for number, words in enumerate(["the first video talks about apples", "the second video is about the weather"]):
        _spoken(media / f"talk{number}.mp4", [(1.0, words)], 6.0, photos)
    with Library.open(tmp_path / "lib") as library:
        library.index([media])  # pictures only
        calls = []

        def stop_after_one() -> bool:
            return len(calls) >= 1

        from framefind.store import enrich as passes

        original = passes.RUNNERS["speech"]

        def counting(path, kind, stopped):
            calls.append(path)
            return original(path, kind, stopped)

        passes.RUNNERS["speech"] = counting
        try:
            first = enrich(library.catalog, ["speech"], library.text_encoder, stopped=stop_after_one)
            assert first.interrupted and first.done["speech"] == 0 and len(pending(library.catalog, "speech")) == 2
            calls.clear()
            first = enrich(library.catalog, ["speech"], library.text_encoder,
                           stopped=lambda: len(calls) >= 2)  # one video done, then a stop
            assert first.interrupted and first.done["speech"] == 1
            calls.clear()
            second = enrich(library.catalog, ["speech"], library.text_encoder)
        finally:
            passes.RUNNERS["speech"] = original
        assert not second.interrupted and second.done["speech"] == 1 and len(calls) == 1  # only the other one
        assert Path(library.search("weather", k=1)[0].path).name == "talk1.mp4"
        assert Path(library.search(Query.of("apples", signals=("speech",)))[0].path).name == "talk0.mp4"


def test_prefix_queries_and_kill_9_during_transcription(tmp_path):
    """``quart*`` is a prefix; a transcription pass killed with SIGKILL resumes, nothing doubled."""
    import signal
    import sqlite3

    from paused_cli import PausedIndex

    need("espeak-ng", "espeak-ng")
    media = tmp_path / "media"
    media.mkdir()
    photos = [skimage_data() / "chelsea.png", skimage_data() / "coffee.png"]
    # Five different things a list: the same sentence five times with new numbers is a "repetition" to Whisper
    # (its window's compression ratio over 2.4), which then samples at a higher temperature: on some CPUs a line
    # came out as nothing.
    things = ("a red bicycle", "fresh bread from the bakery", "two tickets to Lisbon", "a new umbrella",
              "batteries for the radio")
    lines = [[(1.0 + 6 * i, f"on the {topic} list: {thing}") for i, thing in enumerate(things)]
             for topic in ("quarterly", "garden", "kitchen", "travel")]
    for number, said in enumerate(lines):
        _spoken(media / f"list{number}.mp4", said, 32.0, photos)
    lib = tmp_path / "lib"
    run_cli("index", str(media), "--library", str(lib), "-q")  # pictures first: the run below is the pass alone
    with PausedIndex("enrich:1", "--transcribe", "-q", "--library", str(lib)) as proc:
        proc.paused()  # one video's transcript committed, the next not begun
        proc.signal(signal.SIGKILL)
        assert proc.finish(timeout=60)[0] == -signal.SIGKILL
    with sqlite3.connect(lib / "catalog.sqlite") as db:
        finished = db.execute("SELECT hash, at FROM enriched WHERE pass = 'speech'").fetchall()
    db.close()
    assert len(finished) == 1, finished  # killed in the middle of the pass
    run_cli("index", "--library", str(lib), "-q")  # the setting is kept: the pass resumes
    with Library.open(lib) as library:
        db = library.catalog.db
        after = dict(db.execute("SELECT hash, at FROM enriched WHERE pass = 'speech'").fetchall())
        assert len(after) == 4 and all(after[content] == at for content, at in finished)  # done ones not redone
        rows = db.execute("SELECT hash, start, COUNT(*) FROM texts WHERE source = 'speech' GROUP BY hash, start"
                          ).fetchall()
        assert len(rows) == 20 and all(count == 1 for _, _, count in rows)  # 4 videos x 5 lines, none twice
        said = db.execute("SELECT COUNT(*) FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid "
                          "WHERE t.source = 'speech'").fetchone()[0]
        assert said == 20 and db.execute("SELECT COUNT(*) FROM texts_fts").fetchone()[0] == db.execute(
            "SELECT COUNT(*) FROM texts").fetchone()[0]  # the full-text index agrees
        assert pending(library.catalog, "speech") == []
        top = library.search(Query.of("quart*", signals=("speech",)))[0]
        assert Path(top.path).name == "list0.mp4" and "«quarterly»" in top.matches[0].text.lower()
        assert top.score > 0.5  # judged by the word the prefix matched ("quarterly"), not by "quart"


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def test_min_score_keeps_exactly_the_results_whose_shown_score_reaches_it(hybrid):
    _, library = hybrid
    lib = str(library.directory)
    for words in ("a cat", "quarterly budget"):
        everything = library.search(Query.of(words, k=50, cutoff=False, learn=False))
        scores = sorted({r.score for r in everything})
        floor = scores[len(scores) // 2]  # a score some results have: ">=" must keep them
        expected = [r.key for r in everything if r.score >= floor]
        assert 0 < len(expected) < len(everything)
        kept = library.search(Query.of(words, k=50, cutoff=False, learn=False, min_score=floor))
        assert [r.key for r in kept] == expected
        rows = cli_json("search", words, "--all", "-k", "50", "--no-learn", "--min-score", str(floor), "--library", lib)
        assert [row["key"] for row in rows] == expected and all(row["score"] >= floor for row in rows)
        cut = library.search(Query.of(words, k=50, learn=False, min_score=floor))  # on top of the cutoff
        assert {r.key for r in cut} <= set(expected)


def test_a_picture_scores_the_same_with_or_without_texts_in_the_library(hybrid, tmp_path):
    """The score means the same in every library: a photo found by its picture alone scores the same in a
    library with transcripts and on-screen text as in a library of pictures only."""
    media, library = hybrid
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "horse.png"):
        shutil.copy(media / name, photos / name)
    with Library.open(tmp_path / "pictures-only") as alone:
        alone.index([photos])
        for words in ("a cat", "a cup of coffee", "a horse"):
            fused = {Path(r.path).name: r.score for r in library.search(Query.of(words, k=20, cutoff=False))}
            plain = {Path(r.path).name: r.score for r in alone.search(Query.of(words, k=20, cutoff=False))}
            assert plain and all(fused[name] == score for name, score in plain.items()), (words, fused, plain)


def test_nothing_matched_says_which_signals_were_searched_and_how_close_they_came(hybrid):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app
    from framefind.search.relevance import CUTOFF

    _, library = hybrid
    lib = str(library.directory)
    page = library.search_page(Query.of("zzqx flurble"))
    assert page.nothing_matched and page.cutoff == CUTOFF and set(page.closest) == {"visual", "speech", "text",
                                                                                             "metadata"}
    assert all(0 <= p < CUTOFF for p in page.closest.values())
    said = run_cli("search", "zzqx flurble", "--library", lib)
    assert "closest came to" in said.stderr and "speech" in said.stderr and "on-screen text" in said.stderr
    as_json = run_cli("search", "zzqx flurble", "--json", "--library", lib)
    assert as_json.stdout.strip() == "[]" and "closest came to" in as_json.stderr
    with TestClient(create_app(library.directory)) as client:
        body = client.get("/api/search", params={"q": "zzqx flurble"}).json()
    assert body["nothing_matched"] and body["cutoff"] == CUTOFF and body["closest"] == page.closest
    assert "floor" not in body  # 0.6.0's cosine floor (and its 9.0 "nothing can match") is gone
    closest = library.search_page(Query.of("zzqx flurble", cutoff=False))
    assert closest.results and max(r.score for r in closest.results) == max(page.closest.values())


def test_a_spoken_phrase_that_matches_is_never_cut_by_the_pictures(hybrid):
    _, library = hybrid
    for words in ("quarterly budget", "garden tomorrow", "open house"):
        page = library.search_page(Query.of(words, k=5))
        top = page.results[0]
        signals = {m.signal: m.relevance for m in top.matches}
        assert not page.nothing_matched and Path(top.path).suffix == ".mp4", words
        assert max(signals.get("speech") or 0, signals.get("text") or 0) > 0.5 > (signals.get("visual") or 0), signals


def test_pins_and_label_boosts_rank_above_fused_scores(hybrid):
    """Liked for this query: first whatever speech found; a similar query borrows the vote (moves, not
    pins); a boosted label outranks fused scores too (in a library with transcripts and on-screen text)."""
    media, library = hybrid
    words, similar = "quarterly budget", "quarterly budgets"
    plain = library.search(Query.of(words, k=30, cutoff=False, learn=False))
    assert _names(plain)[0] == "meeting.mp4" and "horse.png" in _names(plain)[1:]
    horse = next(r for r in plain if Path(r.path).name == "horse.png")
    before = _names(library.search(Query.of(similar, k=30, cutoff=False, learn=False))).index("horse.png")
    try:
        library.feedback(words, str(media / "horse.png"), 1)
        liked = library.search_page(Query.of(words, k=10))
        assert _names(liked.results)[0] == "horse.png" and liked.results[0].pinned and liked.learned == 1
        assert liked.results[0].score < liked.results[1].score  # a tier above the scores, not a higher score
        borrowed = library.search(Query.of(similar, k=30, cutoff=False))
        assert not any(r.pinned for r in borrowed) and _names(borrowed).index("horse.png") < before
        library.feedback(words, str(media / "horse.png"), -1)  # changed my mind: hidden for this query
        assert "horse.png" not in _names(library.search(Query.of(words, k=30, cutoff=False)))
    finally:
        library.catalog.db.execute("DELETE FROM feedback")
    label = horse.why[0]
    boosted = library.search(Query.of(words, k=10, cutoff=False, learn=False, boost_labels=(label,)))
    order = [r.boosted for r in boosted]
    assert boosted[0].boosted and order == sorted(order, reverse=True)  # boosted first, then the rest
    spoken = next(r for r in boosted if _speech(r))  # the budget moment, found by speech: no such label there
    assert not spoken.boosted and spoken.score > max(r.score for r in boosted if r.boosted)


def test_a_weak_keyword_hit_never_makes_a_search_match(hybrid):
    """A phrase holding one of the words but far in meaning ("budget airline tickets" / "The quarterly
    budget is ready") adds to a result on a page that matched, but cannot make a page match."""
    from framefind.search.relevance import CUTOFF

    _, library = hybrid
    words = "budget airline tickets"
    full = library.search_page(Query.of(words, k=30, cutoff=False, learn=False))
    said = [m for r in full.results for m in _speech(r)]
    assert said and said[0].score < 0.5  # holds "budget" only, far in meaning
    assert said[0].relevance > CUTOFF  # on its own score it would have made the page match
    cut = library.search_page(Query.of(words, learn=False))
    pictures = library.search_page(Query.of(words, learn=False, signals=("visual",)))
    assert pictures.nothing_matched and cut.nothing_matched  # no picture matches, and the weak phrase rescues nothing
    assert cut.closest["speech"] == round(said[0].relevance, 3)  # ...and says how close it came
    strong = library.search_page(Query.of("quarterly budget", learn=False))
    assert not strong.nothing_matched and _speech(strong.results[0])  # all the words: a match
