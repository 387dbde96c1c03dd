"""The web UI for people (issue #20), end to end in Debian's Chromium.

The library of tests/test_people.py (its ``family`` fixture): real public-domain portraits of Barack Obama (two
photos, one with a Lisbon GPS position) and Joe Biden (two sightings), scikit-image's astronaut (a face seen once)
and a coffee photo (no face), indexed with ``faces=True``. The real REST server, the real page. As in
test_web.py, what the page shows is compared with what the API answers, so the tests check the UI, not the face
model. Screenshots go to tests/artifacts/web-people-*.png (desktop 1280x800, phone 390x844) for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import test_web
from test_people import family  # noqa: F401 - the fixture, used by library_dir
from test_web import PAGE_K, api_answer, new_page, screenshot, search, serving, wait_for_animations, wait_for_keys

# The browser, server and page machinery of test_web.py, over this module's own library.
browser = test_web.browser
server = test_web.server
api = test_web.api
page = test_web.page

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def library_dir(family) -> Path:  # noqa: F811 - the imported fixture
    return family[1]


@pytest.fixture
def barack(api) -> dict:
    """Obama's person, named "Barack" (through the API, unless a test before did it through the page)."""
    people = api.get("/api/people").json()["people"]
    him = next(p for p in people if any(path.endswith("IMG_0001.jpg") for path in p["paths"]))
    if him["name"] != "Barack":
        assert api.post(f"/api/people/{him['id']}/name", json={"name": "Barack"}).status_code == 200
    return {**him, "name": "Barack"}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def shot(page, name: str) -> Path:
    return screenshot(page, f"people-{name}")


