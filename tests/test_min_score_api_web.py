"""``min_score`` through the REST API and the web app: it keeps exactly the results whose displayed score
(the estimated probability of a match, after fusion) reaches it, for words, an example image, "more like
this" and an example video, and the page's "Score at least" filter asks the API for exactly that.

The library, server and browser are test_web.py's (scikit-image photos and a 4-shot slideshow video),
built again for this module. Each threshold is taken from the data: one result's own score, so that a
result scoring exactly it is kept (>=) and the next score down is not.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import test_web
from test_web import PAGE_K, api_search, card_keys, search, wait_for_keys

# The media, library, server, browser and page machinery of test_web.py, for this module.
media = test_web.media
library_dir = test_web.library_dir
server = test_web.server
api = test_web.api
browser = test_web.browser
page = test_web.page

WORDS = "a cup of coffee"


def threshold(results: list[dict]) -> float:
    """A score from the middle of ``results``: at least one result scores exactly it and one scores less."""
    scores = sorted({r["score"] for r in results})
    assert len(scores) >= 2, [r["score"] for r in results]  # else the test could not tell >= from >
    return scores[len(scores) // 2]


def at_least(results: list[dict], floor: float) -> list[str]:
    return [r["key"] for r in results if r["score"] >= floor]


def keys(results: list[dict]) -> list[str]:
    return [r["key"] for r in results]


def image_search(api, path: Path, **fields) -> dict:
    with path.open("rb") as f:
        response = api.post("/api/search/image", files={"file": (path.name, f, "image/png")},
                            data={"k": PAGE_K, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def similar(api, key: str, **params) -> list[dict]:
    response = api.get(f"/api/similar/{quote(key, safe='')}", params={"k": PAGE_K, **params})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_text_search_keeps_exactly_the_results_scoring_at_least_min_score(api):
    everything = api_search(api, WORDS, all="true")
    floor = threshold(everything)
    response = api.get("/api/search", params={"q": WORDS, "k": PAGE_K, "all": "true", "min_score": floor}).json()
    assert keys(response["results"]) == at_least(everything, floor)
    assert floor in [r["score"] for r in response["results"]]  # the one scoring exactly it stays
    assert response["query"]["min_score"] == floor  # echoed, as the other filters are
    assert keys(api_search(api, WORDS, all="true", min_score=floor + 0.001)) == at_least(everything, floor + 0.001)
    cut = api_search(api, WORDS)  # with the relevance cutoff on, min_score narrows what it shows
    assert keys(api_search(api, WORDS, min_score=floor)) == at_least(cut, floor)


def test_image_upload_and_more_like_this_keep_exactly_the_results_scoring_at_least_min_score(api, media):
    example = media / "coffee.png"
    everything = image_search(api, example, all="true")["results"]
    floor = threshold(everything)
    kept = image_search(api, example, all="true", min_score=floor)
    assert keys(kept["results"]) == at_least(everything, floor) and kept["query"]["min_score"] == floor

    source = everything[0]
    like = similar(api, source["key"], all="true")
    floor = threshold(like)
    assert keys(similar(api, source["key"], all="true", min_score=floor)) == at_least(like, floor)
    assert keys(similar(api, source["key"], all="true", min_score=floor + 0.001)) == at_least(like, floor + 0.001)


def test_example_video_takes_min_score(api, media):
    with (media / "slideshow.mp4").open("rb") as f:
        video = f.read()

    def found(**fields) -> list[dict]:
        response = api.post("/api/search/video", files={"file": ("clip.mp4", video, "video/mp4")},
                            data={"k": 10, **fields})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    everything = found()
    assert [r["name"] for r in everything] == ["slideshow.mp4"]  # the library's one video
    score = everything[0]["score"]
    assert keys(found(min_score=score)) == keys(everything) and found(min_score=score + 0.001) == []


@pytest.mark.parametrize("method,url,fields,message", [
    ("get", "/api/search?q=cat&min_score=1.5", None, "min_score: Input should be less than or equal to 1"),
    ("get", "/api/similar/x?min_score=-0.1", None, "min_score: Input should be greater than or equal to 0"),
    ("post", "/api/search/image", {"min_score": "2"}, "min_score: Input should be less than or equal to 1"),
])
def test_min_score_outside_0_to_1_is_a_one_line_422(api, media, method, url, fields, message):
    if method == "get":
        response = api.get(url)
    else:
        with (media / "coffee.png").open("rb") as f:
            response = api.post(url, files={"file": ("coffee.png", f, "image/png")}, data=fields)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error"} and message in body["error"] and "\n" not in body["error"], body


def url_params(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def set_min_score(page, value: str, endpoint: str) -> None:
    """Type a value into "Score at least" and press Enter; return once that search has answered."""
    with page.expect_response(lambda r: endpoint in r.url and f"min_score={value}" in r.url):
        page.fill("#f-min-score", value)
        page.press("#f-min-score", "Enter")


def test_score_at_least_shows_the_apis_results_and_lives_in_the_address_bar(page, api, server):
    unfiltered = api_search(api, WORDS)
    floor = threshold(unfiltered)
    expected = api_search(api, WORDS, min_score=floor)
    assert keys(expected) == at_least(unfiltered, floor) and len(expected) < len(unfiltered)
    search(page, WORDS)
    wait_for_keys(page, unfiltered)

    page.click("#filters-toggle")
    set_min_score(page, str(floor), "/api/search?")
    wait_for_keys(page, expected)
    assert url_params(page) == {"q": [WORDS], "min_score": [str(floor)]}
    assert page.inner_text("#filters-count") == "1" and page.is_enabled("#filters-clear")

    page.goto(page.url)  # a reload (or a shared link) asks the same, and shows the value it asks with
    wait_for_keys(page, expected)
    assert page.input_value("#f-min-score") == str(floor) and page.is_visible("#filters")

    page.click("#filters-clear")
    wait_for_keys(page, unfiltered)
    assert url_params(page) == {"q": [WORDS]} and page.input_value("#f-min-score") == ""
    assert page.is_hidden("#filters-count") and page.is_disabled("#filters-clear")


def test_score_at_least_applies_to_more_like_this(page, api):
    unfiltered = api_search(api, WORDS)
    search(page, WORDS)
    wait_for_keys(page, unfiltered)
    source = unfiltered[0]
    like = similar(api, source["key"])
    with page.expect_response(lambda r: "/api/similar/" in r.url):
        page.locator(".card").first.locator(".similar").click()
    wait_for_keys(page, like)

    floor = threshold(like)
    expected = similar(api, source["key"], min_score=floor)
    assert keys(expected) == at_least(like, floor) and len(expected) < len(like)
    page.click("#filters-toggle")
    set_min_score(page, str(floor), "/api/similar/")
    wait_for_keys(page, expected)
    assert card_keys(page) == keys(expected) and page.inner_text("#filters-count") == "1"
