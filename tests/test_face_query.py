"""A query picture showing a face finds that person (issue #20, the ``face`` signal): real portraits of Barack
Obama and Joe Biden (face_recognition's public-domain test photos), searched by another photo of Obama that the
library has never seen, from the Python API, the CLI and the REST API; "more like this" on a library photo; a
person's video moment; a query without a face, and ``--only visual``, change nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli_json, skimage_data
from PIL import Image
from test_people import PORTRAITS, _copy, family  # noqa: F401 - the indexed portraits, a module fixture

from framefind import Library, Query
from framefind.search.results import Result


def _face(result: Result):
    return next((m for m in result.matches if m.signal == "face"), None)


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {Path(r.path).name: r for r in results}


@pytest.fixture(scope="module")
def query_photo(tmp_path_factory) -> Path:
    """Obama in a photo the library does not hold (obama3.jpg; the library has obama.jpg and obama2.jpg)."""
    return _copy(PORTRAITS / "obama3.jpg", tmp_path_factory.mktemp("query") / "someone.jpg")


def test_a_photo_of_a_person_finds_their_photos_first(family, query_photo):  # noqa: F811
    _, library = family
    with Library.open(library, create=False) as lib:
        page = lib.search_page(Query.of(image=query_photo, k=10, cutoff=False))
        found = _by_name(page.results)
        obama, others = ("IMG_0001.jpg", "IMG_0002.jpg"), ("IMG_0003.jpg", "IMG_0004.jpg", "IMG_0005.jpg")
        assert [Path(r.path).name for r in page.results[:2]] == sorted(obama, key=lambda n: -found[n].score)
        faces = [_face(found[name]) for name in obama]
        assert all(m is not None and m.relevance > 0.9 and m.score < 0.5 for m in faces), faces
        # one person: both of his photos carry the person's evidence (his nearest face), not each its own
        assert faces[0].relevance == faces[1].relevance and faces[0].text.startswith("person ")
        assert all(_face(found[name]) is None for name in others if name in found)  # nobody else is him
        assert min(found[name].score for name in obama) > max(found[n].score for n in others if n in found) + 0.2
        pictures = _by_name(lib.search(Query.of(image=query_photo, k=10, cutoff=False, signals=("visual",))))
        assert all(_face(r) is None for r in pictures.values())
        assert all(pictures[name].score < found[name].score for name in obama)  # the face is what lifted them


def test_a_named_person_is_said_and_more_like_this_uses_stored_faces(family, query_photo, tmp_path):  # noqa: F811
    _, library = family
    shutil.copytree(library, tmp_path / "lib")
    with Library.open(tmp_path / "lib", create=False) as lib:
        person = next(p for p in lib.people.list() if any(Path(q).name == "IMG_0003.jpg" for q in p.paths))
        lib.people.name(person.id, "Joe")
        joe = _copy(PORTRAITS / "biden.jpg", tmp_path / "query" / "who.jpg", scale=0.6)
        found = _by_name(lib.search(Query.of(image=joe, k=10, cutoff=False)))
        assert _face(found["IMG_0003.jpg"]).text.startswith("Joe (") and "IMG_0001.jpg" not in {
            name for name, r in found.items() if _face(r) is not None}
        key = found["IMG_0001.jpg"].key  # more like this: the library photo's stored face, no detection
        similar = _by_name(lib.similar(key, k=10, cutoff=False).results)
        assert _face(similar["IMG_0002.jpg"]).relevance > 0.9
        assert "IMG_0003.jpg" not in similar or _face(similar["IMG_0003.jpg"]) is None
        assert list(similar)[0] == "IMG_0002.jpg"
        coffee = lib.search(Query.of(image=skimage_data() / "coffee.png", k=10, cutoff=False))
        assert coffee and all(_face(r) is None for r in coffee)  # no face in the query: pictures alone


def test_a_face_finds_the_moment_of_a_video(family, query_photo, tmp_path):  # noqa: F811
    from videos import slideshow

    _, library = family
    shutil.copytree(library, tmp_path / "lib")
    portrait = Image.open(PORTRAITS / "obama.jpg").convert("RGB")
    frame = Image.new("RGB", (1600, 900), "black")
    frame.paste(portrait.resize((portrait.width * 900 // portrait.height, 900)), (500, 0))
    frame.save(tmp_path / "frame.png")
    (tmp_path / "videos").mkdir()
    clip = slideshow(tmp_path / "videos" / "VID_0001.mp4", [(skimage_data() / "coffee.png", 4.0),
                                                           (tmp_path / "frame.png", 4.0)], size=(960, 540), pan=False)
    with Library.open(tmp_path / "lib", create=False) as lib:
        assert lib.index([clip.parent]).faces.faces >= 1
        moments = [r for r in lib.search(Query.of(image=query_photo, k=10, kinds=("video",), cutoff=False))
                   if _face(r) is not None]
        assert moments and all(_face(r).start >= 3.0 and r.start <= _face(r).start < r.end for r in moments)


def test_cli_and_rest_name_the_face_signal(family, query_photo):  # noqa: F811
    _, library = family
    shown = cli_json("search", "--image", str(query_photo), "--all", "--library", str(library))
    faces = {Path(r["path"]).name: m for r in shown for m in r["matches"] if m["signal"] == "face"}
    assert set(faces) == {"IMG_0001.jpg", "IMG_0002.jpg"} and all(m["relevance"] > 0.9 for m in faces.values())
    only = cli_json("search", "--image", str(query_photo), "--all", "--only", "visual", "--library", str(library))
    assert not [m for r in only for m in r["matches"] if m["signal"] == "face"]

    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    with TestClient(create_app(library), raise_server_exceptions=False) as client:
        with query_photo.open("rb") as fh:
            body = client.post("/api/search/image", files={"file": ("someone.jpg", fh, "image/jpeg")},
                               data={"k": "10"}).json()
        assert "results" in body, body
        named = {r["name"]: r for r in body["results"]}
        assert [m["signal"] for m in named["IMG_0001.jpg"]["matches"]].count("face") == 1
        assert body["results"][0]["name"] in {"IMG_0001.jpg", "IMG_0002.jpg"}


def test_a_library_photo_as_the_query_uses_its_stored_faces(family, monkeypatch):  # noqa: F811
    """The same bytes as a photo the faces pass looked at: its stored faces, no detector run (~0.3 s saved)."""
    from framefind.media import faces

    def no_detector(*args, **kwargs):
        raise AssertionError("the detector ran on a picture the library has looked at")

    monkeypatch.setattr(faces, "faces_in", no_detector)
    media, library = family
    with Library.open(library, create=False) as lib:
        found = _by_name(lib.search(Query.of(image=media / "IMG_0002.jpg", k=10, cutoff=False)))
        assert _face(found["IMG_0001.jpg"]).relevance > 0.9
        assert "IMG_0003.jpg" not in found or _face(found["IMG_0003.jpg"]) is None  # Biden is not him
