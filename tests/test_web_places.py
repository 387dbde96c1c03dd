"""The web UI for places and the files' own words (issue #20), end to end in Debian's Chromium.

A small real library: scikit-image photos under camera names, with the GPS positions (Lisbon, Alfama, Porto,
Barcelona) and the caption a phone or a photo editor writes, indexed as ``Library.index`` does. The real REST
server, the real page. As in test_web.py, each test compares what the page shows with what the API answers for
the same question, so the tests check the UI, not the model. Screenshots go to tests/artifacts/web-places-*.png
(desktop 1280x800, phone 390x844) for a human to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import test_web
from tagged_photos import ALFAMA, BARCELONA, LISBON, PORTO, photo, xmp_packet  # as test_file_words.py makes them
from test_web import (
    api_answer,
    index_beside,
    screenshot,
    search,
    wait_for_animations,
    wait_for_keys,
    wait_for_thumbnails,
)

# The browser, server and page machinery of test_web.py, over this module's own library.
browser = test_web.browser
server = test_web.server
api = test_web.api
page = test_web.page

CAPTION = "A red tram climbing through Alfama"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Photos as a phone leaves them: camera names, GPS on most, a caption on one, an XMP packet on another."""
    folder = tmp_path_factory.mktemp("places-web") / "photos"
    photo(folder / "DCIM" / "IMG_2041.jpg", "coffee.png", gps=LISBON)
    photo(folder / "DCIM" / "IMG_2042.jpg", "chelsea.png", gps=ALFAMA, caption=CAPTION)
    photo(folder / "DCIM" / "IMG_2043.jpg", "astronaut.png", gps=PORTO)
    photo(folder / "DCIM" / "DSC01234.jpg", "motorcycle_left.png", gps=BARCELONA,
          xmp=xmp_packet("Tapas with friends", ("food",)))
    photo(folder / "DCIM" / "IMG_5000.jpg", "horse.png")  # no GPS: no place
    return folder


@pytest.fixture(scope="module")
def library_dir(media) -> Path:
    directory, report = index_beside(media)
    assert report.failed == 0 and report.described.located == 4, report
    return directory


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def shot(page, name: str) -> Path:
    return screenshot(page, f"places-{name}")


