"""The web UI end to end: the real REST server over a real library, driven in Debian's Chromium.

One library (scikit-image photos and a 4-shot slideshow video), one server and one browser per module.
Each test compares what the page shows with what the API answers for the same question, so the tests
check the UI, not the model. Screenshots go to tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conftest import SKIMAGE_PHOTOS, skimage_data, wait_until
from PIL import Image
from videos import slideshow, transcode

SHOW = [("chelsea.png", 4), ("coffee.png", 4), ("rocket.jpg", 4), ("horse.png", 4)]  # slideshow.mp4, in order
PAGE_K = 48  # results the page asks for (api.js PAGE): the API is asked the same
ARTIFACTS = Path(__file__).parent / "artifacts"
INDEX_RUN_MS = 120_000  # a real index run through the server (models loaded in it): generous on a busy machine
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def content_key(path: Path) -> str:
    """A library image's result key: BLAKE2b-128 of its bytes (computed here, not asked of the server)."""
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("web") / "media"
    folder.mkdir()
    for name in SKIMAGE_PHOTOS:
        shutil.copy(skimage_data() / name, folder / name)
    slideshow(folder / "slideshow.mp4", [(skimage_data() / name, seconds) for name, seconds in SHOW])
    return folder


@contextlib.contextmanager
def serving(library_dir: Path, token: str | None = None, **app_args) -> Iterator[str]:
    """The real app (framefind.interfaces.server) on a free port, in a thread: its base URL. ``app_args``: more of
    ``create_app``'s (watch, ray)."""
    import uvicorn

    from framefind.interfaces.server.app import create_app

    config = uvicorn.Config(create_app(library_dir, token=token, **app_args), host="127.0.0.1", port=0,
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    def started() -> bool:
        assert thread.is_alive(), "the server thread ended before it started serving"
        return server.started

    wait_until(started, "the server to start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def index_beside(media: Path, **index_args):
    """A library of ``media`` in a folder beside it (what every web test serves): (its folder, the index report)."""
    from framefind import Library

    directory = media.parent / "library"
    with Library.open(directory) as library:
        return directory, library.index([media], **index_args)


@pytest.fixture(scope="module")
def library_dir(media) -> Path:
    directory, report = index_beside(media)
    assert report.failed == 0 and report.embedded == len(SKIMAGE_PHOTOS) + 1, report
    return directory


@pytest.fixture(scope="module")
def server(library_dir):
    with serving(library_dir) as url:
        yield url


@pytest.fixture(scope="module")
def api(server):
    import httpx

    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium with a fresh profile; every request of every page is recorded in ``browser.seen``."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian package chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    pw = sync_api.sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(tmp_path_factory.mktemp("profile"), executable_path=chromium,
                                                        args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
        context.seen = []
        context.on("request", lambda request: context.seen.append(request.url))
        yield context
        context.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser, server):
    page = new_page(browser)
    page.goto(server + "/")
    page.wait_for_selector("#stats >> text=/\\d+ files/")
    yield page
    page.close()
    assert not page.errors, page.errors  # no script errors, no failed loads, in any test


def new_page(browser):
    """A page that records its script errors and failed loads in ``page.errors`` (its user asserts it empty; a test
    that provokes an error response clears its expected console line)."""
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(15_000)
    return page


def api_search(api, words: str, **params) -> list[dict]:
    response = api.get("/api/search", params={"q": words, "k": PAGE_K, **params})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def api_answer(api, words: str, **params) -> dict:
    response = api.get("/api/search", params={"q": words, "k": PAGE_K, **params})
    assert response.status_code == 200, response.text
    return response.json()


def search(page, words: str) -> None:
    """Type the words and press Enter; return once the page shows the answer to exactly these words."""
    with page.expect_response(lambda r: "/api/search?" in r.url and f"q={quote_plus(words)}&" in r.url):
        page.fill("#q", words)
        page.press("#q", "Enter")
    page.wait_for_function("w => document.querySelector('#summary').textContent.includes(w)", arg=f"“{words}”")


def wait_for_keys(page, results: list[dict]) -> None:
    page.wait_for_function("keys => [...document.querySelectorAll('.card')].map(c => c.dataset.key).join() === "
                           "keys.join()", arg=[r["key"] for r in results])


def wait_for_render(page) -> None:
    """The page has rendered the answer to its latest search: search.js sets the grid's aria-busy back to
    false only after the newest request's results (or its error) are on the page. Call it once the
    response has arrived (``expect_response``): before, it may still be the previous search's."""
    page.wait_for_selector("#grid[aria-busy=false]", state="attached")


def wait_for_animations(page) -> None:
    """Every finite CSS transition and animation running now has finished (fade-ins, hover lifts): the
    page as a person sees it once it has settled. (Endless ones, like the busy bar, are not waited for.)"""
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter(a => a.effect?.getComputedTiming().endTime !== Infinity)
        .map(a => a.finished.catch(() => null)))""")


def wait_for_thumbnails(page) -> None:
    """Every grid image in the viewport has loaded (or failed), the cards' thumbnails there have faded in
    (cards.js marks each one loaded on its load event), and the fade is over: the page as a screenshot
    shows it. Images below the fold are left out: they load lazily, only once scrolled near, so a long
    answer would never have them all."""
    page.wait_for_function("""() => {
        const seen = [...document.querySelectorAll('#grid img')].filter(i => {
            const r = i.getBoundingClientRect();
            return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth; });
        return seen.every(i => i.complete) &&
            seen.filter(i => i.closest('.thumb')).every(i => i.classList.contains('loaded') || !i.naturalWidth);
    }""")
    wait_for_animations(page)


def wait_for_video_frame(page) -> None:
    """The viewer's video has presented a frame to the screen since now (requestVideoFrameCallback)."""
    page.evaluate("() => new Promise(done => document.querySelector('#v-video').requestVideoFrameCallback(done))")


