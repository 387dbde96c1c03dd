"""Decoding images into model-ready pixels and small thumbnails (Pillow; JPEGs scaled in the DCT domain)."""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from framefind.errors import MediaError
from framefind.media.files import open_image
from framefind.media.jpeg_draft import dc_scans_only

MAX_PIXELS = 200_000_000  # decompression-bomb guard: larger images are refused before decoding
Image.MAX_IMAGE_PIXELS = None  # our own check above replaces Pillow's warning-then-error pair
_EXIF_ORIENTATION = 0x0112
THUMB_SIZE = 320
# Bump when decoded pixels change for the same file (crop, resampling, draft scale): part of every model's id.
IMAGE_PIXELS = "draft-exif-centre-crop-bilinear/1"


Decoded = tuple[np.ndarray, tuple[int, int], bytes | None]  # (pixels, upright width x height, thumbnail JPEG)


def load_image(path: str | Path, size: int, thumbnail: bool = False, fit: str = "crop",
               draft_fill: float = 1.0) -> Decoded:
    """Decode an image to ``size``x``size`` uint8 RGB, its upright (width, height), and with
    ``thumbnail`` a small JPEG of the whole picture (for grids: no UI decodes a 20 MP original).

    ``fit`` is the model's (``Preprocess.fit``): "crop" scales the shorter side to ``size`` and keeps
    the middle; "squash" scales the whole picture to ``size`` x ``size``, as SigLIP was trained.
    JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain when that still covers ``draft_fill``
    of ``size`` on the shorter side (the model's option, 1.0 unless a library chose less): for
    multi-megapixel photos, decoding costs more than the model. EXIF orientation is applied.
    """
    with _opened(path) as im:
        width, height = im.size
        quarter_turn = im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
        upright = (height, width) if quarter_turn else (width, height)
        im = _draft(im, path, math.ceil(size * draft_fill))
        ImageOps.exif_transpose(im, in_place=True)  # no copy of the decoded picture (nor in _to_rgb): -0.3 ms
        im = _to_rgb(im)
        thumb = thumbnail_jpeg(im) if thumbnail else None
        im = fit_square(im, size, fit)
        return np.asarray(im, dtype=np.uint8), upright, thumb


def fit_square(im: Image.Image, size: int, fit: str = "crop") -> Image.Image:
    """``im`` as ``size`` x ``size``: centre-cropped ("crop") or squashed to the square ("squash")."""
    if fit == "squash":
        return im if im.size == (size, size) else im.resize((size, size), Image.Resampling.BILINEAR)
    return ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)


def load_upright(path: str | Path, max_side: int) -> np.ndarray:
    """The whole picture, upright, as uint8 RGB at most ``max_side`` px (for reading text in it).

    The JPEG draft asks for the picture's own aspect: asked for a square, PIL keeps the shorter side at
    ``max_side`` too, so a 3:2 photo decoded at twice the size needed (13 vs 4 ms at 640 px)."""
    with _opened(path) as im:
        width, height = im.size
        fit = max_side / max(width, height, 1)
        im.draft("RGB", (max(1, int(width * fit)), max(1, int(height * fit))))
        im = _to_rgb(ImageOps.exif_transpose(im))
        im.thumbnail((max_side, max_side))
        return np.asarray(im, dtype=np.uint8)


def _draft(im: Image.Image, path: str | Path, side: int) -> Image.Image:
    """``im`` set to decode at the smallest DCT scale whose shorter side is still ``side`` px (JPEG only).

    At 1/8 scale a progressive JPEG is decoded from its DC scans alone (media/jpeg_draft.py): the same
    pixels in a quarter of the time. The other picture stays open until ``_opened`` closes it."""
    draft = im.draft("RGB", (side, side))
    if draft is None or im.decoderconfig[:1] != (8,) or not im.info.get("progressive"):
        return im
    with open(path, "rb") as fh:
        data = dc_scans_only(fh.read())
    if data is None:
        return im
    lean = Image.open(io.BytesIO(data))
    lean.draft("RGB", (side, side))
    return lean if lean.size == im.size and lean.mode == im.mode else im


@contextlib.contextmanager
def _opened(path: str | Path) -> Iterator[Image.Image]:
    """The image, opened lazily (first frame), refused in one line when empty, too large or unreadable."""
    with media_errors(path):
        if os.path.getsize(path) == 0:
            raise MediaError(path, "empty file")
        with open_image(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise MediaError(path, f"image too large ({width}x{height} pixels, limit {MAX_PIXELS:,})")
            im.seek(0)  # GIF/TIFF: first frame
            yield im


@contextlib.contextmanager
def media_errors(path: str | Path) -> Iterator[None]:
    """Decoding errors as one-line ``MediaError``s naming the file and the reason."""
    try:
        yield
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


def thumbnail_jpeg(image: Image.Image) -> bytes:
    """A JPEG of THUMB_SIZE/2 to THUMB_SIZE pixels on its longer side (images and video frames alike).

    Shrunk by an integer box filter (``reduce``): 0.3 ms for a 640x400 draft-decoded photo where a
    resampling resize costs 1.5 ms, and this runs once per indexed image (a 250-320 px grid tile, like
    Immich's 250 px thumbnails).
    """
    factor = math.ceil(max(image.size) / THUMB_SIZE)
    image = image.reduce(factor) if factor > 1 else image
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB with transparency flattened onto white, so a transparent PNG is not judged as black (an RGB
    picture as it is, not a copy)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    return im.convert("RGB")
