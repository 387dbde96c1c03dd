"""Media files on disk: which files are ours, finding them, and hashing their content."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import stat as stat_mode
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from framefind.errors import FrameFindError, MediaError

# HEIC/HEIF photos (iPhone) when the optional plugin is installed (registered with Pillow on first use)
HEIF_EXTENSIONS = {".heic", ".heif"} if importlib.util.find_spec("pillow_heif") else set()

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} | HEIF_EXTENSIONS
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}

_HASH_CHUNK = 1 << 20


@functools.cache
def _teach_pillow_heif() -> None:
    if HEIF_EXTENSIONS:
        from pillow_heif import register_heif_opener

        register_heif_opener()


def open_image(path):
    """``PIL.Image.open``, HEIC/HEIF included: the plugin is registered on the first picture opened, not at
    import (14 ms that a search process, which opens no picture, would pay for nothing)."""
    from PIL import Image

    _teach_pillow_heif()
    return Image.open(path)


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
