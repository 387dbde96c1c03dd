"""The REST API against the real app and a real indexed library (photos and a video), over HTTP."""

from __future__ import annotations

import io
import os
import shutil
import threading

import httpx
import pytest
from conftest import skimage_data, wait_until
from fastapi.testclient import TestClient
from PIL import Image
from videos import slideshow, transcode

from framefind import Library
from framefind.interfaces.server.app import create_app

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "camera.png", "astronaut.png", "coins.png"]
SHOTS = [("chelsea.png", 4.0), ("coffee.png", 4.0), ("rocket.jpg", 4.0), ("horse.png", 4.0)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, models_ready):
    base = tmp_path_factory.mktemp("served")
    media = base / "media"
    media.mkdir()
    for name in PHOTOS:
        shutil.copy(skimage_data() / name, media / name)
    slideshow(media / "shots.mp4", [(skimage_data() / name, seconds) for name, seconds in SHOTS])
    outside = base / "outside.png"  # a file outside the library's folder, reached through a symlink
    Image.open(skimage_data() / "moon.png").save(outside)
    (media / "link.png").symlink_to(outside)
    with Library.open(base / "lib") as library:
        assert library.index([media]).failed == 0
    app = create_app(base / "lib")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "media": media, "base": base, "app": app}


def _search(client, q: str, **params) -> list[dict]:
    """Results of a text search, the relevance cutoff off (these tests are about the API, not relevance)."""
    response = client.get("/api/search", params={"q": q, "all": "true", **params})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_text_search_returns_typed_results_with_urls_and_reasons(served):
    client = served["client"]
    body = client.get("/api/search", params={"q": "a cup of coffee", "k": 5, "all": "true"}).json()
    assert body["model"] == "effnet-conse" and body["took_ms"] > 0 and len(body["results"]) == 5
    top = body["results"][0]
    assert top["name"] in ("coffee.png", "shots.mp4") and "espresso" in " ".join(top["why"])
    assert top["thumbnail_url"].startswith("/api/thumbnails/") and top["media_url"].startswith("/api/media/")
    videos = _search(client, "a cup of coffee", kind="video")
    assert videos and all(r["kind"] == "video" and r["clip_url"] for r in videos)
    assert videos[0]["start"] == pytest.approx(4.0, abs=1.0) and videos[0]["end"] == pytest.approx(8.0, abs=1.0)
    images = _search(client, "a rocket", kind="image", under=str(served["media"]))
    assert images[0]["name"] == "rocket.jpg" and all(r["kind"] == "image" for r in images)


def test_search_response_says_what_the_cutoff_did_and_why_each_result_scored(served):
    """The score is one probability; the response says the score a result needed (``cutoff``), how close
    each signal came (``closest``), and each result's evidence: the visual cosine and its relevance."""
    from framefind.search import relevance

    client = served["client"]
    body = client.get("/api/search", params={"q": "a cup of coffee", "k": 10, "only": "visual"}).json()
    assert "floor" not in body and body["cutoff"] == relevance.FLOOR and body["below_cutoff"] > 0
    results = body["results"]
    assert results[0]["name"] in ("coffee.png", "shots.mp4") and all(r["score"] >= body["cutoff"] for r in results)
    assert body["closest"] == {"visual": results[0]["score"]}
    for r in results:
        visual = next(m for m in r["matches"] if m["signal"] == "visual")
        assert -1.0 <= visual["score"] <= 1.0 and r["score"] == pytest.approx(visual["relevance"], abs=1e-3)
        assert r["boosted"] is False and r["pinned"] is False
    everything = client.get("/api/search", params={"q": "a cup of coffee", "k": 10, "all": "true", "only": "visual"}
                            ).json()
    assert everything["cutoff"] is None and everything["below_cutoff"] == 0
    assert len(everything["results"]) == 10 and min(r["score"] for r in everything["results"]) < relevance.FLOOR
    nothing = client.get("/api/search", params={"q": "zzqx flurble"}).json()
    assert nothing["results"] == [] and nothing["nothing_matched"] and nothing["cutoff"] == relevance.CUTOFF
    assert nothing["closest"] == {"visual": 0.0, "metadata": 0.0}  # letter soup: no evidence of anything
    named = client.get("/api/search", params={"q": "a cup of coffee", "k": 1}).json()["results"][0]  # its name too
    assert named["name"] == "coffee.png" and [m["text"] for m in named["matches"] if m["signal"] == "metadata"] == [
        "name: «coffee»"]
    boosted = client.get("/api/search", params={"q": "a photo", "k": 3, "all": "true", "boost_label": "espresso"})
    assert [r["boosted"] for r in boosted.json()["results"]][:1] == [True], boosted.text


