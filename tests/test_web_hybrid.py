"""The web UI for search by what is said and what is written, end to end in Debian's Chromium.

A real library: the scikit-image photos (page.png holds a printed page) and a video whose sound track
says two lines with espeak-ng, indexed with speech transcription (Whisper) and text reading (OCR) on,
as ``Library.index(..., transcribe=True, ocr=True)`` does. The real REST server, the real page. As in
test_web.py, each test compares what the page shows with what the API answers for the same question.
Screenshots go to tests/artifacts/web-hybrid-*.png for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import test_web
from conftest import SKIMAGE_PHOTOS, skimage_data
from speech_media import spoken_video
from test_web import (
    INDEX_RUN_MS,
    api_answer,
    card_keys,
    screenshot,
    search,
    wait_for_animations,
    wait_for_keys,
    wait_for_thumbnails,
    wait_for_video_frame,
    why_nothing,
)
from videos import need

# The browser, server and page machinery of test_web.py, over this module's own library.
browser = test_web.browser
server = test_web.server
api = test_web.api
page = test_web.page

SAID = [(2.0, "the quarterly budget is ready"), (12.0, "we meet in the garden tomorrow")]
VIDEO_SECONDS = 20.0
PRINTED = "histogram"  # printed on page.png ("histogram of grey values")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    need("espeak-ng", "espeak-ng")
    need("ffmpeg", "ffmpeg")
    base = tmp_path_factory.mktemp("hybrid-web")
    folder = base / "media"
    folder.mkdir()
    for name in SKIMAGE_PHOTOS:
        shutil.copy(skimage_data() / name, folder / name)
    work = base / "work"  # the sound track and the silent pictures stay out of the library
    work.mkdir()
    photos = [skimage_data() / name for name in ("chelsea.png", "coffee.png", "horse.png", "rocket.jpg")]
    shutil.move(spoken_video(work / "meeting.mp4", SAID, VIDEO_SECONDS, photos), folder / "meeting.mp4")
    return folder


@pytest.fixture(scope="module")
def library_dir(media) -> Path:
    from framefind import Library

    directory = media.parent / "library"
    with Library.open(directory) as library:
        report = library.index([media], transcribe=True, ocr=True)
        assert report.failed == 0 and not report.interrupted, report
        assert library.enrichment() == ["ocr", "speech"]
    return directory


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def shot(page, name: str) -> Path:
    return screenshot(page, f"hybrid-{name}")


def url_params(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def seconds(clock: str) -> int:
    """"0:02" -> 2, "1:02:03" -> 3723."""
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


def passages(result: dict, signal: str) -> list[dict]:
    return [m for m in result["matches"] if m["signal"] == signal]


def marked(text: str) -> list[str]:
    return re.findall(r"«([^«»]*)»", text)


def check_passage(card, match: dict, label: str) -> None:
    """The card's passage says ``label``, shows the words without «», and marks exactly the marked words."""
    passage = card.locator(".passage")
    assert passage.count() == 1 and passage.is_visible()
    assert passage.get_attribute("data-signal") == match["signal"]
    assert passage.locator(".signal-label").inner_text() == label
    assert passage.locator(".passage-text").inner_text() == match["text"].replace("«", "").replace("»", "")
    assert passage.locator("mark").all_inner_texts() == marked(match["text"])
    assert "«" not in card.inner_text()
    box = passage.bounding_box()  # two lines at most: the card keeps its size
    assert box["height"] <= 2 * 1.4 * 12.5 + 2, box


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def test_said_words_find_the_video_moment(page, api):
    words = "quarterly budget"
    answer = api_answer(api, words)
    top = answer["results"][0]
    said = passages(top, "speech")
    assert top["name"] == "meeting.mp4" and said, answer["results"][:3]
    assert abs(said[0]["start"] - SAID[0][0]) <= 1.0 and marked(said[0]["text"]) == ["quarterly", "budget"], said

    search(page, words)
    wait_for_keys(page, answer["results"])
    card = page.locator(".card").first
    assert card.get_attribute("data-key") == top["key"]
    check_passage(card, said[0], "Said")
    assert abs(seconds(card.locator(".passage .signal-time").inner_text()) - SAID[0][0]) <= 1
    assert card.locator(".passage .signal-tag svg use").get_attribute("href") == "#i-speech"
    assert card.locator(".time").inner_text() == f"0:0{int(top['start'])}–0:0{int(top['end'])}"  # a moment
    label = card.get_attribute("aria-label")
    assert "Said at 0:0" in label and "the quarterly budget is ready" in label.lower(), label
    # Only results with speech or text evidence get a passage; pictures matched by sight keep today's card.
    with_passage = [r["key"] for r in answer["results"] if passages(r, "speech") or passages(r, "text")]
    assert page.eval_on_selector_all(".card:has(.passage)", "cs => cs.map(c => c.dataset.key)") == with_passage
    wait_for_thumbnails(page)
    shot(page, "said")


