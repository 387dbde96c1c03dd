"""Decoding images into model-ready pixels and small thumbnails (Pillow; JPEGs scaled in the DCT domain)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from framefind.errors import MediaError
from framefind.media.files import HEIF_EXTENSIONS  # noqa: F401 (importing it registers the HEIF opener)

MAX_PIXELS = 200_000_000  # decompression-bomb guard: larger images are refused before decoding
Image.MAX_IMAGE_PIXELS = None  # our own check above replaces Pillow's warning-then-error pair
_EXIF_ORIENTATION = 0x0112


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
