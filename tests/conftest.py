"""Shared fixtures: real images from scikit-image and Debian's wallpaper packages, and CLI helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SKIMAGE_PHOTOS = [
    "chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
    "camera.png", "coins.png", "page.png", "hubble_deep_field.jpg", "brick.png", "grass.png", "moon.png",
]
WALLPAPER_DIRS = ["/usr/share/wallpapers", "/usr/share/backgrounds"]


def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def wallpaper_files(limit: int | None = None, min_pixels: int = 0) -> list[Path]:
    """Distinct real photos and artwork from plasma-workspace-wallpapers / ukui-wallpapers.

    Plasma ships each picture in many resolutions (and some as symlinks): keep the largest of each.
    """
    from PIL import Image

    best: dict[str, tuple[int, Path]] = {}
    for root in WALLPAPER_DIRS:
        for path in sorted(Path(root).rglob("*")) if Path(root).is_dir() else []:
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or "screenshot" in path.name:
                continue
            with Image.open(path) as im:
                pixels = im.size[0] * im.size[1]
            picture = path.parts[4] if path.parts[3] == "wallpapers" else path.resolve().name
            if pixels >= min_pixels and pixels > best.get(picture, (0, path))[0]:
                best[picture] = (pixels, path)
    found = [path for _, path in sorted(best.values(), key=lambda pair: str(pair[1]))]
    if not found:
        pytest.skip("Debian package plasma-workspace-wallpapers / ukui-wallpapers is not installed")
    return found[:limit]


def copy_photos(target: Path, n_wallpapers: int = 30) -> Path:
    """scikit-image photos + wallpapers (as distractors) with unique names in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_PHOTOS:
        shutil.copy(skimage_data() / name, target / name)
    for i, path in enumerate(wallpaper_files(n_wallpapers, min_pixels=1_000_000)):
        shutil.copy(path, target / f"wallpaper{i:02d}{path.suffix.lower()}")
    return target


@pytest.fixture(scope="session")
def photo_library(tmp_path_factory):
    """(photos dir, library) indexed once for the read-only tests."""
    from framefind import Library

    base = tmp_path_factory.mktemp("photos")
    photos = copy_photos(base / "photos")
    library = Library.open(base / "library")
    report = library.index([photos])
    assert report.failed == 0 and report.embedded == len(list(photos.iterdir()))
    yield photos, library
    library.close()


def run_cli(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run ``framefind ARGS`` in a real subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "framefind.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"framefind {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def cli_json(*args: str) -> list | dict:
    return json.loads(run_cli(*args, "--json").stdout)
