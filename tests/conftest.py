"""Shared fixtures: real images from scikit-image and Debian's wallpaper packages, and CLI helpers."""

from __future__ import annotations

import contextlib
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
WALLPAPER_PACKAGES = ("plasma-workspace-wallpapers", "ukui-wallpapers")


def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def wallpaper_files(limit: int | None = None, min_pixels: int = 0) -> list[Path]:
    """Distinct real photos and artwork from plasma-workspace-wallpapers / ukui-wallpapers.

    Plasma ships each picture in many resolutions (and some as symlinks): keep the largest of each.
    """
    from PIL import Image

    best: dict[str, tuple[int, Path]] = {}
    owned = _package_files(WALLPAPER_PACKAGES)  # other packages installing into the same folders do not count
    for root in WALLPAPER_DIRS:
        for path in sorted(Path(root).rglob("*")) if Path(root).is_dir() else []:
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or "screenshot" in path.name:
                continue
            if owned is not None and str(path) not in owned:
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


def _package_files(packages: tuple[str, ...]) -> set[str] | None:
    """The paths the Debian packages installed (None where dpkg cannot say: then every file counts)."""
    try:
        listed = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    files = set(listed.stdout.splitlines())
    return files or None


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


def run_cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``framefind ARGS`` in a real subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "framefind", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"framefind {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


WAIT_LIMIT = 120.0  # seconds: only bounds a wait for something that must happen; never judges a speed


def wait_until(ready, what: str, limit: float = WAIT_LIMIT, poll: float = 0.02) -> None:
    """Return once ``ready()`` is true; fail naming ``what`` if it has not become true within ``limit`` s.
    The limit is generous on purpose: a slow or busy machine only makes the wait longer."""
    import time

    deadline = time.monotonic() + limit
    while not ready():
        assert time.monotonic() < deadline, f"waited {limit:.0f} s for {what}"
        time.sleep(poll)


def cli_json(*args: str) -> list | dict:
    return json.loads(run_cli(*args, "--json").stdout)


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def fashion_mnist(n: int, split: str = "t10k") -> tuple:
    """The first ``n`` Fashion-MNIST images (uint8 28x28) and labels, from Debian's dataset-fashion-mnist."""
    import gzip

    import numpy as np

    images_path = FASHION_MNIST / f"{split}-images-idx3-ubyte.gz"
    if not images_path.exists():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    with gzip.open(images_path) as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(FASHION_MNIST / f"{split}-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)[:n]
    return images, labels


def write_fashion_pngs(target: Path, n: int) -> list[Path]:
    """``n`` distinct real images as PNG files (fast to write, unique content)."""
    from PIL import Image

    target.mkdir(parents=True, exist_ok=True)
    images, labels = fashion_mnist(n)
    paths = []
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        path = target / f"{i:05d}-{FASHION_CLASSES[label]}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def models_ready():
    """Convert the default models once, so subprocess tests time indexing, not the one-off conversion."""
    import numpy as np

    from framefind.models.base import load_model

    model = load_model("effnet-conse")
    model.embed_images(np.zeros((1, model.image_size, model.image_size, 3), np.uint8))
    model.embed_texts(["warm-up"])
    return model


def grow_library(library_dir: Path, total: int, seed: int = 0) -> None:
    """Add items straight to the catalog (real vectors + noise, re-normalised) until the library holds
    ``total``: a big library in seconds (search cost depends on the count and size of vectors, not pixels).
    Each added item's file is a hard link to a real indexed file (in ``synthetic/`` beside the library), so
    results point at files that exist, as searches require."""
    import numpy as np

    from framefind import Library
    from framefind.media.units import Item

    rng = np.random.default_rng(seed)
    with Library.open(library_dir) as library:
        catalog, spaces, model_id = library.catalog, library.model.spaces, library.model_id
        have = catalog.stats(model_id)["items"]
        real = {space: catalog.vectors(model_id, space)[1] for space in spaces}
        originals = [r[0] for r in catalog.db.execute("SELECT path FROM files WHERE status = 'ok' LIMIT 1000")]
        links = library_dir.parent / "synthetic"
        links.mkdir(exist_ok=True)
        with catalog.transaction():
            for i in range(have, total):
                vectors = {}
                for space, base in real.items():
                    v = base[rng.integers(len(base))] + rng.normal(0, 0.05, base.shape[1]).astype(np.float32)
                    vectors[space] = (v / np.linalg.norm(v))[None]
                content = f"{i:032x}"
                catalog.add_content(content, "image", model_id, (28, 28), [Item()], vectors)
                link = links / f"{i:08d}.png"
                if not link.exists():
                    os.link(originals[i % len(originals)], link)  # spread: a file takes ~65k links
                catalog.record_file(str(link), 1, 0, "image", content)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """An isolated model cache for one test module, so each of its conversions runs once."""
    directory = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAMEFIND_CACHE", str(directory))
        yield directory


@contextlib.contextmanager
def background_build_running(directory: Path):
    """Hold a library's background-build lock as store/rebuild.py's process does (this process's pid in
    it): to the library, a build is running until the block ends."""
    import fcntl

    from framefind.store.rebuild import LOCK_NAME

    with open(directory / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

