"""Near-duplicate groups on real photos and videos: every copy found, no false member, nothing deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import copy_photos, run_cli, skimage_data
from PIL import Image
from videos import need, slideshow, transcode

from framefind import Library

ORIGINALS = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]


def _variants(source: Path, target: Path) -> list[Path]:
    """Half size, an 80 % centre crop and a JPEG at quality 30: what copies of a photo look like."""
    im = Image.open(source).convert("RGB")
    w, h = im.size
    out = [target / f"{source.stem} half.jpg", target / f"{source.stem} crop.jpg", target / f"{source.stem} q30.jpg"]
    im.resize((w // 2, h // 2)).save(out[0], quality=90)
    im.crop((w // 10, h // 10, w * 9 // 10, h * 9 // 10)).save(out[1], quality=90)
    im.save(out[2], quality=30)
    return out


@pytest.fixture(scope="module")
def library(tmp_path_factory, models_ready):
    base = tmp_path_factory.mktemp("dups")
    media = copy_photos(base / "media", 20)  # scikit-image photos + 20 wallpapers: the distractors
    copies = base / "media" / "copies"
    copies.mkdir()
    expected = {name: {str(media / name), *map(str, _variants(media / name, copies))} for name in ORIGINALS}
    shutil.copy(media / "horse.png", copies / "horse again.png")  # the same bytes under another name
    expected["horse.png"] = {str(media / "horse.png"), str(copies / "horse again.png")}
    need("ffmpeg", "ffmpeg")
    black = base / "black.png"
    Image.new("RGB", (480, 270)).save(black)
    shots = [(skimage_data() / n, 3.0) for n in ("coffee.png", "rocket.jpg", "horse.png", "camera.png")]
    video = slideshow(media / "shots.mp4", shots)
    transcode(video, media / "shots reencoded.mp4", "-crf", "35", "-vf", "scale=320:180")
    transcode(video, media / "shots trimmed.mp4", "-ss", "1", "-t", "9")
    expected["shots.mp4"] = {str(media / n) for n in ("shots.mp4", "shots reencoded.mp4", "shots trimmed.mp4")}
    # Two different videos that both fade in from black: not duplicates of each other.
    for name, second, third in (("fade a.mp4", "coins.png", "page.png"), ("fade b.mp4", "moon.png", "brick.png")):
        slideshow(media / name, [(black, 3.0), (skimage_data() / second, 3.0), (skimage_data() / third, 3.0)])
    with Library.open(base / "lib") as lib:
        assert lib.index([media]).failed == 0
        yield lib, expected


def test_every_copy_is_grouped_and_no_group_has_a_stranger(library):
    lib, expected = library
    groups = [{path for info in group for path in info.paths} for group in lib.duplicates()]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, expected.values()))


def test_cli_json_and_table(library):
    lib, expected = library
    groups = json.loads(run_cli("duplicates", "--library", str(lib.directory), "--json").stdout)
    assert all({"path", "kind", "key", "same_bytes"} <= set(member) for group in groups for member in group)
    assert sorted(sorted(m["path"] for m in g) for g in groups) == sorted(map(sorted, expected.values()))
    only_videos = json.loads(run_cli("duplicates", "--kind", "video", "--library", str(lib.directory),
                                     "--json").stdout)
    assert [sorted(m["path"] for m in g) for g in only_videos] == [sorted(expected["shots.mp4"])]
    table = run_cli("duplicates", "--library", str(lib.directory)).stdout
    assert table.count("group ") == len(expected) and "(same bytes)" in table
    strict = json.loads(run_cli("duplicates", "--threshold", "0.999", "--library", str(lib.directory),
                                "--json").stdout)
    assert [sorted(m["path"] for m in g) for g in strict] == [sorted(expected["horse.png"])]  # exact copies only
    assert all(Path(p).exists() for paths in expected.values() for p in paths)  # nothing was deleted


def test_rest_api_lists_the_same_groups(library):
    from fastapi.testclient import TestClient

    from framefind.interfaces.server.app import create_app

    lib, expected = library
    with TestClient(create_app(lib.directory)) as client:
        groups = client.get("/api/duplicates").json()
        assert sorted(sorted(m["path"] for m in g) for g in groups) == sorted(map(sorted, expected.values()))
        keys = [m["key"] for g in groups for m in g if m["kind"] == "video"]
        assert len(keys) == 3 and all(len(key) == 32 and "@" not in key for key in keys)  # whole files
        assert client.get(f"/api/items/{keys[0]}").json()["kind"] == "video"
        assert client.get("/api/duplicates", params={"threshold": 2}).status_code == 422