def screenshot(page, name: str) -> Path:
    """tests/artifacts/web-NAME.png, to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"web-{name}.png"
    page.screenshot(path=path)
    assert path.stat().st_size > 10_000
    return path


def card_keys(page) -> list[str]:
    return page.eval_on_selector_all(".card", "cards => cards.map(c => c.dataset.key)")


def point_on_map(page, step: int = 16) -> tuple[float, float, str]:
    """Where the pointer is over a thumbnail on the map, found as a person would: moving over the canvas,
    row by row, until the tip names an item. Returns (x, y, name)."""
    box = page.locator("#map").bounding_box()
    tip = page.locator("#map-tip")
    for y in range(step // 2, int(box["height"]), step):
        for x in range(step // 2, int(box["width"]), step):
            page.mouse.move(box["x"] + x, box["y"] + y)
            if tip.is_visible():
                return box["x"] + x, box["y"] + y, page.inner_text("#map-tip-label")
    raise AssertionError("no place on the map shows a tip")


def type_query(page, words: str, expected: list[dict]) -> None:
    """Type like a person and wait until the grid shows exactly the API's answer."""
    page.click("#q")
    page.keyboard.type(words, delay=40)
    keys = [r["key"] for r in expected]
    page.wait_for_function("keys => [...document.querySelectorAll('.card')].map(c => c.dataset.key).join() === "
                           "keys.join()", arg=keys)