def test_speech_only_and_back(page, api, server):
    words = "quarterly budget"
    group = page.locator("#signals")
    assert group.is_visible()  # the library reads speech and text
    assert group.locator(".seg:visible").all_inner_texts() == ["Everything", "Pictures", "Speech", "Text",
                                                                "File words"]
    assert group.locator("[aria-pressed=true]").inner_text() == "Everything"
    search(page, words)
    only_speech = api_answer(api, words, only="speech")["results"]
    assert only_speech and all(passages(r, "speech") and not passages(r, "text") for r in only_speech)

    with page.expect_request(lambda r: "/api/search?" in r.url and "only=speech" in r.url) as asked:
        group.get_by_role("button", name="Speech").click()
    assert parse_qs(urlsplit(asked.value.url).query)["q"] == [words]
    wait_for_keys(page, only_speech)
    assert group.get_by_role("button", name="Speech").get_attribute("aria-pressed") == "true"
    assert url_params(page)["only"] == ["speech"]  # a reload or a shared link asks the same
    assert page.locator(".card .passage[data-signal=speech]").count() == len(only_speech)
    shot(page, "speech-only")

    page.goto(f"{server}/?q={quote_plus(words)}&only=speech")  # a shared link
    wait_for_keys(page, only_speech)
    assert group.get_by_role("button", name="Speech").get_attribute("aria-pressed") == "true"

    pictures = api_answer(api, words, only="visual")
    with page.expect_request(lambda r: "/api/search?" in r.url and "only=visual" in r.url):
        group.get_by_role("button", name="Pictures").click()
    # No picture shows a budget: by pictures alone the spoken moment is gone and nothing is left.
    assert pictures["results"] == [] and pictures["below_cutoff"] > 0 and pictures["nothing_matched"]
    page.wait_for_selector("#empty:not([hidden])")
    assert page.locator(".card").count() == 0
    # The cutoff holds for whichever signals are searched: how close the pictures alone came, and the offer.
    assert list(pictures["closest"]) == ["visual"], pictures["closest"]
    assert page.inner_text("#why-nothing") == why_nothing(pictures)
    assert page.locator("#show-closest").is_visible()

    everything = api_answer(api, words)["results"]
    with page.expect_request(lambda r: "/api/search?" in r.url and "only=" not in r.url):
        group.get_by_role("button", name="Everything").click()
    wait_for_keys(page, everything)
    assert "only" not in url_params(page)


def test_nothing_written_says_so_and_searches_everything(page, api):
    words = "quarterly budget"
    written = api_answer(api, words, only="text")
    assert not written["results"], written["results"]  # said, never written
    search(page, words)
    with page.expect_request(lambda r: "/api/search?" in r.url and "only=text" in r.url):
        page.locator("#signals").get_by_role("button", name="Text").click()
    empty = page.locator("#empty")
    empty.wait_for()
    # Nothing written holds these words at all (nothing under the cutoff either): not "nothing matched
    # well, show the closest anyway" but "no results", and the way to every signal.
    assert written["below_cutoff"] == 0 and not written["nothing_matched"], written
    assert empty.locator("h2").inner_text() == "No results" and page.is_hidden("#cutoff-line")
    assert f"Nothing written in a picture or a frame matched “{words}”" in empty.inner_text()
    shot(page, "nothing-written")
    everything = api_answer(api, words)["results"]
    empty.get_by_role("button", name="Search everything").click()
    wait_for_keys(page, everything)
    assert page.locator("#signals [aria-pressed=true]").inner_text() == "Everything"
    assert page.evaluate("document.activeElement.dataset.key") == everything[0]["key"]


def test_printed_word_finds_the_page(page, api, media):
    answer = api_answer(api, PRINTED)
    found = next((r for r in answer["results"] if r["name"] == "page.png"), None)
    assert found, [(r["name"], r["matches"]) for r in answer["results"]]
    written = passages(found, "text")
    assert written and marked(written[0]["text"]) == [PRINTED] and written[0]["start"] is None, found

    search(page, PRINTED)
    wait_for_keys(page, answer["results"])
    card = page.locator(f'.card[data-key="{found["key"]}"]')
    check_passage(card, written[0], "Written")
    assert card.locator(".passage .signal-time").count() == 0  # a photo's text has no time
    assert card.locator(".passage .signal-tag svg use").get_attribute("href") == "#i-text"

    page.locator("#signals").get_by_role("button", name="Text").click()
    only_text = api_answer(api, PRINTED, only="text")["results"]
    wait_for_keys(page, only_text)
    assert "page.png" in [r["name"] for r in only_text]
    wait_for_thumbnails(page)
    shot(page, "written")


