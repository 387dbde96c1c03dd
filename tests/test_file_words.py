"""What the library already knows (issue #20): the words in the files (folders, names, captions, keywords, XMP
sidecars) as a search signal, and places from GPS (reverse-geocoded offline) as filters typed into the query.

Real photos (scikit-image's) under neutral camera names, with real EXIF, XMP and GPS written by Pillow; a real
library, the CLI in a subprocess and the REST API over HTTP.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli_json, run_cli
from tagged_photos import ALFAMA, BARCELONA, LISBON, PORTO, SINTRA, photo, xmp_packet  # noqa: F401

from framefind import Library, Query


@pytest.fixture(scope="module")
def trip(tmp_path_factory) -> tuple[Path, Path]:
    """A photo folder as people have them: camera names, a named trip folder, GPS on some, captions on others."""
    root = tmp_path_factory.mktemp("words")
    media = root / "photos"
    photo(media / "DCIM" / "IMG_2041.jpg", "coffee.png", gps=LISBON)
    photo(media / "DCIM" / "IMG_2042.jpg", "chelsea.png", gps=ALFAMA, caption="A red tram climbing through Alfama")
    photo(media / "DCIM" / "IMG_2043.jpg", "astronaut.png", gps=PORTO)
    photo(media / "DCIM" / "IMG_2044.jpg", "rocket.jpg", gps=SINTRA)
    photo(media / "DCIM" / "DSC01234.jpg", "motorcycle_left.png", gps=BARCELONA,
          xmp=xmp_packet("Tapas with friends", ("food", "Places|Spain|Barcelona")))
    photo(media / "2019-07_Gaudi walk" / "IMG_3001.jpg", "hubble_deep_field.jpg")
    photo(media / "DCIM" / "IMG_5000.jpg", "horse.png", keywords="stable;pony")
    photo(media / "DCIM" / "IMG_5001.jpg", "camera.png")
    (media / "DCIM" / "IMG_5001.xmp").write_bytes(xmp_packet("Grandfather's old tripod", ("heirloom",)))
    library = root / "lib"
    with Library.open(library) as lib:
        report = lib.index([media])
        assert report.failed == 0 and report.described.built == 8 and report.described.located == 5
    return media, library


def paths(results) -> list[str]:
    return [Path(r.path).name for r in results]


def by_words(lib: Library, words: str) -> list[str]:
    """What the files' own words alone find (the pictures could rank a photo first on their own)."""
    return paths(lib.search(Query.of(words, signals=("metadata",), k=10, read_places=False)))


def test_a_place_name_finds_exactly_the_photos_taken_there(trip):
    media, library = trip
    with Library.open(library, create=False) as lib:
        page = lib.search_page("Lisbon", k=20)
        assert sorted(paths(page.results)) == ["IMG_2041.jpg", "IMG_2042.jpg"]  # the city: Sintra is its district
        assert page.places == "lisbon ('Lisbon')" and all(r.score == 1.0 for r in page.results)
        assert {r.place for r in page.results} == {"Lisbon, Portugal"}
        assert sorted(paths(lib.search("Portugal", k=20))) == ["IMG_2041.jpg", "IMG_2042.jpg", "IMG_2043.jpg",
                                                              "IMG_2044.jpg"]  # a country finds its places
        lisboa = lib.search_page("Lisboa", k=20)  # a common alternate name
        assert sorted(paths(lisboa.results)) == ["IMG_2041.jpg", "IMG_2042.jpg"]
        assert lisboa.places == "lisboa ('Lisboa')"
        spain = lib.search_page("photos in Spain", k=20, cutoff=False)
        assert paths(spain.results) == ["DSC01234.jpg"] and spain.places == "spain ('in Spain')"


def test_a_name_that_is_no_place_here_stays_a_word(trip):
    _, library = trip
    with Library.open(library, create=False) as lib:
        assert lib.search_page("Paris", k=5, cutoff=False).places is None  # no photo was taken there
        assert lib.search_page("a lisbon morning", k=5, cutoff=False).places is None  # lower case, mid-sentence
        assert lib.search_page("a morning in lisbon", k=5, cutoff=False).places is not None  # after "in"
        kept = lib.search_page(Query.of("Lisbon", read_places=False, cutoff=False, k=20))
        assert kept.places is None and len(kept.results) == 8