def test_typing_shows_the_apis_ranking(page, api, media):
    expected = api_search(api, "a cup of coffee")
    first = expected[0]
    assert first["name"] == "coffee.png" or (first["name"] == "slideshow.mp4" and first["start"] == 4.0), first
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/api/search?" in r.url else None)
    # 15 keystrokes in one task of the page, so that no timer can run between them (faster than any
    # typist): the debounce sends one search, for all the words, not one per key.
    with page.expect_response(lambda r: "/api/search?" in r.url):
        page.evaluate("""words => {
            const q = document.querySelector('#q');
            q.focus();
            for (const [i, key] of [...words].entries()) {
                q.value = words.slice(0, i + 1);
                q.dispatchEvent(new InputEvent('input', {bubbles: true, data: key, inputType: 'insertText'}));
            } }""", "a cup of coffee")
    wait_for_render(page)
    wait_for_keys(page, expected)
    assert len(searches) == 1, searches
    assert "q=a+cup+of+coffee" in searches[0] and f"k={PAGE_K}" in searches[0]
    assert card_keys(page)[0] == first["key"]
    assert "“a cup of coffee”" in page.inner_text("#summary")
    assert "q=a+cup+of+coffee" in page.url  # a reload repeats the search
    card = page.locator(".card").first
    assert card.locator(".score").inner_text() == f"{first['score']:.3f}"  # 3 decimals, as the CLI prints it
    assert f", score {first['score']:.3f}" in card.get_attribute("aria-label")
    assert card.get_attribute("title").startswith(first["path"])
    assert card.locator("img").get_attribute("src") == first["thumbnail_url"]
    for reason in first["why"]:
        assert reason in card.locator(".why").text_content()

    # The Videos chip: the page asks the API for videos only, and shows what it says.
    videos = api_search(api, "a cup of coffee", kind="video")
    with page.expect_response(lambda r: "/api/search?" in r.url and "kind=video" in r.url):
        page.click(".seg[data-kind=video]")
    page.wait_for_function("n => document.querySelectorAll('.card[data-kind=video]').length === n", arg=len(videos))
    assert card_keys(page) == [r["key"] for r in videos]
    assert page.locator(".card .time:not([hidden])").count() == len(videos)
    assert page.locator(".card").first.locator(".time").inner_text() == "0:04–0:08"


SIGNAL_NAMES = {"visual": "pictures", "speech": "speech", "text": "on-screen text",
                "metadata": "file words"}  # as the page names them


def why_nothing(answer: dict) -> str:
    """The sentence a nothing-matched answer should show, built from that answer's own numbers."""
    closest = answer["closest"]
    each = " · ".join(f"{SIGNAL_NAMES[signal]} {best:.3f}" for signal, best in closest.items())
    return (f"The closest came to {max(closest.values()):.3f} ({each}); "
            f"a match needs {answer['cutoff']:.3f}.")


def test_nothing_matched_says_how_close_and_shows_the_closest(page):
    words = "zzqx flurble"  # letter soup: names nothing any picture shows
    with page.expect_response(lambda r: "/api/search?" in r.url and f"q={quote_plus(words)}&" in r.url) as got:
        page.fill("#q", words)
        page.press("#q", "Enter")
    answer = got.value.json()  # what the page itself received
    assert answer["nothing_matched"] and answer["results"] == [] and answer["below_cutoff"] > 0, answer
    assert answer["closest"] and "visual" in answer["closest"], answer["closest"]
    assert max(answer["closest"].values()) < answer["cutoff"], answer  # the sentence's numbers agree with it
    wait_for_render(page)
    empty = page.locator("#empty")
    assert empty.locator("h2").inner_text() == "Nothing matched well"
    assert page.inner_text("#why-nothing") == why_nothing(answer)
    assert page.locator(".card").count() == 0 and page.is_hidden("#cutoff-line")
    wait_for_animations(page)
    screenshot(page, "nothing-matched")

    with page.expect_response(lambda r: "/api/search?" in r.url and "all=true" in r.url) as got:
        page.get_by_role("button", name="Show closest anyway").click()
    closest = got.value.json()["results"]
    assert closest and all(r["score"] < answer["cutoff"] for r in closest), closest
    wait_for_keys(page, closest)
    assert page.is_hidden("#empty")
    assert page.locator(".card").first.locator(".score").inner_text() == f"{closest[0]['score']:.3f}"