def test_viewer_says_why_and_plays_the_passage(page, api):
    words = "quarterly budget"
    answer = api_answer(api, words)
    top = answer["results"][0]
    search(page, words)
    wait_for_keys(page, answer["results"])
    page.locator(".card").first.click()
    page.wait_for_function("() => document.querySelector('#viewer').open")
    page.wait_for_function("() => document.querySelector('#v-video').readyState >= 1")
    rows = page.locator("#v-matches-list .match")
    assert page.inner_text("#v-matches-title") == "Why it matched"
    assert rows.count() == len(top["matches"])
    for row, match in zip(rows.all(), top["matches"], strict=True):
        assert row.get_attribute("data-signal") == match["signal"]
        # What the signal alone says (3 decimals, as the result's score), its raw cosine in the tooltip.
        alone = match["relevance"] if match["relevance"] is not None else match["score"]
        assert row.locator(".match-score").inner_text() == f"{alone:.3f}"
        if match["relevance"] is not None:
            assert row.locator(".match-score").get_attribute("title") == f"cosine {match['score']:.3f}"
    said = passages(top, "speech")[0]
    row = page.locator("#v-matches-list button.match[data-signal=speech]").first
    assert row.locator("mark").all_inner_texts() == marked(said["text"])
    assert abs(seconds(row.locator(".signal-time").inner_text()) - said["start"]) <= 1
    # The track marks where it is said.
    left = float(page.eval_on_selector("#track-marks .track-mark[data-signal=speech]", "e => e.style.left")
                 .rstrip("%"))
    assert abs(left - said["start"] / VIDEO_SECONDS * 100) < 1.5, left

    # Somewhere else in the video; then the passage plays from its start and stops at its end.
    page.evaluate("() => { const v = document.querySelector('#v-video'); v.pause(); v.currentTime = 15; }")
    page.wait_for_function("() => Math.abs(document.querySelector('#v-video').currentTime - 15) < 0.5")
    page.evaluate("""() => { const v = document.querySelector('#v-video'); window.firstPlaying = null;
        v.addEventListener('playing', () => { window.firstPlaying ??= v.currentTime; }); }""")
    row.click()
    page.wait_for_function("() => window.firstPlaying !== null")
    assert abs(page.evaluate("window.firstPlaying") - said["start"]) < 0.6
    wait_for_video_frame(page)
    wait_for_animations(page)
    shot(page, "viewer")
    page.wait_for_function(f"() => {{ const v = document.querySelector('#v-video'); return v.paused && "
                           f"v.currentTime > {said['start'] + 0.5}; }}", timeout=20_000)
    stopped = page.evaluate("document.querySelector('#v-video').currentTime")
    assert said["end"] - 0.5 <= stopped <= max(said["end"], said["start"] + 0.5) + 0.5, (stopped, said)
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open")


def test_pictures_and_speech_in_one_grid(page, api):
    """Words that name what is seen and what is said: cards matched by sight alone look as they always did."""
    words = "a cat in the garden"
    results = api_answer(api, words)["results"]
    heard = [r for r in results if passages(r, "speech")]
    seen = [r for r in results if not passages(r, "speech") and not passages(r, "text")]
    assert heard and seen, [(r["name"], r["matches"]) for r in results]
    search(page, words)
    wait_for_keys(page, results)
    for result in heard:
        card = page.locator(f'.card[data-key="{result["key"]}"]')
        check_passage(card, passages(result, "speech")[0], "Said")
    for result in seen:
        card = page.locator(f'.card[data-key="{result["key"]}"]')
        assert card.locator(".passage").count() == 0
        for reason in result["why"]:
            assert reason in card.locator(".why").text_content()
    wait_for_thumbnails(page)
    shot(page, "mixed")


