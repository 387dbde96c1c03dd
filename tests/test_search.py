"""Text -> image and image -> image search on real photos, through the Python API and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import cli_json, run_cli, skimage_data, wallpaper_files
from PIL import Image

from framefind import FrameFindError, Library
from framefind.search import relevance
from framefind.search.results import Match

# Each query must put its photo first among the scikit-image photos and ~30 wallpaper distractors.
TEXT_QUERIES = {
    "a cup of coffee": "coffee.png",
    "a cat": "chelsea.png",
    "a rocket": "rocket.jpg",
    "a motorcycle": "motorcycle_left.png",
    "a horse": "horse.png",
    "a camera on a tripod": "camera.png",
    "a page of text": "page.png",
}


@pytest.mark.parametrize("query,expected", TEXT_QUERIES.items())
def test_text_query_finds_the_right_photo_first(photo_library, query, expected):
    _, library = photo_library
    results = library.search(query, k=5, cutoff=False)  # the ranking below the relevance floor too
    assert Path(results[0].path).name == expected, [Path(r.path).name for r in results]
    assert results[0].score > results[1].score
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_scores_separate_match_from_non_match(photo_library):
    """The score is a probability: the coffee is a match on its own (it reaches the cutoff), the cat is not
    even kept on a page that matched; underneath, the picture cosines stand well apart."""
    _, library = photo_library
    by_name = {Path(r.path).name: r for r in library.search("a cup of coffee", k=100, cutoff=False)}
    coffee, cat = by_name["coffee.png"], by_name["chelsea.png"]
    assert coffee.score >= relevance.CUTOFF > relevance.FLOOR > cat.score, (coffee.score, cat.score)
    assert _visual(coffee).score - _visual(cat).score > 0.2
    page = library.search_page("a cup of coffee", k=100)
    assert "coffee.png" in _names(page.results) and "chelsea.png" not in _names(page.results)


def _visual(result) -> Match:
    return next(m for m in result.matches if m.signal == "visual")


def _names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def _variants(original: Path) -> dict[str, Image.Image]:
    im = Image.open(original).convert("RGB")
    w, h = im.size
    out = {
        "half size": im.resize((w // 2, h // 2)),
        "centre crop 80%": im.crop((w // 10, h // 10, w * 9 // 10, h * 9 // 10)),
    }
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=30)
    out["jpeg q30"] = Image.open(buffer)
    return out


@pytest.mark.parametrize("which", ["chelsea.png", 5, 12, 25])
def test_reverse_search_finds_the_original_of_a_near_duplicate(photo_library, tmp_path, which):
    photos, library = photo_library
    original = photos / which if isinstance(which, str) else sorted(photos.glob("wallpaper*"))[which]
    for label, variant in _variants(original).items():
        query = tmp_path / f"query-{label.replace(' ', '_').replace('%', '')}.jpg"
        variant.save(query, "JPEG", quality=90)
        results = library.search(image=query, k=3)
        assert Path(results[0].path) == original, (label, [(Path(r.path).name, r.score) for r in results])
        assert results[0].score > 0.8, (label, results[0].score)


def test_image_query_of_an_indexed_file_scores_one(photo_library):
    photos, library = photo_library
    results = library.search(image=photos / "horse.png", k=1)
    assert Path(results[0].path).name == "horse.png" and results[0].score == pytest.approx(1.0, abs=1e-2)


def test_min_score_and_k(photo_library):
    _, library = photo_library
    assert len(library.search("a cat", k=4, cutoff=False)) == 4
    kept = library.search("a cat", k=50, min_score=0.05, cutoff=False)  # the cat: ~0.16, the rest ~0.01
    assert [Path(r.path).name for r in kept] == ["chelsea.png"]
    # min_score compares with the displayed (rounded) score, exactly: the cat's own score keeps it.
    assert [r.key for r in library.search("a cat", k=50, min_score=kept[0].score, cutoff=False)] == [kept[0].key]
    assert library.search("a cat", k=50, min_score=kept[0].score + 0.001, cutoff=False) == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_error(photo_library, query):
    _, library = photo_library
    with pytest.raises(FrameFindError, match="empty query"):
        library.search(query)


def test_cli_search_json_and_table(photo_library):
    photos, library = photo_library
    results = cli_json("search", "a cup of coffee", "-k", "3", "--all", "--library", str(library.directory))
    assert len(results) == 3
    assert {"path", "score", "kind"} <= set(results[0])
    assert results[0]["path"] == str(photos / "coffee.png") and results[0]["kind"] == "image"
    assert "start" not in results[0]  # start/end belong to video moments only
    table = run_cli("search", "a horse", "-k", "2", "--library", str(library.directory)).stdout
    assert "horse.png" in table and "score" in table
    similar = cli_json("search", "--image", str(skimage_data() / "rocket.jpg"), "--library", str(library.directory))
    assert Path(similar[0]["path"]).name == "rocket.jpg"


def test_cli_info(photo_library):
    photos, library = photo_library
    info = cli_json("info", "--library", str(library.directory))
    n_files = len(list(photos.iterdir()))
    assert info["files"] == n_files and info["items"] == n_files and info["failed"] == 0
    assert info["model"] == "effnet-conse" and info["index"] == "auto" and info["roots"] == [str(photos)]
    assert info["index_files"] == {"visual": "flat", "semantic": "flat"}
    assert info["model_id"].startswith("effnet-conse-")
    assert info["disk_bytes"] > 0


@pytest.mark.parametrize("args,message", [
    (["search", ""], "empty query"),
    (["search", "cat", "-k", "0"], "-k must be at least 1"),
    (["search", "--image", "/no/such.jpg"], "/no/such.jpg: no such file"),
    (["search"], "empty query: give some words, --image FILE or --video FILE"),
    (["search", "cat", "--video", "/etc/hostname"], "an example video is a query on its own"),
    (["search", '"a red car'], "a double quote is not closed"),
    (["search", "cat -cat"], "the query's terms cancel out"),
])
def test_cli_errors_are_one_line(photo_library, args, message):
    _, library = photo_library
    proc = run_cli(*args, "--library", str(library.directory), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_library_dir_that_is_not_ours(tmp_path):
    (tmp_path / "notes.txt").write_text("my files")
    proc = run_cli("index", str(skimage_data() / "coffee.png"), "--library", str(tmp_path), check=False)
    assert proc.returncode == 1 and "not a framefind library" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written there
    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FrameFindError, match="not a framefind catalog"):
        Library.open(foreign)


def test_search_before_any_index_is_a_clear_error(tmp_path):
    proc = run_cli("search", "cat", "--library", str(tmp_path / "new"), check=False)
    assert proc.returncode == 1 and "no framefind library here" in proc.stderr
    assert not (tmp_path / "new").exists()


def test_formats_and_exif_orientation(tmp_path):
    """Every supported format indexes; a rotated-by-EXIF JPEG is stored upright and matches its source."""
    source = Image.open(skimage_data() / "chelsea.png").convert("RGB")  # 451 x 300, landscape
    photos = tmp_path / "photos"
    photos.mkdir()
    formats = {"cat.webp": "WEBP", "cat.gif": "GIF", "cat.bmp": "BMP", "cat.tiff": "TIFF", "cat.png": "PNG"}
    for name, fmt in formats.items():
        source.save(photos / name, fmt)
    try:  # written by the plugin itself, without registering it with Pillow: framefind must do that
        import pillow_heif

        pillow_heif.from_pillow(source).save(photos / "cat.heic")
        formats["cat.heic"] = "HEIF"
    except ImportError:
        pass
    # Stored as portrait pixels with EXIF "rotate 90 CW" (orientation 6): upright it is the landscape cat.
    exif = Image.Exif()
    exif[0x0112] = 6
    source.transpose(Image.Transpose.ROTATE_90).save(photos / "rotated.jpg", "JPEG", quality=95, exif=exif)
    for i, path in enumerate(wallpaper_files(5, min_pixels=1_000_000)):
        Image.open(path).convert("RGB").save(photos / f"other{i}.jpg")
    with Library.open(tmp_path / "lib") as library:
        report = library.index([photos])
        assert report.failed == 0 and report.scanned == len(formats) + 6
        results = library.search(image=skimage_data() / "chelsea.png", k=len(formats) + 1)
        # One picture in six formats and a rotated JPEG: near-duplicates, folded into the best of them.
        names = {Path(r.path).name for r in results[:1]} | {Path(n.path).name for n in results[0].near_duplicates}
        assert names == set(formats) | {"rotated.jpg"}, [(Path(r.path).name, r.score) for r in results]
        # The same pixels: the best copy's cosine is ~1, and every folded copy scores (a probability) about
        # as high as it and above every other picture.
        assert _visual(results[0]).score > 0.99
        assert all(results[0].score - 0.03 < n.score <= results[0].score for n in results[0].near_duplicates)
        assert min(n.score for n in results[0].near_duplicates) > max(r.score for r in results[1:])
        assert {Path(r.path).name for r in results[1:]} <= {f"other{i}.jpg" for i in range(5)}
        rotated = next(i for n in results[0].near_duplicates if Path(n.path).name == "rotated.jpg"
                       for i in library.resolve(n.key))
        assert (rotated.width, rotated.height) == (451, 300)


def test_api_results_carry_size_and_duplicates(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    data = (skimage_data() / "coffee.png").read_bytes()
    (photos / "coffee.png").write_bytes(data)
    (photos / "copy of coffee.png").write_bytes(data)
    (photos / "cat.png").write_bytes((skimage_data() / "chelsea.png").read_bytes())
    with Library.open(tmp_path / "lib") as library:
        report = library.index([photos])
        assert (report.embedded, report.linked) == (2, 1)  # identical bytes embedded once
        top = library.search("coffee", k=2, cutoff=False)
        assert (top[0].width, top[0].height) == (600, 400)
        assert {top[0].path, *top[0].duplicates} == {str(photos / "coffee.png"), str(photos / "copy of coffee.png")}
        assert Path(top[1].path).name == "cat.png"  # the copy does not take a second slot


def test_query_text_syntax():
    from framefind.search.query import Term, parse_words

    assert parse_words("beach +sunset -people") == (Term("words", "beach"), Term("words", "sunset"),
                                                    Term("words", "people", -1.0))
    assert Term("text", "beach") == Term("words", "beach")  # the kind's old name, as callers may still write it
    assert parse_words('sunset:2 "red car" -"parking lot":0.5') == (
        Term("words", "red car"), Term("words", "sunset", 2.0), Term("words", "parking lot", -0.5))
    assert parse_words("a dog's t-shirt at 12:30") == (Term("words", "a dog's t-shirt at 12:30"),)
    with pytest.raises(FrameFindError, match="not closed"):
        parse_words('"red car')
    with pytest.raises(FrameFindError, match="has no words"):
        parse_words("cat -")


def test_composed_queries_move_the_ranking(photo_library):
    photos, library = photo_library

    from framefind import Query

    def names(query=None, **kwargs) -> list[str]:  # the pictures alone: the photos' file names say what they show
        return [Path(r.path).name for r in library.search(Query.of(query, k=40, cutoff=False, signals=("visual",),
                                                                   **kwargs))]

    assert names("an animal").index("chelsea.png") <= 2
    assert "chelsea.png" not in names('an animal -"a cat"')[:5]  # subtracting "a cat" pushes the cat away
    assert set(names("a cat +coffee")[:2]) == {"chelsea.png", "coffee.png"}  # both concepts at once
    assert names("coffee +cat:3")[0] == "chelsea.png" and names("coffee:3 +cat")[0] == "coffee.png"
    assert set(names("a rocket", image=photos / "chelsea.png")[:2]) == {"chelsea.png", "rocket.jpg"}

    plain = library.search(Query.of("an animal", k=5, cutoff=False))
    pushed = library.search(Query.of("an animal", minus_images=(photos / "chelsea.png",), k=5, cutoff=False))
    assert "chelsea.png" in [Path(r.path).name for r in plain] and len(pushed) == 5
    assert "chelsea.png" not in [Path(r.path).name for r in pushed]
    proc = run_cli("search", 'an animal -"a cat"', "--only", "visual", "--library", str(library.directory), "--json")
    assert Path(json.loads(proc.stdout)[0]["path"]).name == "horse.png"