def url_params(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def marked(text: str) -> list[str]:
    return re.findall(r"«([^«»]*)»", text)


def plain(text: str) -> str:
    return text.replace("«", "").replace("»", "")


def file_words(result: dict) -> dict:
    return next(m for m in result["matches"] if m["signal"] == "metadata")


def place_only(api, *places: str) -> dict:
    """What the API lists for a place alone (no words), as the page asks for it."""
    response = api.get("/api/search", params={"k": test_web.PAGE_K, "place": list(places)})
    assert response.status_code == 200, response.text
    return response.json()


def check_places_on_cards(page, results: list[dict]) -> None:
    """Each card shows where its photo was taken, as the API says, or no place line at all."""
    for card, result in zip(page.locator(".card").all(), results, strict=True):
        line = card.locator(".place")
        if result["place"]:
            assert line.is_visible() and line.inner_text() == result["place"], result
            assert f"Taken in {result['place']}" in card.get_attribute("title")
            assert f"taken in {result['place']}" in card.get_attribute("aria-label")
        else:
            assert line.is_hidden(), result


def no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def test_a_typed_place_becomes_a_chip_and_the_caption_says_why(page, api):
    words = "tram in Lisbon"
    answer = api_answer(api, words)
    top = answer["results"][0]
    assert answer["places"] == "lisbon ('in Lisbon')" and top["name"] == "IMG_2042.jpg", answer
    assert top["place"] == "Lisbon, Portugal" and file_words(top)["text"].startswith("caption: "), top

    search(page, words)
    wait_for_keys(page, answer["results"])
    chip = page.locator("#place-chip")
    assert chip.inner_text() == "Taken in Lisbon"
    undo = chip.get_by_role("button")
    assert undo.get_attribute("aria-label") == "Don't filter by place: search “in Lisbon” as words"
    assert page.inner_text("#place-hint") == "Read from your words · Search “in Lisbon” as words"
    check_places_on_cards(page, answer["results"])
    card = page.locator(".card").first
    # The card's passage: the caption that matched, "tram" marked, after the field it was read from.
    caption = file_words(top)
    passage = card.locator(".passage")
    assert passage.get_attribute("data-signal") == "metadata"
    assert passage.locator(".signal-label").inner_text() == "File"
    assert passage.locator(".passage-text").inner_text() == plain(caption["text"])
    assert passage.locator(".match-field").inner_text() == "caption: "
    assert passage.locator("mark").all_inner_texts() == marked(caption["text"]) == ["tram"]
    assert f"File caption: “{CAPTION}”" in card.get_attribute("aria-label")
    wait_for_thumbnails(page)
    shot(page, "desktop")

    card.click()
    page.wait_for_function("() => document.querySelector('#viewer').open")
    assert page.inner_text("#v-place") == "Taken in Lisbon, Portugal"
    best = max(m["relevance"] for m in top["matches"])
    carried = [{"visual": "pictures", "metadata": "the file's words"}.get(m["signal"], m["signal"])
               for m in top["matches"] if m["relevance"] >= best / 2]
    assert carried == ["the file's words"], top["matches"]  # a cat photo: the caption says "tram", not the picture
    assert page.inner_text("#v-why") == f"Score {top['score']:.3f} — matched by the file's words"
    rows = page.locator("#v-matches-list .match")
    assert rows.count() == len(top["matches"])
    row = page.locator("#v-matches-list .match[data-signal=metadata]")
    assert row.locator(".signal-label").inner_text() == "File"
    assert row.locator(".match-text").inner_text() == plain(caption["text"])
    assert row.locator("mark").all_inner_texts() == ["tram"]
    assert row.locator(".match-score").inner_text() == f"{caption['relevance']:.3f}"
    page.wait_for_function("() => document.querySelector('#v-img').complete")
    wait_for_animations(page)
    shot(page, "desktop-viewer")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open")

    # Keep the words: the same words, searched as words, and the address says so.
    kept = api_answer(api, words, read_places="false")
    assert kept["places"] is None
    with page.expect_request(lambda r: "/api/search?" in r.url and "read_places=false" in r.url):
        page.locator("#place-hint").get_by_role("button", name="Search “in Lisbon” as words").click()
    wait_for_keys(page, kept["results"])
    assert url_params(page)["read_places"] == ["false"] and url_params(page)["q"] == [words]
    assert page.locator("#place-chip").count() == 0
    assert page.inner_text("#place-note") == "Place names in your words are searched as words · Filter by place again"
    check_places_on_cards(page, kept["results"])

    page.reload()  # a reload (or a shared link) asks the same
    wait_for_keys(page, kept["results"])
    assert page.locator("#place-note").is_visible()
    with page.expect_request(lambda r: "/api/search?" in r.url and "read_places" not in r.url):
        page.get_by_role("button", name="Filter by place again").click()
    wait_for_keys(page, answer["results"])
    assert page.inner_text("#place-chip") == "Taken in Lisbon" and "read_places" not in url_params(page)


def test_the_place_filter_lists_the_librarys_places(page, api, server):
    listed = api.get("/api/places").json()["places"]
    assert {(p["city"], p["country"]) for p in listed} == {
        ("Lisbon", "Portugal"), ("Porto", "Portugal"), ("Eixample", "Spain")}, listed
    page.click("#filters-toggle")
    select = page.locator("#f-place")
    page.wait_for_function("() => document.querySelectorAll('#f-place optgroup').length === 2")
    groups = page.eval_on_selector_all("#f-place optgroup", "gs => gs.map(g => [g.label, "
                                                            "[...g.children].map(o => [o.value, o.textContent])])")
    count = {p["city"]: p["count"] for p in listed}
    assert groups == [
        ["Portugal", [["Portugal", "All of Portugal (3)"], ["Lisbon", f"Lisbon ({count['Lisbon']})"],
                      ["Porto", f"Porto ({count['Porto']})"]]],
        ["Spain", [["Spain", "All of Spain (1)"], ["Eixample", "Eixample (1)"]]]], groups
    assert select.locator("option").first.inner_text() == "Anywhere" and select.input_value() == ""

    # With the search box empty, a place lists everything taken there, and the address keeps it.
    portugal = place_only(api, "Portugal")
    assert sorted(r["name"] for r in portugal["results"]) == ["IMG_2041.jpg", "IMG_2042.jpg", "IMG_2043.jpg"]
    with page.expect_request(lambda r: "/api/search?" in r.url and "place=Portugal" in r.url and "q=" not in r.url):
        select.select_option(label="All of Portugal (3)")
    wait_for_keys(page, portugal["results"])
    assert url_params(page) == {"place": ["Portugal"]}
    assert page.inner_text("#summary").startswith("3 results taken in Portugal")
    check_places_on_cards(page, portugal["results"])
    assert all(p.endswith(", Portugal") for p in page.locator(".card .place").all_inner_texts())
    assert page.locator(".card .score:visible").count() == 0  # each is what was asked: no score to weigh
    assert page.inner_text("#filters-count") == "1" and page.is_enabled("#filters-clear")
    wait_for_thumbnails(page)
    shot(page, "filter")

    page.goto(f"{server}/?place=Portugal")  # a shared link
    wait_for_keys(page, portugal["results"])
    page.wait_for_function("() => document.querySelector('#f-place').value === 'Portugal'")
    assert page.is_visible("#filters")  # a filter from the address opens the panel that shows it

    # Words narrow it down; the place stays with them.
    tram = api_answer(api, "tram", place="Portugal")
    with page.expect_request(lambda r: "/api/search?" in r.url and "q=tram" in r.url and "place=Portugal" in r.url):
        page.fill("#q", "tram")
        page.press("#q", "Enter")
    wait_for_keys(page, tram["results"])
    assert tram["results"][0]["name"] == "IMG_2042.jpg" and url_params(page)["place"] == ["Portugal"]

    # Clear filters: anywhere again, for the same words.
    anywhere = api_answer(api, "tram")
    with page.expect_request(lambda r: "/api/search?" in r.url and "q=tram" in r.url and "place=" not in r.url):
        page.click("#filters-clear")
    wait_for_keys(page, anywhere["results"])
    assert select.input_value() == "" and "place" not in url_params(page)
    assert page.is_hidden("#filters-count") and page.is_disabled("#filters-clear")

    # A place alone, cleared: back to the welcome box, no search left in the address.
    page.fill("#q", "")
    page.press("#q", "Enter")
    page.wait_for_selector("#empty:not([hidden]) >> text=Search your photos and videos")
    select.select_option("Lisbon")
    lisbon = place_only(api, "Lisbon")
    wait_for_keys(page, lisbon["results"])
    page.click("#filters-clear")
    page.wait_for_selector("#empty:not([hidden]) >> text=Search your photos and videos")
    assert page.locator(".card").count() == 0 and url_params(page) == {}


def test_match_by_the_files_words_only(page, api):
    words = "tram"
    only = api_answer(api, words, only="metadata")
    assert [r["name"] for r in only["results"]] == ["IMG_2042.jpg"], only["results"]
    search(page, words)
    group = page.locator("#signals")
    assert group.is_visible()  # every file has words of its own, even in a library that reads no speech or text
    assert group.locator(".seg:visible").all_inner_texts() == ["Everything", "Pictures", "File words"]
    with page.expect_request(lambda r: "/api/search?" in r.url and "only=metadata" in r.url):
        group.get_by_role("button", name="File words").click()
    wait_for_keys(page, only["results"])
    assert url_params(page)["only"] == ["metadata"]
    assert page.locator(".card .passage[data-signal=metadata] mark").all_inner_texts() == ["tram"]

    nothing = api_answer(api, "zzqx flurble", only="metadata")
    assert not nothing["results"] and nothing["below_cutoff"] == 0, nothing
    with page.expect_response(lambda r: "/api/search?" in r.url and "zzqx" in r.url):
        page.fill("#q", "zzqx flurble")
        page.press("#q", "Enter")
    page.wait_for_selector("#empty:not([hidden]) >> text=Nothing in the files’ own words")
    assert page.locator("#search-everything").is_visible()


def test_phone(page, api, server):
    words = "tram in Lisbon"
    answer = api_answer(api, words)
    page.set_viewport_size(PHONE)
    page.goto(f"{server}/?q=tram+in+Lisbon")
    wait_for_keys(page, answer["results"])
    page.wait_for_selector("#place-chip")
    wait_for_thumbnails(page)
    no_sideways_scroll(page, PHONE["width"])
    assert page.locator("#signals").bounding_box()["width"] <= PHONE["width"] - 2 * 12 + 1
    for selector in ("#place-chip", "#place-hint", ".card .place"):  # inside the page, nothing cut at its edge
        box = page.locator(selector).first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
    shot(page, "phone")

    page.locator(".card").first.click()
    page.wait_for_function("() => document.querySelector('#viewer').open && document.querySelector('#v-img').complete")
    wait_for_animations(page)
    assert page.inner_text("#v-place") == "Taken in Lisbon, Portugal"
    no_sideways_scroll(page, PHONE["width"])
    page.locator("#v-matches").scroll_into_view_if_needed()
    shot(page, "phone-viewer")
    page.keyboard.press("Escape")

    page.click("#filters-toggle")
    page.wait_for_function("() => document.querySelectorAll('#f-place optgroup').length === 2")
    box = page.locator("#f-place-group").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    no_sideways_scroll(page, PHONE["width"])
    shot(page, "phone-filters")
