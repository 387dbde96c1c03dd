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
    assert pictures and all(not r.matches for r in pictures)  # visual alone: plain image search, as before


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
    lines = [[(1.0 + 6 * i, f"item number {i} of the {topic} list") for i in range(5)]
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
        rows = db.execute("SELECT hash, start, COUNT(*) FROM texts GROUP BY hash, start").fetchall()
        assert len(rows) == 20 and all(count == 1 for _, _, count in rows)  # 4 videos x 5 lines, none twice
        assert db.execute("SELECT COUNT(*) FROM texts_fts").fetchone()[0] == 20  # the full-text index agrees
        assert pending(library.catalog, "speech") == []
        top = library.search(Query.of("quart*", signals=("speech",)))[0]
        assert Path(top.path).name == "list0.mp4" and "«quarterly»" in top.matches[0].text.lower()