def test_video_moment_plays_from_start_to_end(page, api):
    results = api_search(api, "a rocket")
    index, moment = next((i, r) for i, r in enumerate(results) if r["kind"] == "video")
    assert (moment["start"], moment["end"]) == (8.0, 12.0), moment  # rocket is the third 4 s shot
    page.keyboard.press("/")  # the shortcut focuses the search box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("a rocket")
    page.keyboard.press("Enter")
    card = page.locator(f'.card[data-key="{moment["key"]}"]')
    assert card.locator(".time").inner_text() == "0:08–0:12"
    page.evaluate("""() => { const v = document.querySelector('#v-video'); window.firstPlaying = null;
        v.addEventListener('playing', () => { window.firstPlaying ??= v.currentTime; }); }""")
    card.focus()
    page.keyboard.press("Enter")  # keyboard opens the viewer as a click does
    page.wait_for_function("() => window.firstPlaying !== null")
    assert abs(page.evaluate("window.firstPlaying") - moment["start"]) < 0.5
    assert page.evaluate("document.querySelector('#viewer').open")
    assert page.get_attribute("#v-video", "src") == moment["media_url"]
    assert page.inner_text("#v-title") == "slideshow.mp4"
    page.wait_for_function("() => { const v = document.querySelector('#v-video'); return v.paused && v.currentTime > "
                           f"{moment['start'] + 1} }}", timeout=20_000)
    stopped = page.evaluate("document.querySelector('#v-video').currentTime")
    assert moment["end"] - 0.5 <= stopped <= moment["end"] + 0.5, stopped
    # The timeline marks the moment: 8-12 s of a 16 s video is 50% to 75%.
    left = float(page.eval_on_selector("#track-seg", "e => e.style.left").rstrip("%"))
    assert abs(left - 50) < 1.5, left
    assert page.inner_text("#t-moment") == "Moment 0:08–0:12"
    assert page.get_attribute("#v-clip", "href") == moment["clip_url"]
    assert page.get_attribute("#v-clip", "download").endswith(".mp4")
    page.click("#v-replay")
    page.wait_for_function("() => { const v = document.querySelector('#v-video'); return !v.paused && "
                           f"v.currentTime < {moment['start'] + 1.5} }}")
    # The next result (the previous one when the moment is last: the cutoff keeps only real matches).
    key, nxt = ("ArrowRight", results[index + 1]) if index + 1 < len(results) else ("ArrowLeft", results[index - 1])
    page.keyboard.press(key)
    page.wait_for_function("name => document.querySelector('#v-title').textContent === name", arg=nxt["name"])
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open")
    assert page.evaluate("document.querySelector('#v-video').paused")
    # Focus goes back to the card shown last, so keyboard users keep their place in the grid.
    page.wait_for_function("key => document.activeElement.dataset.key === key", arg=nxt["key"])


def drop_or_paste(page, event: str, path: Path, mime: str) -> None:
    """A file dropped on (or pasted into) the page, as the browser delivers it: a DataTransfer with a File."""
    page.evaluate("""([event, b64, name, mime]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, {type: mime}));
        const init = {bubbles: true, cancelable: true};
        if (event === 'paste') {
            document.body.dispatchEvent(new ClipboardEvent('paste', {...init, clipboardData: data}));
            return;
        }
        document.body.dispatchEvent(new DragEvent('dragenter', {...init, dataTransfer: data}));
        window.overlayShown = !document.querySelector('#drop').hidden;
        document.body.dispatchEvent(new DragEvent('drop', {...init, dataTransfer: data}));
    }""", [event, base64.b64encode(path.read_bytes()).decode(), path.name, mime])


