"""Progressive JPEGs decoded at 1/8 scale from their DC scans (media/jpeg_draft.py) give the very pixels of the
whole file, and the ``draft_fill`` model option (how far below the model's size a JPEG draft may go)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import skimage_data
from PIL import Image

from framefind.errors import FrameFindError, MediaError
from framefind.media import images
from framefind.media.images import load_image
from framefind.media.jpeg_draft import dc_scans_only
from framefind.models.base import load_model


def _photo(name: str, side: int) -> Image.Image:
    """A scikit-image photo scaled so that a 224 px draft decodes it at 1/8 (short side >= 8 x 224)."""
    with Image.open(skimage_data() / name) as im:
        im = im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
    scale = side / min(im.size)
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)


def _jpeg(im: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=88, **options)
    return out.getvalue()


def _draft_pixels(data: bytes, side: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (side, side))
        return np.asarray(im.convert("RGB"))


VARIANTS = {
    "4:2:0": ("astronaut.png", "RGB", {"subsampling": 2}),
    "4:2:2": ("coffee.png", "RGB", {"subsampling": 1}),
    "4:4:4": ("chelsea.png", "RGB", {"subsampling": 0}),
    "restart markers": ("rocket.jpg", "RGB", {"subsampling": 2, "restart_marker_blocks": 5}),
    "grey": ("camera.png", "L", {}),
    "CMYK": ("coffee.png", "CMYK", {}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dc_scans_decode_to_the_same_pixels_at_one_eighth(variant):
    name, mode, options = VARIANTS[variant]
    photo = _photo(name, 1800).convert(mode)
    data = _jpeg(photo, progressive=True, **options)
    lean = dc_scans_only(data)
    assert lean is not None and len(lean) < len(data) * 0.7  # the AC scans of the 1x1 components are gone
    full = _draft_pixels(data, 224)
    assert full.shape[:2] == (-(-photo.height // 8), -(-photo.width // 8))  # really a 1/8 draft
    assert np.array_equal(_draft_pixels(lean, 224), full)


def test_files_it_leaves_alone():
    photo = _photo("astronaut.png", 1800)
    assert dc_scans_only(_jpeg(photo)) is None  # baseline: nothing to leave out
    assert dc_scans_only((skimage_data() / "astronaut.png").read_bytes()) is None
    progressive = _jpeg(photo, progressive=True)
    assert dc_scans_only(progressive[: len(progressive) // 2]) is None  # cut short: decoded as it is, and fails
    assert dc_scans_only(progressive[:100]) is None


def test_load_image_takes_the_dc_scans_only_when_the_pixels_are_the_same(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(images, "dc_scans_only", lambda data: calls.append(len(data)) or dc_scans_only(data))
    photo = _photo("astronaut.png", 1800)
    big, small = tmp_path / "big.jpg", tmp_path / "small.jpg"
    big.write_bytes(_jpeg(photo, progressive=True, exif=_quarter_turn()))
    small.write_bytes(_jpeg(photo.resize((1600, 1600)), progressive=True))
    pixels, upright, thumb = load_image(big, 224, thumbnail=True)
    assert calls == [big.stat().st_size]
    with Image.open(big) as im:  # what Pillow decodes from the whole file, upright and cropped as load_image does
        im.draft("RGB", (224, 224))
        expected = images.fit_square(images.ImageOps.exif_transpose(im).convert("RGB"), 224)
    assert np.array_equal(pixels, np.asarray(expected)) and upright == (photo.height, photo.width)
    assert Image.open(io.BytesIO(thumb)).size == (225, 225)
    load_image(small, 224)  # a 1/4 draft reads every scan: decoded as it is
    assert len(calls) == 1


def test_draft_fill_goes_down_to_one_eighth_sooner(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(images, "dc_scans_only", lambda data: calls.append(1) or dc_scans_only(data))
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(_photo("coffee.png", 1400), progressive=True))  # 1/8: 175 px, 0.78 of 224
    exact = load_image(path, 224)[0]
    assert calls == []
    lean = load_image(path, 224, draft_fill=0.75)[0]
    assert calls == [1] and lean.shape == exact.shape == (224, 224, 3)
    assert 0 < np.abs(lean.astype(int) - exact).mean() < 8  # the same picture, a little softer
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(path.read_bytes()[:-20000])
    with pytest.raises(MediaError, match="cut.jpg"):
        load_image(truncated, 224, draft_fill=0.75)


def test_draft_fill_is_a_recorded_option_that_changes_the_id():
    default, lean = load_model("effnet-conse"), load_model("effnet-conse", {"draft_fill": 0.75})
    assert "draft_fill" not in default.options() and default.draft_fill == 1.0  # ids made before it stay the same
    assert lean.options()["draft_fill"] == 0.75 and lean.id != default.id
    assert load_model("effnet-conse", {"draft_fill": 1}).id == default.id
    for bad in (0.2, "3/4", True):
        with pytest.raises(FrameFindError, match="draft_fill"):
            load_model("effnet-conse", {"draft_fill": bad})


def _quarter_turn() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


def test_a_rotated_photo_from_its_dc_scans(tmp_path: Path):
    """EXIF orientation lives in APP1, which the rewritten file keeps: the picture comes out upright."""
    photo = _photo("astronaut.png", 1800).crop((0, 0, 1800, 2000)).resize((2000, 1800))
    path = tmp_path / "turned.jpg"
    path.write_bytes(_jpeg(photo, progressive=True, exif=_quarter_turn()))
    pixels, upright, _ = load_image(path, 224)
    assert upright == (1800, 2000)
    reference = np.asarray(images.fit_square(photo.reduce(8).transpose(Image.Transpose.ROTATE_270), 224))
    assert np.abs(pixels.astype(int) - reference).mean() < 6  # the same way up (a wrong turn differs by ~50)