def test_the_words_in_a_file_find_it_first(trip):
    _, library = trip
    with Library.open(library, create=False) as lib:
        tram = lib.search("red tram", k=3)
        assert paths(tram)[0] == "IMG_2042.jpg"  # its EXIF caption
        match = next(m for m in tram[0].matches if m.signal == "metadata")
        assert match.text.startswith("caption: ") and "«tram»" in match.text
        assert paths(lib.search("tapas", k=3))[0] == "DSC01234.jpg"  # embedded XMP description
        assert by_words(lib, "tripod heirloom") == ["IMG_5001.jpg"]  # a NAME.xmp sidecar
        assert by_words(lib, "pony") == ["IMG_5000.jpg"]  # Windows XP keywords
        assert [m.text for m in lib.search("pony", k=1)[0].matches if m.signal == "metadata"] == [
            "keywords: stable, «pony»"]
        gaudi = lib.search("gaudi", k=3)
        assert paths(gaudi)[0] == "IMG_3001.jpg"  # the folder's words
        assert any(m.text.startswith("folder: ") for m in gaudi[0].matches)


def test_place_and_words_together(trip):
    _, library = trip
    with Library.open(library, create=False) as lib:
        page = lib.search_page("tram in Lisbon", k=5)
        assert paths(page.results)[0] == "IMG_2042.jpg" and set(paths(page.results)) <= {"IMG_2041.jpg",
                                                                                          "IMG_2042.jpg"}
        assert paths(lib.search("tram in Porto", k=5, cutoff=False)) == ["IMG_2043.jpg"]  # the filter holds
        both = lib.search_page(Query.of("tram", places=("portugal", "lisbon"), k=5))
        assert paths(both.results)[0] == "IMG_2042.jpg"


def test_an_edited_sidecar_and_a_moved_file_are_read_again_without_re_embedding(tmp_path):
    media = tmp_path / "photos"
    photo(media / "DCIM" / "IMG_5001.jpg", "camera.png")
    (media / "DCIM" / "IMG_5001.xmp").write_bytes(xmp_packet("Grandfather's old tripod", ("heirloom",)))
    photo(media / "2019-07_Gaudi walk" / "IMG_3001.jpg", "hubble_deep_field.jpg")
    photo(media / "DCIM" / "IMG_5002.jpg", "coffee.png")
    with Library.open(tmp_path / "lib") as lib:
        assert lib.index([media]).described.built == 3
        (media / "DCIM" / "IMG_5001.jpg.xmp").write_bytes(xmp_packet("A brass telescope"))
        shutil.move(media / "2019-07_Gaudi walk", media / "Sagrada Familia")
        report = lib.index([media])
        assert (report.embedded, report.linked, report.described.built) == (0, 1, 2)
        assert by_words(lib, "telescope") == ["IMG_5001.jpg"]  # NAME.EXT.xmp, next to NAME.xmp
        assert by_words(lib, "heirloom") == ["IMG_5001.jpg"]  # NAME.xmp still read for what NAME.EXT.xmp lacks
        assert by_words(lib, "tripod") == []  # its caption: NAME.EXT.xmp, the more specific sidecar, wins
        assert paths(lib.search("sagrada familia", k=3))[0] == "IMG_3001.jpg"
        assert "IMG_3001.jpg" not in paths(lib.search("gaudi", k=3))  # the folder's old name went with it
        assert lib.index([media]).described.built == 0  # nothing changed: nothing read


def test_bad_metadata_is_one_line_and_the_photo_is_indexed(tmp_path):
    media = tmp_path / "photos"
    photo(media / "IMG_0001.jpg", "coffee.png", gps=(0.0, 0.0))
    photo(media / "IMG_0002.jpg", "chelsea.png")
    (media / "IMG_0002.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>not closed")
    warnings = []
    from framefind.store.events import IndexEvents

    with Library.open(tmp_path / "lib") as lib:
        report = lib.index([media], events=IndexEvents(on_warning=lambda path, note: warnings.append((path, note))))
        assert (report.embedded, report.failed, report.described.located) == (2, 0, 0)
        assert lib.places() == []
    assert len(warnings) == 2 and all("\n" not in note for _, note in warnings)
    assert {Path(path).name for path, _ in warnings} == {"IMG_0001.jpg", "IMG_0002.jpg"}


