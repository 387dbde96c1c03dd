"""``serve --watch`` in the web app (issue #21), end to end in Debian's Chromium: the page says which folders are
watched, and a photo copied into one appears in the results by itself (the page sees the watcher's batch in
/api/status, searches again and says so). The real server and watcher, real photos and the default model; the page
is compared with what the API answers for the same words, as in test_web.py. Screenshots: tests/artifacts/
web-watch-*.png."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_web
from conftest import wait_until
from test_web import (
    api_answer,
    index_beside,
    new_page,
    screenshot,
    search,
    serving,
    wait_for_keys,
    wait_for_thumbnails,
)
from watched import photos

from framefind.store.watch import WatchOptions

browser = test_web.browser
WORDS = "a cat"


@pytest.fixture
def watched(tmp_path, models_ready) -> Iterator[tuple[str, Path]]:
    """A library of two photos of an astronaut, served with its folder watched: (base URL, the folder)."""
    import httpx

    album = tmp_path / "album"
    photos(album, 2)
    directory, _ = index_beside(album)
    with serving(directory, watch=WatchOptions(settle=0.2)) as url, httpx.Client(base_url=url, timeout=30) as api:
        wait_until(lambda: api.get("/api/status").json()["watching"]["folders"], "the watcher to watch its folder")
        yield url, album, api


def test_a_photo_copied_into_a_watched_folder_appears_by_itself(browser, watched, tmp_path):
    url, album, api = watched
    status = api.get("/api/status").json()
    assert status["watching"] == {"folders": [{"path": str(album), "online": True, "polled": False}],
                                  "batches": 0, "indexed": 0, "removed": 0, "last_batch": None}
    assert status["ray"] is None
    assert api.get("/api/watching").json() == status["watching"]  # the same, without the library's counts
    page = new_page(browser)
    try:
        page.goto(url + "/")
        page.wait_for_selector("#stats >> text=watching 1 folder")
        assert f"watching {album}" in page.get_attribute("#stats", "title")
        search(page, WORDS)
        with page.expect_request(lambda r: r.url.endswith("/api/watching")):  # idle: the cheap look, not the counts
            pass
        before = api_answer(api, WORDS)
        wait_for_keys(page, before["results"])
        assert not before["results"]  # two astronauts: nothing is a cat
        cat = photos(tmp_path / "staged", 1, skip=3)[0]  # a crop of chelsea.png: a cat, new to the library
        shutil.copy(cat, album / "cat.jpg")
        # The page alone: it hears of the batch, says so and asks the same question again.
        page.wait_for_selector("#toast >> text=Watched folders: 1 file indexed", timeout=60_000)
        after = api_answer(api, WORDS)
        assert after["results"][0]["path"] == str(album / "cat.jpg")  # the cat, first for "a cat"
        wait_for_keys(page, after["results"])
        watching = api.get("/api/status").json()["watching"]
        assert (watching["batches"], watching["indexed"], watching["removed"]) == (1, 1, 0)
        assert watching["last_batch"] is not None
        wait_for_thumbnails(page)
        screenshot(page, "watch-new-photo")
        (album / "cat.jpg").unlink()  # deleted: the page says so and the cat leaves the results by itself
        page.wait_for_selector("#toast >> text=Watched folders: 1 file removed", timeout=60_000)
        wait_for_keys(page, api_answer(api, WORDS)["results"])
        assert str(album / "cat.jpg") not in {r["path"] for r in api_answer(api, WORDS)["results"]}
        watching = api.get("/api/status").json()["watching"]
        assert (watching["batches"], watching["indexed"], watching["removed"]) == (2, 1, 1)
    finally:
        page.close()
    assert not page.errors, page.errors


def test_an_index_run_on_ray_needs_a_server_with_a_cluster(watched):
    _, _, api = watched
    answer = api.post("/api/index", json={"ray": True})
    assert answer.status_code == 400
    assert answer.json() == {"error": "ray: this server has no Ray cluster (start it with framefind serve --ray "
                                      "ADDRESS)"}