def url_params(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def people_of(api) -> dict:
    response = api.get("/api/people")
    assert response.status_code == 200, response.text
    return response.json()


def person_only(api, name: str) -> dict:
    """What the API lists for a person alone (no words), as the page asks for it."""
    response = api.get("/api/search", params={"k": PAGE_K, "person": name})
    assert response.status_code == 200, response.text
    return response.json()


def names(answer: dict) -> list[str]:
    return sorted(r["name"] for r in answer["results"])


def open_people(page) -> None:
    page.click("#tab-people")
    page.wait_for_selector("#people-view:not([hidden]) .person")
    wait_for_faces(page)


def wait_for_faces(page) -> None:
    """Every face crop on the People view has loaded, and the page has settled."""
    page.wait_for_function("() => [...document.querySelectorAll('.person img')].every(i => i.complete && "
                           "i.naturalWidth === 160)")
    wait_for_animations(page)


def shown_people(page) -> list[tuple[str, str]]:
    """(name, count line) of each person card, in order."""
    return [(card.locator(".person-name").inner_text(), card.locator(".person-count").inner_text())
            for card in page.locator(".person").all()]


def expected_people(people: list[dict]) -> list[tuple[str, str]]:
    def count(p: dict) -> str:
        faces = f"{p['faces']} face{'s' if p['faces'] != 1 else ''}"
        files = len(p["paths"])
        return faces if files == p["faces"] else f"{faces} in {files} file{'s' if files != 1 else ''}"

    return [(p["name"] or "Unnamed", count(p)) for p in people]


def seen_once(n: int) -> str:
    return ("1 face seen once: it joins a person when seen again" if n == 1
            else f"{n} faces seen once: they join a person when seen again")


def card_of(page, person_id: int):
    return page.locator(f'.person[data-id="{person_id}"]')


def no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def test_people_view_names_a_person_and_lists_their_photos(page, api):
    before = people_of(api)
    assert len(before["people"]) == 2 and before["unsorted"] >= 1, before
    obama = next(p for p in before["people"] if any(path.endswith("IMG_0001.jpg") for path in p["paths"]))
    if obama["name"]:  # another test named him first: start from an unnamed person again
        pytest.skip("run this test first (it names Barack through the page)")
    open_people(page)
    assert shown_people(page) == expected_people(before["people"])
    assert page.inner_text("#people-note") == f"2 people · {seen_once(before['unsorted'])}"
    assert page.get_attribute("#tab-people", "aria-selected") == "true" and page.is_hidden("#results-view")
    assert page.is_disabled("#people-merge")
    shot(page, "desktop")

    # An unnamed person's face asks for a name first (their photos are found by name).
    card = card_of(page, obama["id"])
    card.locator(".person-face").click()
    field = card.locator(".person-name-input")
    assert field.is_visible() and field.evaluate("e => e === document.activeElement")
    assert page.inner_text("#toast") == "Name them first: their photos are found by name"
    with page.expect_response(lambda r: r.url.endswith(f"/api/people/{obama['id']}/name")) as answer:
        field.fill("Barack")
        field.press("Enter")
    assert answer.value.ok
    page.wait_for_selector(f'.person[data-id="{obama["id"]}"] .person-name >> text=Barack')
    after = people_of(api)
    assert [p["name"] for p in after["people"]] == ["Barack", None]  # named first
    assert shown_people(page) == expected_people(after["people"])
    assert page.locator(".person-name-input").count() == 0

    # The name another person already has: the server's one line, as the app shows errors; still editing.
    other = after["people"][1]
    card_of(page, other["id"]).locator(".person-name").click()
    field = card_of(page, other["id"]).locator(".person-name-input")
    with page.expect_response(lambda r: r.url.endswith(f"/api/people/{other['id']}/name")) as answer:
        field.fill("barack")
        field.press("Enter")
    error = answer.value.json()["error"]
    assert answer.value.status == 400 and f"already names person {obama['id']}" in error, error
    page.wait_for_selector("#toast.err:not([hidden])")  # said for the page, not the CLI's command
    assert page.inner_text("#toast") == ("Barack already has that name. If they are the same person, tick both and "
                                         "Merge.")
    assert field.is_visible() and field.input_value() == "barack" and field.is_enabled()
    page.errors.clear()  # the 400 is the expected console line
    wait_for_animations(page)
    shot(page, "desktop-name-error")
    field.press("Escape")  # gives up: the old name, and the error goes
    assert card_of(page, other["id"]).locator(".person-name").inner_text() == "Unnamed"
    assert page.is_hidden("#toast")

    # A named person's face: their photos, listed by the Person filter with no words.
    listed = person_only(api, "Barack")
    assert names(listed) == ["IMG_0001.jpg", "IMG_0002.jpg"] and all(r["score"] == 1 for r in listed["results"])
    with page.expect_request(lambda r: "/api/search?" in r.url and "person=Barack" in r.url and "q=" not in r.url):
        card_of(page, obama["id"]).locator(".person-face").click()
    wait_for_keys(page, listed["results"])
    assert page.is_visible("#results-view") and page.get_attribute("#tab-results", "aria-selected") == "true"
    assert url_params(page) == {"person": ["Barack"]}
    assert page.inner_text("#summary").startswith("2 results showing Barack")
    assert page.input_value("#f-person") == "Barack" and page.is_visible("#filters")
    assert page.inner_text("#filters-count") == "1" and page.is_enabled("#filters-clear")
    assert page.locator(".card .score:visible").count() == 0  # each is what was asked: no score to weigh
    test_web.wait_for_thumbnails(page)
    shot(page, "desktop-photos")


def test_a_typed_name_becomes_a_person_chip(page, api, barack):
    answer = api_answer(api, "Barack")
    assert answer["people"] == "barack ('Barack')" and answer["places"] is None
    assert names(answer) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    search(page, "Barack")
    wait_for_keys(page, answer["results"])
    chip = page.locator("#person-chip")
    assert chip.inner_text() == "Showing Barack" and page.locator("#place-chip").count() == 0
    undo = chip.get_by_role("button")
    assert undo.get_attribute("aria-label") == "Don't filter by person: search “Barack” as words"
    assert page.inner_text("#person-hint") == "Read from your words · Search “Barack” as words"
    assert page.locator(".card .score:visible").count() == 0  # a name alone lists their photos
    test_web.wait_for_thumbnails(page)
    shot(page, "desktop-chip")

    # The ✕: the same word searched as a word; the address says so, and a reload asks the same.
    kept = api_answer(api, "Barack", read_people="false", all="true")
    assert kept["people"] is None and kept["places"] is None
    with page.expect_request(lambda r: "/api/search?" in r.url and "read_people=false" in r.url):
        undo.click()
    page.wait_for_selector("#person-note")
    assert url_params(page)["read_people"] == ["false"] and "read_places" not in url_params(page)
    assert page.inner_text("#person-note") == ("Names of people in your words are searched as words · "
                                               "Filter by person again")
    page.reload()
    page.wait_for_selector("#person-note")
    with page.expect_request(lambda r: "/api/search?" in r.url and "read_people" not in r.url):
        page.get_by_role("button", name="Filter by person again").click()
    wait_for_keys(page, answer["results"])
    assert page.inner_text("#person-chip") == "Showing Barack"

    # A person and a place: two chips; the hint's link searches all those words as words.
    both = api_answer(api, "Barack in Lisbon")
    assert (both["people"], both["places"]) == ("barack ('Barack')", "lisbon ('in Lisbon')"), both
    assert names(both) == ["IMG_0002.jpg"], both
    search(page, "Barack in Lisbon")
    wait_for_keys(page, both["results"])
    assert page.inner_text("#person-chip") == "Showing Barack" and page.inner_text("#place-chip") == "Taken in Lisbon"
    assert page.inner_text("#names-hint") == "Read from your words · Search “Barack in Lisbon” as words"
    test_web.wait_for_thumbnails(page)
    shot(page, "desktop-person-and-place")
    with page.expect_request(lambda r: "/api/search?" in r.url and "read_people=false" in r.url
                             and "read_places=false" in r.url):
        page.locator("#names-hint").get_by_role("button").click()
    page.wait_for_selector("#person-note")
    assert page.locator("#person-chip, #place-chip").count() == 0 and page.is_visible("#place-note")
    params = url_params(page)
    assert params["read_people"] == ["false"] and params["read_places"] == ["false"]


def test_the_person_filter_lists_the_named_people(page, api, server, barack):
    people = people_of(api)["people"]
    named = [p for p in people if p["name"]]
    page.click("#filters-toggle")
    page.wait_for_function("n => document.querySelectorAll('#f-person option').length === n + 1", arg=len(named))
    options = page.eval_on_selector_all("#f-person option", "os => os.map(o => [o.value, o.textContent])")
    assert options == [["", "Anyone"]] + [[p["name"], f"{p['name']} ({len(p['paths'])})"] for p in named]

    listed = person_only(api, "Barack")
    with page.expect_request(lambda r: "/api/search?" in r.url and "person=Barack" in r.url and "q=" not in r.url):
        page.select_option("#f-person", "Barack")
    wait_for_keys(page, listed["results"])
    assert url_params(page) == {"person": ["Barack"]} and page.inner_text("#filters-count") == "1"

    # Words narrow their photos down; the person stays with them.
    words = api_answer(api, "a portrait", person="Barack", all="true")
    with page.expect_request(lambda r: "/api/search?" in r.url and "q=a+portrait" in r.url
                             and "person=Barack" in r.url):
        page.goto(f"{server}/?q=a+portrait&person=Barack&all=true")
    wait_for_keys(page, words["results"])
    assert set(names(words)) <= {"IMG_0001.jpg", "IMG_0002.jpg"} and words["results"]
    page.wait_for_function("() => document.querySelector('#f-person').value === 'Barack'")

    # Clear filters: anyone again, for the same words.
    anyone = api_answer(api, "a portrait", all="true")
    with page.expect_request(lambda r: "/api/search?" in r.url and "person=" not in r.url):
        page.click("#filters-clear")
    wait_for_keys(page, anyone["results"])
    assert page.input_value("#f-person") == "" and "person" not in url_params(page)
    assert page.is_hidden("#filters-count") and page.is_disabled("#filters-clear")


@dataclass
class Copy:
    """A server over a copy of the library (for tests that change who is in it), its API and a page on it."""

    url: str
    api: object
    page: object
    directory: Path


@pytest.fixture
def copy(browser, library_dir, tmp_path) -> Iterator[Copy]:
    import httpx

    directory = tmp_path / "lib"
    shutil.copytree(library_dir, directory)
    with serving(directory) as url, httpx.Client(base_url=url, timeout=30) as client:
        page = new_page(browser)
        try:
            yield Copy(url, client, page, directory)
        finally:
            page.close()
        assert not page.errors, page.errors


def two_named(api) -> tuple[dict, dict]:
    """Obama's and Biden's people, named Barack and Joe (through the API)."""
    people = people_of(api)["people"]
    first = next(p for p in people if any(path.endswith("IMG_0001.jpg") for path in p["paths"]))
    second = next(p for p in people if p is not first)
    for person, name in ((first, "Barack"), (second, "Joe")):
        if person["name"] != name:
            assert api.post(f"/api/people/{person['id']}/name", json={"name": name}).status_code == 200
    return {**first, "name": "Barack"}, {**second, "name": "Joe"}


def test_merge_two_people(copy):
    api, page = copy.api, copy.page
    first, second = two_named(api)  # two names: the dialog asks which one stays
    page.goto(copy.url + "/")
    open_people(page)
    card_of(page, first["id"]).locator(".person-pick").check()
    assert page.is_disabled("#people-merge")
    assert page.inner_text("#people-picked") == "Barack selected: tick one more to merge"
    card_of(page, second["id"]).locator(".person-pick").check()
    assert page.is_enabled("#people-merge") and page.inner_text("#people-picked").endswith(" selected")
    page.click("#people-merge")
    page.wait_for_selector("#confirm[open]")
    faces = first["faces"] + second["faces"]
    assert page.inner_text("#confirm-title") in ("Merge Barack and Joe?", "Merge Joe and Barack?")
    assert f"their {faces} faces become one person" in page.inner_text("#confirm-text")
    assert page.locator("#confirm-faces img").count() == 2
    wait_for_animations(page)
    screenshot(page, "people-desktop-merge")
    page.get_by_role("button", name="Cancel").click()  # a No changes nothing
    assert len(people_of(api)["people"]) == 2

    page.click("#people-merge")
    choice = page.locator("#confirm .confirm-choice")
    assert choice.locator("legend").inner_text() == "Keep the name"
    assert choice.locator("label").all_inner_texts() == [p["name"] for p in people_of(api)["people"]]
    assert choice.locator("input:checked").count() == 1  # one of them already chosen
    choice.get_by_label("Joe").check()
    with page.expect_response(lambda r: r.url.endswith("/api/people/merge")) as answer:
        page.locator("#confirm").get_by_role("button", name="Merge").click()
    assert answer.value.ok
    assert answer.value.request.post_data_json == {"keep": second["id"], "other": first["id"]}
    page.wait_for_function("() => document.querySelectorAll('.person').length === 1")
    merged = people_of(api)["people"]
    assert len(merged) == 1 and merged[0]["faces"] == faces and merged[0]["name"] == "Joe"
    assert shown_people(page) == expected_people(merged)
    assert page.is_disabled("#people-merge") and page.inner_text("#toast") == f"Merged: Joe, {faces} faces"


def test_forget_a_person(copy):
    api, page = copy.api, copy.page
    _, joe = two_named(api)
    assert api.get("/api/search", params={"k": PAGE_K, "person": "Joe"}).json()["results"]
    page.goto(copy.url + "/")
    open_people(page)
    card = card_of(page, joe["id"])
    card.hover()
    card.locator(".person-forget").click()
    page.wait_for_selector("#confirm[open]")
    assert page.inner_text("#confirm-title") == "Forget Joe?"
    assert page.inner_text("#confirm-text") == (
        f"Their face data ({joe['faces']} faces) is removed from the library and not looked for again, so “Joe” no "
        "longer finds these photos. The photos stay.")
    wait_for_animations(page)
    screenshot(page, "people-desktop-forget")
    page.keyboard.press("Escape")  # a No changes nothing
    page.wait_for_selector("#confirm:not([open])", state="attached")
    assert len(people_of(api)["people"]) == 2

    card.locator(".person-forget").click()
    with page.expect_response(lambda r: r.request.method == "DELETE" and f"/api/people/{joe['id']}" in r.url):
        page.locator("#confirm").get_by_role("button", name="Forget").click()
    page.wait_for_function("() => document.querySelectorAll('.person').length === 1")
    left = people_of(api)
    assert [p["name"] for p in left["people"]] == ["Barack"] and shown_people(page) == expected_people(left["people"])
    assert page.inner_text("#people-note") == f"1 person · {seen_once(left['unsorted'])}"
    assert api.get("/api/search", params={"k": PAGE_K, "person": "Joe"}).json()["results"] == []
    assert api.get("/api/status").json()["files"] == 6  # the photos stay


def test_without_the_faces_pass_it_says_how_to_find_people(copy):
    from framefind import Library

    page = copy.page
    for person in people_of(copy.api)["people"]:  # nobody left, and no faces pass any more
        assert copy.api.delete(f"/api/people/{person['id']}").status_code == 200
    with Library.open(copy.directory, create=False) as lib:
        lib.enrichment(faces=False)
    assert "faces" not in copy.api.get("/api/status").json()["passes"]
    page.goto(copy.url + "/")
    page.wait_for_selector("#stats >> text=/\\d+ files/")
    page.click("#tab-people")
    page.wait_for_selector("#people-empty:not([hidden]) >> text=Find the people in your photos")
    assert "Run framefind index --faces to find people." in page.inner_text("#people-empty")
    assert page.is_hidden(".people-bar") and page.inner_text("#people-note") == ""
    screenshot(page, "people-desktop-no-faces")
    page.click("#filters-toggle")
    page.wait_for_selector("#f-person:disabled")
    assert page.inner_text("#f-person") == "No one named yet"


def test_phone(page, api, server, barack):
    page.set_viewport_size(PHONE)
    page.goto(server + "/")
    open_people(page)
    no_sideways_scroll(page, PHONE["width"])
    for card in page.locator(".person").all():
        box = card.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    shot(page, "phone")
    answer = api_answer(api, "Barack")
    search(page, "Barack")  # words typed on the People view: their results show
    wait_for_keys(page, answer["results"])
    assert page.is_visible("#results-view") and page.is_hidden("#people-view")
    test_web.wait_for_thumbnails(page)
    no_sideways_scroll(page, PHONE["width"])
    box = page.locator("#person-chip").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    shot(page, "phone-chip")

    page.click("#filters-toggle")
    page.wait_for_selector("#f-person >> option[value=Barack]", state="attached")
    box = page.locator("#f-person-group").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    no_sideways_scroll(page, PHONE["width"])


def test_a_dropped_photo_of_a_person_finds_them_by_face(page, api, barack, tmp_path):
    """Another photo of Obama (obama3.jpg, not in the library) dropped on the page: his photos come first, each card
    saying it matched by his face and naming him; the viewer says why."""
    from test_people import PORTRAITS

    query = tmp_path / "someone.jpg"
    shutil.copy(PORTRAITS / "obama3.jpg", query)
    with query.open("rb") as fh:
        expected = api.post("/api/search/image", files={"file": (query.name, fh, "image/jpeg")},
                            data={"k": PAGE_K}).json()["results"]
    by_face = [r for r in expected if any(m["signal"] == "face" for m in r["matches"])]
    assert {r["name"] for r in by_face} == {"IMG_0001.jpg", "IMG_0002.jpg"}, expected
    test_web.drop_or_paste(page, "drop", query, "image/jpeg")
    wait_for_keys(page, expected)
    for number in range(2):
        passage = page.locator(".card").nth(number).locator('.passage[data-signal="face"]')
        assert passage.inner_text().startswith("Face") and "Barack (" in passage.inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete)")
    shot(page, "face-query")
    page.locator(".card").first.locator("img").first.click()
    page.wait_for_selector("#viewer[open]")
    shown = page.inner_text("#viewer")
    assert "matched by pictures, the face" in shown and "Face\nBarack (" in shown, shown
    page.keyboard.press("Escape")
    page.set_viewport_size(PHONE)  # on a phone: the card's face line fits, nothing scrolls sideways
    passage = page.locator(".card").first.locator('.passage[data-signal="face"]')
    box = passage.bounding_box()
    assert passage.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    no_sideways_scroll(page, PHONE["width"])
    shot(page, "face-query-phone")
    assert page.is_visible("#example")  # the example image belongs to the results, not to the People view
    page.click("#tab-people")
    page.wait_for_selector("#people-view:not([hidden]) .person")
    assert page.is_hidden("#example")
    page.click("#tab-results")
    assert page.is_visible("#example")
