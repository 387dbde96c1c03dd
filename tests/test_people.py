"""People from faces (issue #20): index --faces on real portraits (public-domain photos of Barack Obama and Joe
Biden from face_recognition's source package, fetched by ``make test``; scikit-image's astronaut), people grouped
incrementally, named, merged and forgotten from the CLI, the Python API and the REST API, and named people as
search filters, with places and words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli_json, run_cli, skimage_data
from PIL import Image
from tagged_photos import LISBON, photo

from framefind import Library, Query

PORTRAITS = Path(__file__).resolve().parent.parent / ".cache" / "face-photos"


def _need_faces() -> None:
    from framefind.media.faces import available

    missing = available()
    if missing:
        pytest.skip(missing)
    if not (PORTRAITS / "obama.jpg").exists():
        pytest.skip(f"no portraits in {PORTRAITS} (make face-photos fetches face_recognition's source package)")


def _copy(source: Path, target: Path, *, scale: float = 1.0, gps: tuple[float, float] | None = None) -> Path:
    """A real photo under a neutral camera name: resized (another sighting's bytes), GPS when given."""
    image = Image.open(source).convert("RGB")
    if scale != 1.0:
        image = image.resize((int(image.width * scale), int(image.height * scale)))
    target.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if gps is not None:
        from tagged_photos import _dms

        exif.get_ifd(0x8825).update({1: "N", 2: _dms(gps[0]), 3: "W" if gps[1] < 0 else "E", 4: _dms(gps[1])})
    image.save(target, exif=exif, quality=92)
    return target


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[Path, Path]:
    _need_faces()
    root = tmp_path_factory.mktemp("people")
    media = root / "photos"
    _copy(PORTRAITS / "obama.jpg", media / "IMG_0001.jpg")
    _copy(PORTRAITS / "obama2.jpg", media / "IMG_0002.jpg", gps=LISBON)
    _copy(PORTRAITS / "biden.jpg", media / "IMG_0003.jpg")
    _copy(PORTRAITS / "biden.jpg", media / "IMG_0004.jpg", scale=0.8)  # a second sighting of him
    _copy(skimage_data() / "astronaut.png", media / "IMG_0005.jpg")  # seen once: waits, unsorted
    photo(media / "IMG_0006.jpg", "coffee.png", caption="Coffee at the beach bar")  # no face
    with Library.open(root / "lib") as lib:
        report = lib.index([media], faces=True)
        assert report.failed == 0 and report.faces.contents == 6 and report.faces.people == 2, report.faces
    return media, root / "lib"


def _names(results) -> list[str]:
    return sorted(Path(r.path).name for r in results)


def test_faces_become_people_and_a_name_finds_them(family):
    media, library = family
    with Library.open(library, create=False) as lib:
        found = lib.people.list()
        groups = sorted(sorted(Path(p).name for p in person.paths) for person in found)
        assert groups == [["IMG_0001.jpg", "IMG_0002.jpg"], ["IMG_0003.jpg", "IMG_0004.jpg"]]
        assert lib.people.unsorted() == 2  # seen once: the astronaut, and the mission patch on her sleeve
        obama = next(p for p in found if "IMG_0001.jpg" in {Path(q).name for q in p.paths})
        lib.people.name(obama.id, "Barack")
        page = lib.search_page("Barack", k=10)
        assert _names(page.results) == ["IMG_0001.jpg", "IMG_0002.jpg"]
        assert page.people == "barack ('Barack')" and page.places is None
        assert _names(lib.search("photos of barack in Lisbon", k=10)) == ["IMG_0002.jpg"]  # person and place
        assert _names(lib.search(Query.of("a portrait", people=("barack",), k=10, cutoff=False))) == [
            "IMG_0001.jpg", "IMG_0002.jpg"]
        with pytest.raises(Exception, match="already names person"):
            other = next(p for p in found if p.id != obama.id)
            lib.people.name(other.id, "barack")


def test_a_new_photo_joins_its_person_and_a_re_run_splits_nobody(family, tmp_path):
    media, library = family
    copy_media, copy_lib = tmp_path / "photos", tmp_path / "lib"
    shutil.copytree(library, copy_lib)
    with Library.open(copy_lib, create=False) as lib:
        before = {p.id: set(p.paths) for p in lib.people.list()}
        _copy(PORTRAITS / "obama3.jpg", copy_media / "IMG_0100.jpg")
        report = lib.index([copy_media])
        assert report.faces.contents == 1 and report.faces.people == 0  # joined, no new person
        after = {p.id: set(p.paths) for p in lib.people.list()}
        assert after.keys() == before.keys()
        grew = [pid for pid in after if after[pid] - before[pid]]
        assert len(grew) == 1 and any(Path(p).name == "IMG_0001.jpg" for p in after[grew[0]])
        assert lib.index([media]).faces.contents == 0  # nothing new: nothing looked at, nobody split
        assert {p.id: set(p.paths) for p in lib.people.list()} == after


def test_cli_and_rest_name_merge_and_forget(family, tmp_path):
    _, library = family
    copy_lib = tmp_path / "lib"
    shutil.copytree(library, copy_lib)
    listed = cli_json("people", "--library", str(copy_lib))
    assert len(listed) == 2 and all(set(p) == {"id", "name", "faces", "paths"} for p in listed)
    first = next(p["id"] for p in listed if any(path.endswith("IMG_0001.jpg") for path in p["paths"]))
    second = next(p["id"] for p in listed if p["id"] != first)
    run_cli("people", "name", str(second), "Joe", "--library", str(copy_lib))
    shown = run_cli("search", "Joe", "--library", str(copy_lib))
    assert "IMG_0003.jpg" in shown.stdout and "IMG_0001.jpg" not in shown.stdout
    bad = run_cli("people", "name", "999", "Nobody", "--library", str(copy_lib), check=False)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "no such person" in bad.stderr

    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    with TestClient(create_app(copy_lib), raise_server_exceptions=False) as client:
        body = client.get("/api/people").json()
        assert body["unsorted"] == 2 and [p["name"] for p in body["people"] if p["id"] == second] == ["Joe"]
        crop = client.get(body["people"][0]["face_url"])
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        assert Image.open(__import__("io").BytesIO(crop.content)).size == (160, 160)
        named = client.post(f"/api/people/{first}/name", json={"name": "Barack"}).json()
        assert {p["name"] for p in named["people"]} == {"Barack", "Joe"}
        found = client.get("/api/search", params={"q": "Barack", "k": 10}).json()
        assert sorted(r["name"] for r in found["results"]) == ["IMG_0001.jpg", "IMG_0002.jpg"]
        merged = client.post("/api/people/merge", json={"keep": first, "other": second}).json()
        assert len(merged["people"]) == 1 and merged["people"][0]["faces"] == 4
        assert client.delete(f"/api/people/{first}").json()["people"] == []
        assert client.get("/api/faces/1.jpg").status_code == 404  # the face data is gone
    forgotten = ("search", "Barack", "--all", "--library", str(copy_lib))  # no person any more: plain words
    assert len(cli_json(*forgotten)) == 5 and "showing" not in run_cli(*forgotten).stderr  # Biden's copy folds


def test_faces_need_their_extra_in_one_line(tmp_path, monkeypatch):
    from framefind.media import faces

    monkeypatch.setattr(faces, "available", lambda: "faces need the faces extra: pip install 'framefind[faces]'")
    photo(tmp_path / "photos" / "IMG_0001.jpg", "coffee.png")
    with Library.open(tmp_path / "lib") as lib, pytest.raises(Exception, match=r"framefind\[faces\]"):
        lib.index([tmp_path / "photos"], faces=True)


def test_a_persons_moments_in_a_video(family, tmp_path):
    from videos import slideshow

    _, library = family
    copy_lib = tmp_path / "lib"
    shutil.copytree(library, copy_lib)
    (tmp_path / "videos").mkdir()
    portrait = Image.open(PORTRAITS / "obama.jpg").convert("RGB")  # upright: on a wide frame, as a video shows it
    frame = Image.new("RGB", (1600, 900), "black")
    frame.paste(portrait.resize((portrait.width * 900 // portrait.height, 900)), (500, 0))
    frame.save(tmp_path / "frame.png")
    clip = slideshow(tmp_path / "videos" / "VID_0001.mp4", [(skimage_data() / "coffee.png", 4.0),
                                                           (tmp_path / "frame.png", 4.0)], size=(960, 540), pan=False)
    with Library.open(copy_lib, create=False) as lib:
        obama = next(p for p in lib.people.list() if any(Path(q).name == "IMG_0001.jpg" for q in p.paths))
        lib.people.name(obama.id, "Barack")
        assert lib.index([clip.parent]).faces.faces >= 1
        barack = next(p for p in lib.people.list() if p.id == obama.id)
        assert {Path(q).name for q in barack.paths} == {"IMG_0001.jpg", "IMG_0002.jpg", "VID_0001.mp4"}
        moments = [r for r in lib.search(Query.of("Barack", k=10, kinds=("video",)))]
        assert moments and all(r.start >= 3.0 for r in moments)  # the moments he is in, not the coffee's


def test_a_caption_written_into_a_photo_keeps_its_person(family, tmp_path):
    """Editing a photo's metadata in place (new bytes, same picture) keeps its faces and their named person."""
    media, _ = family
    copy_media = tmp_path / "photos"
    shutil.copytree(media, copy_media)
    with Library.open(tmp_path / "lib") as lib:
        lib.index([copy_media], faces=True)
        joe = next(p for p in lib.people.list() if any(Path(q).name == "IMG_0003.jpg" for q in p.paths))
        lib.people.name(joe.id, "Joe")
        words = b"Joe at the office"
        for name in ("IMG_0003.jpg", "IMG_0004.jpg"):  # both of his photos get a comment written into them
            raw = (copy_media / name).read_bytes()
            comment = b"\xff\xfe" + (len(words) + 2).to_bytes(2, "big") + words  # a JPEG COM segment
            (copy_media / name).write_bytes(raw[:2] + comment + raw[2:])
        report = lib.index([copy_media])
        assert (report.embedded, report.reused) == (0, 2)
        assert _names(lib.search("Joe", k=10)) == ["IMG_0003.jpg", "IMG_0004.jpg"]
        assert [p.name for p in lib.people.list() if p.name] == ["Joe"]
