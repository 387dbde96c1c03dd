"""The web UI for search that learns and knows when nothing matches, end to end in Debian's Chromium.

A real library (scikit-image photos, Debian wallpapers as distractors, a resized and a JPEG-recompressed
copy of coffee.png, chelsea.png dated 2019), the real model and the real REST server. As in test_web.py,
each test compares what the page shows with what the API answers for the same question, so the tests
check the UI, not the model. Screenshots go to tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import test_web
from conftest import copy_photos
from PIL import Image
from test_web import (
    api_answer,
    api_search,
    card_keys,
    content_key,
    index_beside,
    screenshot,
    search,
    wait_for_animations,
    wait_for_keys,
    wait_for_render,
    wait_for_thumbnails,
    why_nothing,
)

# The browser, server and page machinery of test_web.py, over this module's own library.
browser = test_web.browser
server = test_web.server
api = test_web.api
page = test_web.page

TAKEN_2019 = datetime(2019, 6, 15, 12, 0).timestamp()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """43 real photos, two near-identical copies of coffee.png, and the cat photo taken in 2019."""
    folder = copy_photos(tmp_path_factory.mktemp("learning") / "media")
    coffee = Image.open(folder / "coffee.png").convert("RGB")
    coffee.resize((coffee.width // 2, coffee.height // 2), Image.LANCZOS).save(folder / "coffee-small.jpg", quality=90)
    coffee.save(folder / "coffee-q30.jpg", quality=30)
    os.utime(folder / "chelsea.png", (TAKEN_2019, TAKEN_2019))  # a PNG has no EXIF date: its mtime is used
    return folder


@pytest.fixture(scope="module")
def library_dir(media) -> Path:
    directory, report = index_beside(media)
    assert report.failed == 0 and report.embedded == len(list(media.iterdir())), report
    return directory


def url_params(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shot(page, name: str) -> Path:
    return screenshot(page, f"learning-{name}")


def test_nothing_matched_then_closest_anyway(page, api):
    words = "zzqx flurble"
    answer = api_answer(api, words)
    assert answer["nothing_matched"] and answer["results"] == [] and answer["below_cutoff"] > 0, answer
    search(page, words)
    empty = page.locator("#empty")
    assert empty.locator("h2").inner_text() == "Nothing matched well"
    assert page.inner_text("#why-nothing") == why_nothing(answer)  # the answer's own numbers
    assert page.locator(".card").count() == 0 and page.is_hidden("#cutoff-line") and page.is_hidden("#more")
    shot(page, "nothing-matched")

    closest = api_search(api, words, all="true")
    assert len(closest) > 10
    with page.expect_response(lambda r: "/api/search?" in r.url and "all=true" in r.url):
        page.get_by_role("button", name="Show closest anyway").click()
    wait_for_keys(page, closest)
    assert page.is_hidden("#empty") and "all=true" in page.url  # a reload shows the same
    assert page.evaluate("document.activeElement.dataset.key") == closest[0]["key"]  # keyboard lands on the first
    note = page.locator("#all-note")
    assert "Showing every result, weak matches too" in note.inner_text()

    note.get_by_role("button", name="Hide weak matches").click()  # the way back
    page.wait_for_selector("#empty >> text=Nothing matched well")
    assert page.locator(".card").count() == 0 and "all=true" not in page.url


def test_weaker_results_hidden_line_shows_all(page, api):
    words = "a motorcycle"
    answer = api_answer(api, words)
    assert answer["results"] and answer["below_cutoff"] > 0 and not answer["nothing_matched"], answer
    search(page, words)
    wait_for_keys(page, answer["results"])
    line = page.locator("#cutoff-line")
    cutoff = f"{answer['cutoff']:.3f}"
    assert line.inner_text() == f"{answer['below_cutoff']} weaker results hidden (scored under {cutoff}) · Show all"
    everything = api_search(api, words, all="true")
    line.get_by_role("button", name="Show all").click()
    wait_for_keys(page, everything)
    assert page.is_hidden("#cutoff-line")
    # Focus goes to the first result that was not shown before.
    assert page.evaluate("document.activeElement.dataset.key") == everything[len(answer["results"])]["key"]


def test_year_in_words_becomes_a_removable_date_chip(page, api):
    words = "cat 2019"
    dated = api_answer(api, words)
    assert dated["dates"] == "2019-01-01 to 2019-12-31 (from '2019')", dated
    assert dated["results"] and dated["results"][0]["name"] == "chelsea.png"  # the cat photo taken in 2019
    search(page, words)
    wait_for_keys(page, dated["results"])
    chip = page.locator("#date-chip")
    assert chip.inner_text().strip() == "Taken 2019-01-01 to 2019-12-31 (from “2019”)"
    assert '"2019"' in page.inner_text("#date-hint")  # quoting keeps the words as words
    wait_for_thumbnails(page)
    shot(page, "date-chip")

    undated = api_answer(api, words, read_dates="false")
    assert undated["dates"] is None
    with page.expect_response(lambda r: "/api/search?" in r.url and "read_dates=false" in r.url):
        chip.get_by_role("button").click()
    wait_for_keys(page, undated["results"])
    assert page.is_hidden("#date-chip") and "read_dates=false" in page.url
    assert page.evaluate("document.activeElement.id") == "q"
    again = page.get_by_role("button", name="Filter by date again")
    assert "Dates in your words are searched as words" in page.inner_text("#notices")
    # Editing the words keeps the date reading off: the search for the edited words (once it is on the page)
    # asks not to read dates and shows no date chip.
    with page.expect_response(lambda r: "/api/search?" in r.url and "q=cat+2019+&" in r.url) as edited:
        page.keyboard.type(" ")
    wait_for_render(page)
    assert "read_dates=false" in edited.value.url
    page.wait_for_function("w => document.querySelector('#summary').textContent.includes(w)", arg="“cat 2019 ”")
    assert page.is_hidden("#date-chip") and again.is_visible()
    again.click()
    page.wait_for_selector("#date-chip")
    assert "read_dates" not in page.url


def test_near_duplicates_fold_into_one_card(page, api, media):
    words = "a cup of coffee"
    results = api_search(api, words)
    lead = next(r for r in results if r["near_duplicates"])
    near = lead["near_duplicates"]
    copies = {"coffee.png", "coffee-small.jpg", "coffee-q30.jpg"}
    assert {lead["name"], *(n["name"] for n in near)} == copies, lead
    assert not [r for r in results if r is not lead and r["name"] in copies]  # folded, not shown again
    search(page, words)
    wait_for_keys(page, results)
    card = page.locator(f'.card[data-key="{lead["key"]}"]')
    badge = card.locator(".dups")
    assert badge.inner_text().strip() == f"+{len(near)} similar" and badge.get_attribute("aria-expanded") == "false"
    assert page.locator(".card .dups:not([hidden])").count() == 1  # only the card with copies has one
    assert card.locator(".dups-list").is_hidden()

    badge.click()
    assert badge.get_attribute("aria-expanded") == "true"
    rows = card.locator(".dups-list .dup")
    assert rows.count() == len(near)
    for i, n in enumerate(near):
        row = rows.nth(i)
        assert row.locator(".dup-name").inner_text() == n["name"]
        assert row.locator(".dup-score").inner_text() == f"{n['score']:.3f}"  # 3 decimals, as on the cards
        assert row.locator("img").get_attribute("src") == n["thumbnail_url"]
    assert {n["key"] for n in near} | {lead["key"]} == {content_key(media / name) for name in copies}
    page.wait_for_function("() => [...document.querySelectorAll('.dups-list img')].every(i => i.naturalWidth > 0)")
    assert page.evaluate("document.activeElement.classList.contains('dup')")  # keyboard moves into the list
    wait_for_thumbnails(page)
    shot(page, "near-duplicates")

    rows.nth(len(near) - 1).click()  # a folded copy opens in the viewer
    page.wait_for_function("() => document.querySelector('#viewer').open")
    assert page.inner_text("#v-title") == near[-1]["name"]
    assert page.get_attribute("#v-img", "src") == f"/api/media/{quote(near[-1]['key'], safe='')}"
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#viewer').open")

    card.locator(".thumb img").click()  # the lead's viewer lists its copies too
    page.wait_for_function("() => document.querySelector('#viewer').open")
    assert page.inner_text("#v-near-title") == f"{len(near)} near-identical copies folded into this result"
    assert page.locator("#v-near-list .dup-name").all_inner_texts() == [n["name"] for n in near]
    page.wait_for_function("() => document.querySelector('#v-img').complete")
    wait_for_animations(page)
    shot(page, "viewer-near-duplicates")
    page.locator("#v-near-list .dup").first.click()
    page.wait_for_function("name => document.querySelector('#v-title').textContent === name", arg=near[0]["name"])
    page.keyboard.press("Escape")


def test_filters_label_date_and_length(page, api, server):
    words = "an animal"
    labels = api.get("/api/labels").json()["labels"]
    assert any(row["label"] == "Egyptian cat" for row in labels), labels[:20]
    unfiltered = api_search(api, words, all="true")
    cats = api_search(api, words, all="true", label="cat")
    assert [r["name"] for r in cats] == ["chelsea.png"] and len(unfiltered) > 10  # "cat" keeps the tabby

    page.goto(server + "/?q=an+animal&all=true")  # a shared link keeps its settings
    wait_for_keys(page, unfiltered)
    page.click("#filters-toggle")
    assert page.get_attribute("#filters-toggle", "aria-expanded") == "true" and page.is_visible("#filters")
    assert page.evaluate("document.activeElement.id") == "f-after"
    page.wait_for_function("n => document.querySelectorAll('#label-list option').length === n", arg=len(labels))
    assert page.get_attribute("#label-list option >> nth=0", "value") == labels[0]["label"]  # most frequent first

    with page.expect_response(lambda r: "/api/search?" in r.url and "label=cat" in r.url):
        page.fill("#f-label", "cat")
        page.press("#f-label", "Enter")
    wait_for_keys(page, cats)
    assert "label=cat" in page.url and page.inner_text("#filters-count") == "1"
    wait_for_thumbnails(page)
    shot(page, "label-filter")

    preferred = api_search(api, words, all="true", boost_label="cat")
    assert preferred[0]["name"] == "chelsea.png" and len(preferred) > 1  # everything, the cat first
    with page.expect_response(lambda r: "/api/search?" in r.url and "boost_label=cat" in r.url):
        page.select_option("#f-label-mode", "prefer")
    wait_for_keys(page, preferred)
    assert url_params(page) == {"q": ["an animal"], "boost_label": ["cat"], "all": ["true"]}

    # Taken: months; the same request as the API's after/before.
    in_2019 = api_search(api, words, all="true", boost_label="cat", after="2019-01", before="2019-12")
    assert "chelsea.png" in [r["name"] for r in in_2019] and len(in_2019) < len(preferred)
    page.fill("#f-after", "2019-01")
    with page.expect_response(lambda r: "/api/search?" in r.url and "before=2019-12" in r.url):
        page.fill("#f-before", "2019-12")
    wait_for_keys(page, in_2019)
    assert page.inner_text("#filters-count") == "2"

    # Video length: photos have none, so the fields are off with Images.
    page.click(".seg[data-kind=image]")
    assert page.is_disabled("#f-min-duration") and page.is_disabled("#f-max-duration")
    page.click(".seg[data-kind='']")
    assert page.is_enabled("#f-min-duration")

    page.click("#filters-clear")
    wait_for_keys(page, unfiltered)
    assert page.is_hidden("#filters-count") and url_params(page) == {"q": ["an animal"], "all": ["true"]}
    page.keyboard.press("Escape")  # closes the panel, focus back on its button
    assert page.is_hidden("#filters") and page.evaluate("document.activeElement.id") == "filters-toggle"


def test_thumbs_up_moves_a_result_first_and_marks_it_liked(page, api):
    words = "a motorcycle"
    before = api_search(api, words)
    assert len(before) >= 2, before
    target = before[1]
    search(page, words)
    wait_for_keys(page, before)
    card = page.locator(f'.card[data-key="{target["key"]}"]')
    assert card.locator(".liked").is_hidden() and "Ranking adjusted" not in page.inner_text("#summary")

    with page.expect_response(lambda r: "/api/search?" in r.url) as rerun:
        card.locator(".vote[data-vote=up]").click()  # the vote, then the same search again
    after = rerun.value.json()
    assert after["results"][0]["key"] == target["key"] and after["results"][0]["pinned"], after["results"][:2]
    assert after["learned"] >= 1
    wait_for_keys(page, after["results"])
    first = page.locator(".card").first
    assert first.get_attribute("data-key") == target["key"]
    assert first.locator(".liked").is_visible() and first.locator(".liked").inner_text().strip() == "Liked"
    assert first.locator(".vote[data-vote=up]").get_attribute("aria-pressed") == "true"
    votes = "1 vote" if after["learned"] == 1 else f"{after['learned']} votes"
    assert f"Ranking adjusted by {votes}" in page.inner_text("#summary")
    # Focus follows the result to its new place, on the button that was pressed.
    assert page.evaluate("document.activeElement.closest('.card').dataset.key") == target["key"]
    assert page.evaluate("document.activeElement.dataset.vote") == "up"
    wait_for_thumbnails(page)
    shot(page, "liked")

    # A thumbs down leaves a result out of this query's answer.
    other = next(r for r in after["results"] if r["key"] != target["key"])
    with page.expect_response(lambda r: "/api/search?" in r.url) as rerun:
        page.locator(f'.card[data-key="{other["key"]}"] .vote[data-vote=down]').click()
    wait_for_keys(page, rerun.value.json()["results"])
    assert other["key"] not in card_keys(page)

    # The votes export as golden queries for `framefind eval`.
    link = page.locator("#export-votes")
    assert link.is_visible() and link.get_attribute("href") == "/api/feedback/export"
    with page.expect_download() as download:
        link.click()
    golden = json.loads(Path(download.value.path()).read_text())
    assert golden == api.get("/api/feedback/export").json() and words in json.dumps(golden)


def test_vote_in_the_viewer_reranks_when_it_closes(page, api):
    words = "cups"
    before = api_search(api, words)
    assert len(before) >= 2, before
    search(page, words)
    wait_for_keys(page, before)
    page.locator(".card").nth(1).locator("img").click()
    page.wait_for_function("() => document.querySelector('#viewer').open")
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/api/search?" in r.url else None)
    with page.expect_response(lambda r: r.url.endswith("/api/feedback")):
        page.click("#viewer .vote[data-vote=up]")
    # The vote is in (its toast, its button pressed): outside the viewer the same search would already have
    # been asked again by now (the page does it in the same step as the toast). Under the open viewer: not.
    page.wait_for_selector("#toast >> text=Marked as a good result")
    page.wait_for_selector("#viewer .vote[data-vote=up][aria-pressed=true]")
    assert not searches and page.get_attribute("#grid", "aria-busy") == "false" and page.is_hidden("#busy")
    assert card_keys(page) == [r["key"] for r in before]  # nothing moves under the open viewer
    with page.expect_response(lambda r: "/api/search?" in r.url) as rerun:
        page.keyboard.press("Escape")
    assert rerun.value.json()["results"][0]["key"] == before[1]["key"]
    page.wait_for_function("key => document.querySelector('.card').dataset.key === key", arg=before[1]["key"])
    page.wait_for_function("key => document.activeElement.closest('.card')?.dataset.key === key", arg=before[1]["key"])


def test_screenshots(page, api, server):
    """The learning UI on a desktop (light and dark) and a phone, for a person to look at."""
    page.goto(server + "/?q=a+cup+of+coffee")
    page.wait_for_selector(".card .dups:not([hidden])")
    page.click(".card .dups:not([hidden])")
    page.click("#filters-toggle")
    page.fill("#f-label", "cup")
    wait_for_thumbnails(page)
    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => matchMedia('(prefers-color-scheme: dark)').matches")
    wait_for_animations(page)
    shot(page, "dark")
    page.emulate_media(color_scheme="light")

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(server + "/?q=cat+2019")
    page.wait_for_selector("#date-chip")
    page.click("#filters-toggle")
    wait_for_thumbnails(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no horizontal scroll
    shot(page, "phone-date")
    page.goto(server + "/?q=a+cup+of+coffee")
    page.wait_for_selector(".card .dups:not([hidden])")
    page.click(".card .dups:not([hidden])")
    wait_for_thumbnails(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "phone-near-duplicates")
    page.goto(server + "/?q=zzqx+flurble")
    page.wait_for_selector("#empty >> text=Nothing matched well")
    shot(page, "phone-nothing-matched")