def test_viewer_of_a_photo_with_printed_words(page, api):
    words = "a printed page, histogram"  # the picture (a page) and a word printed on it
    results = api_answer(api, words)["results"]
    index, found = next((i, r) for i, r in enumerate(results) if r["name"] == "page.png")
    # the picture, the word printed on it, and its file name ("page.png")
    assert [m["signal"] for m in found["matches"]] == ["visual", "text", "metadata"], found["matches"]
    search(page, words)
    wait_for_keys(page, results)
    page.locator(".card").nth(index).click()
    page.wait_for_function("() => document.querySelector('#viewer').open")
    rows = page.locator("#v-matches-list .match")
    assert rows.count() == 3 and page.locator("#v-matches-list button").count() == 0  # nothing to play in a photo
    looks, written, named = rows.nth(0), rows.nth(1), rows.nth(2)
    assert looks.locator(".signal-label").inner_text() == "Looks like"
    assert looks.locator(".match-text").inner_text() == found["matches"][0]["text"]
    assert written.locator(".signal-label").inner_text() == "Written"
    assert written.locator("mark").all_inner_texts() == marked(found["matches"][1]["text"])
    assert written.locator(".signal-time").count() == 0
    assert named.locator(".signal-label").inner_text() == "File" and named.locator("mark").all_inner_texts() == [
        "page"]
    best = max(m["relevance"] for m in found["matches"])
    carried = [{"visual": "pictures", "metadata": "the file's words"}.get(m["signal"], m["signal"])  # carry the score
               for m in found["matches"] if m["relevance"] >= best / 2]
    assert carried and page.inner_text("#v-why") == f"Score {found['score']:.3f} — matched by {', '.join(carried)}"
    page.wait_for_function("() => document.querySelector('#v-img').complete")
    shot(page, "viewer-photo")
    page.keyboard.press("Escape")


def test_status_shows_what_is_read_and_the_phase(page, api):
    status = api.get("/api/status").json()
    assert sorted(status["passes"]) == ["ocr", "speech"] and status["passages"] >= 3, status
    assert page.inner_text("#passes-label") == "Reads speech & text"
    assert f"{status['passages']} passages" in page.inner_text("#stats")

    # What a run is doing: faked statuses, since a real pass over this small library is over in a blink.
    fake: dict = {}

    def faking(route):
        real = route.fetch().json()
        real["index"].update(running=True, **fake)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(real))

    page.route("**/api/status", faking)
    page.reload()  # the page asks for the status on start, then every moment while a run goes on
    for phase, done, total, doing in [("speech", 3, 10, "Transcribing"), ("ocr", 5, 40, "Reading text")]:
        fake.update(phase=phase, done=done, total=total)
        page.wait_for_function("t => document.querySelector('#stats').textContent.startsWith(t)",
                               arg=f"{doing} {done} of {total}…", timeout=30_000)
        assert page.get_attribute("#progress", "aria-label") == doing
        assert page.is_visible("#progress") and page.is_disabled("#reindex")
        if phase == "speech":
            shot(page, "indexing")
    page.unroute("**/api/status")
    page.wait_for_selector("#toast >> text=Indexing finished", timeout=INDEX_RUN_MS)  # the next real status

    # Turn them on or off for the library: the popover, then an index run with the choice.
    page.click("#passes-toggle")
    popover = page.locator("#passes")
    popover.wait_for()
    assert page.is_checked("#p-speech") and page.is_checked("#p-ocr")
    page.wait_for_function("() => document.activeElement.id === 'p-speech'")  # keyboard lands in it
    assert f"{status['passages']} passages read so far" in popover.inner_text()
    shot(page, "reads")
    with page.expect_request(lambda r: r.url.endswith("/api/index") and r.method == "POST") as posted:
        popover.get_by_role("button", name="Save and index").click()
    assert posted.value.post_data_json == {"transcribe": True, "ocr": True}
    assert popover.is_hidden()
    page.wait_for_selector("#toast >> text=Indexing finished: 0 new, 0 removed, 0 failed", timeout=INDEX_RUN_MS)
    assert sorted(api.get("/api/status").json()["passes"]) == ["ocr", "speech"]


def test_phone_and_dark(page, api, server):
    words = "quarterly budget"
    answer = api_answer(api, words)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{server}/?q={quote_plus(words)}")
    wait_for_keys(page, answer["results"])
    wait_for_thumbnails(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no horizontal scroll
    assert page.locator("#signals").bounding_box()["width"] <= 375 - 2 * 12 + 1
    shot(page, "phone")
    page.locator(".card").first.click()
    page.wait_for_function("() => document.querySelector('#viewer').open")
    wait_for_animations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "phone-viewer")
    page.keyboard.press("Escape")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="dark")
    search(page, PRINTED)
    wait_for_thumbnails(page)
    shot(page, "dark")
    assert card_keys(page) == [r["key"] for r in api_answer(api, PRINTED)["results"]]