def test_dropped_photo_is_found_and_a_region_searched(page, media, tmp_path):
    query = tmp_path / "small horse.jpg"
    Image.open(media / "horse.png").convert("RGB").resize((200, 160)).save(query, quality=80)
    drop_or_paste(page, "drop", query, "image/jpeg")
    assert page.evaluate("window.overlayShown") and page.is_hidden("#drop")
    page.wait_for_selector(".card")
    assert card_keys(page)[0] == content_key(media / "horse.png")
    assert page.inner_text("#query-chip-label") == "small horse.jpg"
    assert page.is_visible("#example") and page.is_disabled("#region-search")

    canvas = page.locator("#example-canvas").bounding_box()
    page.mouse.move(canvas["x"] + canvas["width"] * 0.1, canvas["y"] + canvas["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] * 0.6, canvas["y"] + canvas["height"] * 0.9, steps=6)
    page.mouse.up()
    with page.expect_response(lambda r: r.url.endswith("/api/search/image")) as answer:
        page.click("#region-search")
    x, y, w, h = map(float, answer.value.json()["query"]["box"].split(","))  # the box as the server got it
    assert abs(x - 0.1) < 0.03 and abs(y - 0.2) < 0.03 and abs(w - 0.5) < 0.03 and abs(h - 0.7) < 0.03
    page.wait_for_selector("#summary >> text=a region of small horse.jpg")

    page.click("#query-chip-remove")  # back to an empty query: the welcome screen
    page.wait_for_selector("#empty >> text=Search your photos and videos")
    assert page.locator(".card").count() == 0 and page.is_hidden("#example") and page.is_hidden("#query-chip")


def test_pasted_video_finds_its_moment(page, api, media, tmp_path):
    clip = tmp_path / "rocket clip.mp4"
    transcode(media / "slideshow.mp4", clip, "-ss", "8.5", "-t", "3", "-an")  # 3 s inside the rocket shot
    with clip.open("rb") as f:
        expected = api.post("/api/search/video", files={"file": (clip.name, f, "video/mp4")}, data={"k": PAGE_K})
    assert expected.status_code == 200, expected.text
    results = expected.json()["results"]
    assert results[0]["name"] == "slideshow.mp4" and results[0]["start"] <= 9 and results[0]["end"] >= 11, results[0]
    drop_or_paste(page, "paste", clip, "video/mp4")
    page.wait_for_function("key => document.querySelector('.card')?.dataset.key === key", arg=results[0]["key"])
    assert card_keys(page) == [r["key"] for r in results]
    assert page.inner_text("#query-chip-label") == "rocket clip.mp4"
    assert page.is_visible("#query-chip-icon") and page.is_hidden("#example")  # no box drawing on a video


def test_more_like_this_and_reindex(page, api):
    results = api_search(api, "a horse")
    type_query(page, "a horse", results)
    source = results[1]
    similar = api.get(f"/api/similar/{quote(source['key'], safe='')}", params={"k": PAGE_K}).json()["results"]
    page.locator(".card").nth(1).locator(".similar").click()
    page.wait_for_function("keys => [...document.querySelectorAll('.card')].map(c => c.dataset.key).join() === "
                           "keys.join()", arg=[r["key"] for r in similar])
    assert page.inner_text("#query-chip-label") == f"Like {source['name']}"
    assert page.input_value("#q") == ""

    with page.expect_response(lambda r: r.url.endswith("/api/index")) as started:
        page.click("#reindex")
    assert started.value.status == 202
    page.wait_for_selector("#toast >> text=Indexing finished: 0 new, 0 removed, 0 failed", timeout=INDEX_RUN_MS)
    assert page.is_hidden("#progress") and not page.is_disabled("#reindex")
    assert api.get("/api/status").json()["index"]["finished"] is not None


def test_server_error_is_shown(page, api):
    junk = b"this is not a picture"
    expected = api.post("/api/search/image", files={"file": ("broken.jpg", junk, "image/jpeg")})
    assert expected.status_code >= 400
    page.set_input_files("#file", {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": junk})
    page.wait_for_selector("#error:not([hidden])")
    shown, message = page.inner_text("#error"), expected.json()["error"]
    # Compared after the file name: the server names its temporary copy, a new name on every upload.
    assert shown.split(": ", 1)[1] == message.split(": ", 1)[1] and "not a readable image" in shown, (shown, message)
    assert page.locator(".card").count() == 0
    assert all(f"status of {expected.status_code}" in line for line in page.errors), page.errors
    page.errors.clear()


def test_thumbs_up_is_stored_and_shown(page, api, server):
    results = api_search(api, "a cat")
    type_query(page, "a cat", results)
    liked = results[1]["key"]
    card = page.locator(f'.card[data-key="{liked}"]')  # by key: the search re-runs and the card moves
    with page.expect_response(lambda r: r.url.endswith("/api/feedback") and r.request.method == "POST"):
        card.locator(".vote[data-vote=up]").click()
    page.wait_for_function("key => document.querySelector('.card')?.dataset.key === key", arg=liked)
    assert card.locator(".vote[data-vote=up]").get_attribute("aria-pressed") == "true"
    assert card.locator(".vote[data-vote=down]").get_attribute("aria-pressed") == "false"
    stored = api.get("/api/feedback").json()["feedback"]
    assert {"query": "a cat", "key": results[1]["key"], "vote": "up"} in [
        {k: row[k] for k in ("query", "key", "vote")} for row in stored]
    assert page.locator(".card .vote[aria-pressed=true]").count() == 1  # only the card voted on

    page.goto(server + "/?q=a+cat")  # a new page shows the stored vote
    page.wait_for_selector(f'.card[data-key="{results[1]["key"]}"] .vote[data-vote=up][aria-pressed=true]')


def test_map_and_every_request_stays_on_the_server(page, api, browser, server):
    """Map view: points from /api/map, a click opens that item. Then: no request of any test left the server."""
    from playwright.sync_api import expect

    points = api.get("/api/map", params={"limit": 1500}).json()["points"]
    page.click("#tab-map")
    expect(page.locator("#map-hint")).to_contain_text(f"{len(points)} items: similar ones sit close together")
    expect(page.locator("#map")).to_have_attribute("data-points", str(len(points)))  # all on screen
    assert page.is_hidden("#results-view")
    # Point at a thumbnail as a person does: its tip names it, and a click opens that item.
    x, y, name = point_on_map(page)
    with page.expect_response(lambda r: "/api/items/" in r.url) as opened:
        page.mouse.click(x, y)
    item = opened.value.json()
    assert Path(item["paths"][0]).name == name
    assert quote(item["key"], safe="") in opened.value.url and item["key"] in {p["key"] for p in points}
    page.wait_for_function("() => document.querySelector('#viewer').open")
    assert page.inner_text("#v-title") == name
    page.keyboard.press("Escape")

    seen = browser.seen
    assert any("/api/thumbnails/" in url for url in seen) and any("/api/media/" in url for url in seen)
    assert any(url.endswith("/static/app.js") for url in seen) and any("/api/map" in url for url in seen)
    outside = [url for url in seen if not (url.startswith(server + "/") or url.startswith(f"blob:{server}/"))]
    assert not outside, outside


def test_token_from_the_address_becomes_a_cookie(browser, library_dir, api):
    """With a token, /?token=T is opened once: the page then works on the cookie and drops T from the address."""
    import httpx

    token = "s3cret-t0ken"
    with serving(library_dir, token=token) as url:
        assert httpx.get(f"{url}/api/status").status_code == 401
        page = browser.new_page()
        try:
            page.goto(f"{url}/?token={token}&q=a+cat")
            expected = [r["key"] for r in api_search(api, "a cat")]  # the same library, no token needed there
            page.wait_for_function("keys => [...document.querySelectorAll('.card')].map(c => c.dataset.key).join() "
                                   "=== keys.join()", arg=expected)
            assert page.url == f"{url}/?q=a+cat"  # the token is gone from the address (and the history)
            page.wait_for_selector(".card img.loaded")  # thumbnails ride the cookie too
            assert page.evaluate("() => document.querySelector('.card img').naturalWidth") > 0
            assert token not in page.content()
        finally:
            page.close()


def test_an_empty_library_offers_to_index_a_folder(browser, media, tmp_path):
    """First run: the welcome box's form indexes a folder; then its example searches appear and work."""
    from framefind import Library

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png"):
        shutil.copy(media / name, folder / name)
    Library.open(tmp_path / "library").close()
    with serving(tmp_path / "library") as url:
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            page.goto(url + "/")
            page.wait_for_selector("#empty >> text=Your library is empty")
            page.fill("#empty input[name=path]", str(folder))
            with page.expect_request(lambda r: r.url.endswith("/api/index") and r.method == "POST") as posted:
                page.press("#empty input[name=path]", "Enter")
            assert posted.value.post_data_json == {"paths": [str(folder)]}
            page.wait_for_selector("#toast >> text=Indexing finished: 2 new, 0 removed, 0 failed", timeout=INDEX_RUN_MS)
            assert "2 files" in page.inner_text("#stats")
            with page.expect_response(lambda r: "/api/search?" in r.url and "q=a+cat&" in r.url):
                page.get_by_role("button", name="a cat", exact=True).click()
            wait_for_render(page)
            assert card_keys(page)[0] == content_key(folder / "chelsea.png") and page.input_value("#q") == "a cat"
        finally:
            page.close()
        assert not errors, errors


def test_screenshots(page, api, server):
    """Desktop and phone screenshots for a person to look at, plus the layout facts they rely on."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    results = api_search(api, "a cup of coffee")
    page.goto(server + "/?q=a+cup+of+coffee")
    page.wait_for_function("n => document.querySelectorAll('.card img.loaded').length === n", arg=len(results))
    page.hover(".card:nth-child(2)")
    wait_for_animations(page)
    page.screenshot(path=ARTIFACTS / "web-desktop.png")
    columns = page.eval_on_selector(".grid", "g => getComputedStyle(g).gridTemplateColumns.split(' ').length")
    assert columns == 5, columns

    page.locator(".card", has=page.locator(".time:not([hidden])")).first.click()
    page.wait_for_function("() => { const v = document.querySelector('#v-video'); return v.readyState >= 2 && "
                           "v.currentTime > 0; }")
    wait_for_video_frame(page)
    wait_for_animations(page)
    page.screenshot(path=ARTIFACTS / "web-desktop-viewer.png")
    page.keyboard.press("Escape")

    points = api.get("/api/map", params={"limit": 1500}).json()["points"]
    page.click("#tab-map")
    # Every thumbnail drawn as a picture (each one's image loaded, then the map drawn again).
    page.wait_for_selector(f'#map[data-pictures="{len(points)}"]')
    page.screenshot(path=ARTIFACTS / "web-desktop-map.png")
    page.click("#tab-results")

    page.emulate_media(color_scheme="dark")
    expect(page.locator("body")).to_have_css("background-color", "rgb(14, 16, 20)")
    wait_for_animations(page)
    page.screenshot(path=ARTIFACTS / "web-desktop-dark.png")
    page.emulate_media(color_scheme="light")

    page.set_viewport_size({"width": 375, "height": 740})
    page.wait_for_function("() => innerWidth === 375")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no horizontal scroll
    columns = page.eval_on_selector(".grid", "g => getComputedStyle(g).gridTemplateColumns.split(' ').length")
    assert columns == 2, columns
    assert page.locator("#q").bounding_box()["width"] > 250  # the search box gets its own row
    page.screenshot(path=ARTIFACTS / "web-phone.png")
    page.locator(".card").first.click()
    page.wait_for_function("() => document.querySelector('#viewer').open && document.querySelector('#v-img').complete")
    wait_for_animations(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=ARTIFACTS / "web-phone-viewer.png")
    for name in ("desktop", "desktop-viewer", "desktop-map", "desktop-dark", "phone", "phone-viewer"):
        assert (ARTIFACTS / f"web-{name}.png").stat().st_size > 10_000


def test_the_status_line_says_while_a_bigger_index_is_built_and_clears_after(page, library_dir):
    """A background index build (store/rebuild.py) is shown, and the page keeps asking until it is over
    (no reload): the build ends after the index run whose end stopped the usual polling."""
    from conftest import background_build_running
    from playwright.sync_api import expect

    with background_build_running(library_dir):
        page.reload()
        page.wait_for_selector("#stats >> text=optimising the index")
    expect(page.locator("#stats")).not_to_contain_text("optimising", timeout=15_000)
    assert "files" in page.inner_text("#stats")