def test_items_thumbnails_media_ranges_and_clips(served):
    client = served["client"]
    moment = _search(client, "a rocket", kind="video")[0]
    item = client.get(f"/api/items/{moment['key'].replace('@', '%40')}").json()
    assert item["kind"] == "video" and item["duration"] == pytest.approx(16.0, abs=0.2)
    assert (item["start"], item["end"]) == (moment["start"], moment["end"])
    thumb = client.get(moment["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(thumb.content)).size[0] <= 320
    full = client.get(moment["media_url"])
    ranged = client.get(moment["media_url"], headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == full.content[100:200]
    assert full.content == (served["media"] / "shots.mp4").read_bytes()
    clip = client.get(moment["clip_url"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    assert "attachment" in clip.headers["content-disposition"] and len(clip.content) > 10_000
    import av

    with av.open(io.BytesIO(clip.content)) as container:
        assert float(container.duration / 1e6) == pytest.approx(moment["end"] - moment["start"], abs=0.3)


def test_search_by_uploaded_image_region_and_video(served, tmp_path):
    client = served["client"]
    copy = io.BytesIO()
    Image.open(skimage_data() / "horse.png").convert("RGB").resize((200, 164)).save(copy, "JPEG", quality=60)
    found = client.post("/api/search/image", files={"file": ("horse-small.jpg", copy.getvalue(), "image/jpeg")},
                        data={"k": "3", "kind": "image"}).json()["results"]
    # The same picture, smaller and re-encoded: its cosine is ~1 and its score (a probability) far above the next.
    assert found[0]["name"] == "horse.png" and found[0]["matches"][0]["score"] > 0.9
    assert found[0]["score"] > 2 * found[1]["score"]
    # A picture with the cat on the left and the rocket on the right: each half finds its own.
    cat, rocket = Image.open(skimage_data() / "chelsea.png").convert("RGB"), Image.open(skimage_data() / "rocket.jpg")
    both = Image.new("RGB", (900, 300))
    both.paste(cat.resize((450, 300)), (0, 0))
    both.paste(rocket.convert("RGB").resize((450, 300)), (450, 0))
    data = io.BytesIO()
    both.save(data, "PNG")
    for box, expected in (("0,0,0.5,1", "chelsea.png"), ("0.5,0,0.5,1", "rocket.jpg")):
        results = client.post("/api/search/image", files={"file": ("both.png", data.getvalue(), "image/png")},
                              data={"k": "1", "kind": "image", "box": box}).json()["results"]
        assert results[0]["name"] == expected, box
    trimmed = transcode(served["media"] / "shots.mp4", tmp_path / "query.mp4", "-ss", "3", "-t", "8",
                        "-vf", "scale=240:136")
    videos = client.post("/api/search/video", files={"file": ("query.mp4", trimmed.read_bytes(), "video/mp4")},
                         data={"k": "1"}).json()["results"]
    assert videos[0]["name"] == "shots.mp4" and videos[0]["start"] <= 4.0 and videos[0]["end"] >= 8.0
    assert not any(served["media"].glob("*.tmp")) and sorted(p.name for p in served["media"].iterdir()) == sorted(
        [*PHOTOS, "shots.mp4", "link.png"]), "uploads are never written into the library's folders"


def test_more_like_this_feedback_and_map(served):
    client = served["client"]
    cat = _search(client, "a cat", kind="image")[0]
    similar = client.get(f"/api/similar/{cat['key']}", params={"k": 3}).json()["results"]
    assert similar and cat["key"] not in {r["key"] for r in similar}
    stored = client.post("/api/feedback", json={"query": "a cat", "key": cat["key"], "vote": "up"}).json()
    assert stored["vote"] == "up" and stored["at"] > 0
    listed = client.get("/api/feedback", params={"query": "a cat"}).json()["feedback"]
    assert [(f["key"], f["vote"]) for f in listed] == [(cat["key"], "up")]
    client.post("/api/feedback", json={"query": "a cat", "key": cat["key"], "vote": "down"})
    assert client.get("/api/feedback").json()["feedback"][0]["vote"] == "down"  # the latest vote counts
    points = client.get("/api/map").json()["points"]
    assert len(points) == len(PHOTOS) + 1 + 4  # photos, the linked file, the video's segments
    assert all(-1.0 <= p["x"] <= 1.0 and -1.0 <= p["y"] <= 1.0 for p in points)
    assert client.get(points[0]["thumbnail_url"]).status_code == 200


@pytest.mark.parametrize("method,url,kwargs,status,message", [
    ("get", "/api/search", {}, 400, "empty query"),
    ("get", "/api/search?q=cat&k=0", {}, 422, "k: Input should be greater than or equal to 1"),
    ("get", "/api/items/not-a-key", {}, 400, "not a result key"),
    ("get", "/api/media/..%2F..%2Fetc%2Fpasswd", {}, 404, "Not Found"),
    ("get", "/api/media/..%2Fsecret", {}, 404, "Not Found"),
    ("get", "/api/thumbnails/%2E%2E", {}, 400, "not a result key"),
    ("get", "/api/media/" + "0" * 32, {}, 404, "no such item"),
    ("post", "/api/feedback", {"json": {"query": "x", "key": "0" * 32, "vote": "meh"}}, 422, "vote"),
    ("post", "/api/feedback", {"json": {"query": "x", "key": "0" * 32, "vote": "up"}}, 400, "no such item"),
    ("post", "/api/search/image", {"files": {"file": ("notes.txt", b"hello", "text/plain")}}, 415, "not an image"),
    ("post", "/api/search/image", {"files": {"file": ("empty.jpg", b"", "image/jpeg")}}, 400, "empty file"),
    ("post", "/api/search/image", {"files": {"file": ("fake.jpg", b"not a jpeg" * 9, "image/jpeg")}}, 400,
     "not a readable image"),
    ("post", "/api/search/image", {"data": {"url": "http://127.0.0.1:9/x.jpg"}}, 403, "by URL is off"),
])
def test_bad_requests_get_one_line_json_errors(served, method, url, kwargs, status, message):
    response = getattr(served["client"], method)(url, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and message in body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text


def test_only_files_inside_the_library_folders_are_served(served):
    client = served["client"]
    linked = next(r for r in _search(client, "the moon", k=20) if r["name"] == "link.png")
    assert client.get(linked["media_url"]).status_code == 404  # its target lies outside the indexed folder
    assert client.get(linked["thumbnail_url"]).status_code == 200  # the stored thumbnail is the library's own


def test_upload_limits_urls_and_tokens(served, tmp_path):
    app = create_app(served["base"] / "lib", token="s3cret", allow_urls=True, upload_limits_mb={"image": 1})
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/status").status_code == 401
        assert client.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = client.get("/?token=s3cret")
        assert page.status_code == 200 and "framefind_token" in page.headers["set-cookie"]
        assert client.get("/api/status").status_code == 200  # the cookie now rides along
        big = os.urandom(1_100_000)
        response = client.post("/api/search/image", files={"file": ("big.jpg", big, "image/jpeg")})
        assert response.status_code == 413 and "1 MB upload limit" in response.json()["error"]
        for url in ("http://127.0.0.1:9/x.jpg", "http://localhost/x.png", "http://169.254.169.254/latest",
                    "http://10.0.0.1/a.jpg", "file:///etc/passwd"):
            response = client.post("/api/search/image", data={"url": url})
            error = response.json().get("error", "")
            assert response.status_code in (400, 403) and ("refused" in error or "only http" in error), url


def test_index_runs_in_the_background_with_progress(served):
    client = served["client"]
    shutil.copy(skimage_data() / "astronaut.png", served["media"] / "astronaut-copy.png")
    Image.open(skimage_data() / "page.png").save(served["media"] / "page.png")
    assert client.post("/api/index", json={}).status_code == 202
    wait_until(lambda: not client.get("/api/status").json()["index"]["running"], "the index job to end", poll=0.1)
    state = client.get("/api/status").json()["index"]
    assert state["error"] is None and state["report"]["embedded"] == 1 and state["report"]["linked"] == 1
    assert state["done"] == state["total"] == 2
    assert _search(client, "a page of text", k=1)[0]["name"] == "page.png"


def test_openapi_and_offline_docs(served):
    client = served["client"]
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/search/image", "/api/search/video", "/api/items/{key}", "/api/media/{key}",
            "/api/clips/{key}", "/api/feedback", "/api/status", "/api/index", "/api/map"} <= set(spec["paths"])
    docs = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_many_concurrent_clients_over_real_http(served):
    import uvicorn

    app = create_app(served["base"] / "lib")  # its own app: stopping the server runs its shutdown
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the server to start")
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    errors, done = [], []

    def client(number: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for i in range(10):
                query = ["a cat", "a rocket", "coffee"][(number + i) % 3]  # "a cat" carries earlier tests' votes
                response = http.get("/api/search", params={"q": query, "all": "true"})
                (done if response.status_code == 200 and response.json()["results"] else errors).append(response)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    server.should_exit = True
    thread.join(timeout=10)
    assert not errors and len(done) == 80


def test_a_moment_thumbnail_shows_that_moment(served):
    client = served["client"]
    moment = next(r for r in _search(client, "a cup of coffee", kind="video") if r["start"] >= 3.9)
    thumb = Image.open(io.BytesIO(client.get(moment["thumbnail_url"]).content)).convert("RGB")
    import numpy as np

    def distance(name: str) -> float:
        reference = Image.open(skimage_data() / name).convert("RGB").resize(thumb.size)
        return float(np.abs(np.asarray(thumb, float) - np.asarray(reference, float)).mean())

    assert distance("coffee.png") < min(distance("chelsea.png"), distance("rocket.jpg")), moment


def test_upload_errors_name_the_clients_file_and_filters_apply_everywhere(served):
    client = served["client"]
    response = client.post("/api/search/image", files={"file": ("holiday.jpg", b"\xff\xd8junk" * 50, "image/jpeg")})
    error = response.json()["error"]
    assert response.status_code == 400 and error.startswith("holiday.jpg: ") and "framefind-serve" not in error, error
    cat = _search(client, "a cat", kind="image")[0]
    videos = client.get(f"/api/similar/{cat['key']}", params={"kind": "video"}).json()["results"]
    assert videos and all(r["kind"] == "video" for r in videos)
    elsewhere = client.get(f"/api/similar/{cat['key']}", params={"under": str(served["base"] / "nowhere")}).json()
    assert elsewhere["results"] == []
