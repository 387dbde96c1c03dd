"""Media on disk: finding files, hashing their content, decoding images into model-ready pixels."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mode
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FrameFindError, MediaError

try:  # HEIC/HEIF photos (iPhone) when the optional plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_EXTENSIONS = {".heic", ".heif"}
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_EXTENSIONS = set()

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} | HEIF_EXTENSIONS
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}
MAX_PIXELS = 200_000_000  # decompression-bomb guard: larger images are refused before decoding
Image.MAX_IMAGE_PIXELS = None  # our own check above replaces Pillow's warning-then-error pair

_HASH_CHUNK = 1 << 20
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int
    kind: str


def media_kind(path: str | Path) -> str | None:
    """``"image"`` or ``"video"`` by extension, else None (not ours to index)."""
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_EXTENSIONS else "video" if suffix in VIDEO_EXTENSIONS else None


def scan(roots: Iterable[str | Path]) -> Iterator[FileStat]:
    """Yield every supported media file below the roots (a root may also be a single file).

    Hidden files and directories are skipped; directory symlinks are not followed (no loops).
    """
    for root in roots:
        root = Path(root).expanduser()
        if not root.exists():
            raise FrameFindError(f"{root}: no such file or directory")
        root = root.resolve()
        if not root.is_dir():
            if media_kind(root) and (found := _stat(root)):
                yield found
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and media_kind(name) and (found := _stat(Path(dirpath) / name)):
                    yield found


def _stat(path: Path) -> FileStat | None:
    """Stat a regular file; None for FIFOs, sockets, devices (opening those could block) or vanished files."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat_mode.S_ISREG(st.st_mode):
        return None
    return FileStat(str(path), st.st_size, st.st_mtime_ns, media_kind(path) or "")


def content_hash(path: str | Path) -> str:
    """BLAKE2b-128 of the file's bytes: identical content shares one embedding, whatever its name."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def load_image(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an image to ``size``x``size`` uint8 RGB (centre crop), plus its upright (width, height).

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain when that still covers ``size``:
    for multi-megapixel photos, decoding costs more than the model. EXIF orientation is applied.
    """
    try:
        if os.path.getsize(path) == 0:
            raise MediaError(path, "empty file")
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise MediaError(path, f"image too large ({width}x{height} pixels, limit {MAX_PIXELS:,})")
            im.seek(0)  # GIF/TIFF: first frame
            quarter_turn = im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
            upright = (height, width) if quarter_turn else (width, height)
            im.draft("RGB", (size, size))
            im = ImageOps.exif_transpose(im)
            im = _to_rgb(im)
            im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8), upright
    except MediaError:
        raise
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except FileNotFoundError:
        raise MediaError(path, "file disappeared") from None
    except UnidentifiedImageError:
        raise MediaError(path, "not a readable image (unknown or unsupported format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(path, f"corrupt or truncated image ({exc})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB with transparency flattened onto white, so a transparent PNG is not judged as black."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    return im.convert("RGB")