def test_cli_lists_places_and_shows_them(trip):
    _, library = trip
    found = cli_json("places", "--library", str(library))
    assert {(p["city"], p["country"], p["count"]) for p in found} == {
        ("Lisbon", "Portugal", 2), ("Porto", "Portugal", 1), ("Sintra", "Portugal", 1),
        ("Eixample", "Spain", 1)}  # the nearest place: a district of Barcelona, which also answers to "Barcelona"
    shown = run_cli("search", "tram in Lisbon", "--library", str(library))
    assert "taken in Lisbon, Portugal" in shown.stdout and "caption:" in shown.stdout
    assert "taken in lisbon ('in Lisbon')" in shown.stderr
    results = cli_json("search", "Barcelona", "--library", str(library))
    assert [Path(r["path"]).name for r in results] == ["DSC01234.jpg"]
    assert results[0]["place"] == "Eixample, Catalonia, Spain"
    assert "taken in barcelona ('Barcelona')" in run_cli("search", "Barcelona", "--library", str(library)).stderr
    kept = ("search", "Lisbon", "--no-places", "--all", "-k", "20", "--library", str(library))
    assert len(cli_json(*kept)) == 8 and "taken in" not in run_cli(*kept).stderr  # the words: every photo ranked


def test_rest_api_reads_places_and_lists_them(trip):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    _, library = trip
    with TestClient(create_app(library), raise_server_exceptions=False) as client:
        listed = client.get("/api/places").json()["places"]
        assert {p["city"] for p in listed} == {"Lisbon", "Porto", "Eixample", "Sintra"}
        body = client.get("/api/search", params={"q": "tram in Lisbon", "k": 5}).json()
        assert body["places"] == "lisbon ('in Lisbon')" and body["results"][0]["name"] == "IMG_2042.jpg"
        assert body["results"][0]["place"] == "Lisbon, Portugal"
        assert any(m["signal"] == "metadata" for m in body["results"][0]["matches"])
        only_place = client.get("/api/search", params={"place": "Portugal", "k": 20}).json()
        assert len(only_place["results"]) == 4
        assert client.get("/api/search").status_code == 400  # neither words nor a place


def test_a_video_carries_its_place_and_title(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg (Debian package ffmpeg) is not installed")
    import subprocess

    media = tmp_path / "videos"
    media.mkdir()
    clip = media / "VID_20190714_101500.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "2",
                    "-metadata", "title=Funicular up to the castle", "-metadata", "location=+38.7139-009.1334/",
                    "-pix_fmt", "yuv420p", str(clip)], check=True, timeout=120)
    with Library.open(tmp_path / "lib") as lib:
        assert lib.index([media]).described.located == 1
        found = lib.search_page("funicular in Lisbon", k=3)
        assert paths(found.results) == ["VID_20190714_101500.mp4"] and found.results[0].place == "Lisbon, Portugal"
        assert any(m.text == "title: «Funicular» up to the castle" for m in found.results[0].matches)


def test_a_folder_names_a_place_only_for_photos_without_gps(tmp_path):
    media = tmp_path / "photos" / "2019 Lisbon trip"
    photo(media / "IMG_0001.jpg", "coffee.png", gps=LISBON)
    photo(media / "IMG_0002.jpg", "chelsea.png", gps=PORTO)  # a day trip: its GPS says where it was taken
    photo(media / "IMG_0003.jpg", "astronaut.png")  # no GPS: the folder's word is all there is
    with Library.open(tmp_path / "lib") as lib:
        lib.index([tmp_path / "photos"])
        assert sorted(paths(lib.search("Lisbon", k=10))) == ["IMG_0001.jpg", "IMG_0003.jpg"]
        assert paths(lib.search("Porto", k=10)) == ["IMG_0002.jpg"]


def test_an_item_says_where_it_was_taken(trip):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    _, library = trip
    with Library.open(library, create=False) as lib:
        tram = lib.search("red tram", k=1)[0]
        assert lib.place_of(tram.key) == "Lisbon, Portugal"
    with TestClient(create_app(library), raise_server_exceptions=False) as client:
        assert client.get(f"/api/items/{tram.key}").json()["place"] == "Lisbon, Portugal"
