"""On-screen text: RapidOCR on real pictures, the cheap check that gates it, and text spans in frames."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import skimage_data
from PIL import Image, ImageDraw, ImageFont

from framefind.media import ocr

PHRASE = "QUARTERLY BUDGET 2024"
TEXT_FREE = ["chelsea.png", "coffee.png", "horse.png", "camera.png", "brick.png", "grass.png", "moon.png",
             "hubble_deep_field.jpg"]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def photo(name: str, size: tuple[int, int] | None = None) -> Image.Image:
    image = Image.open(skimage_data() / name).convert("RGB")
    return image.resize(size, Image.Resampling.BILINEAR) if size else image


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size) if FONT.exists() else ImageFont.load_default(size)


def caption(image: Image.Image, text: str) -> Image.Image:
    """``text`` as a white, black-outlined caption centred near the bottom (subtitles, memes, slides)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    face = font(max(12, image.height // 14))
    width = draw.textlength(text, font=face)
    draw.text(((image.width - width) / 2, image.height * 0.82), text, font=face, fill="white",
              stroke_width=2, stroke_fill="black")
    return image


def jpeg(image: Image.Image, quality: int) -> np.ndarray:
    """Pixels after a JPEG round trip: each frame of a video differs a little from the next."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return np.asarray(Image.open(out).convert("RGB"))


def words(lines: list[ocr.TextLine]) -> str:
    return " ".join(re.findall(r"\w+", " ".join(line.text for line in lines).lower()))


def test_reads_printed_page():
    lines = ocr.read_text(np.asarray(photo("page.png")))
    found = words(lines)
    for word in ("region", "segmentation", "markers", "coins", "background", "histogram"):
        assert word in found, found
    assert lines[0].text.startswith("Region-based")  # reading order: the title first
    assert all(0 <= v <= 1 for line in lines for v in line.box) and all(line.score >= ocr.MIN_SCORE for line in lines)
    tops = [line.box[1] for line in lines]
    assert tops == sorted(tops)


def test_phrase_on_a_photo_is_flagged_and_read():
    captioned = np.asarray(caption(photo("coffee.png"), PHRASE))
    assert ocr.likely_text(captioned)
    assert ocr.text_likelihood(captioned) > ocr.text_likelihood(np.asarray(photo("coffee.png")))
    assert "quarterly budget 2024" in words(ocr.read_text(captioned))


def test_text_free_photos_are_rarely_flagged():
    flagged = [name for name in TEXT_FREE if ocr.likely_text(np.asarray(photo(name)))]
    assert flagged == [], flagged  # measured: 0 of these 8, highest 0.67 (bench_ocr.py: ~9 % of 74 photos)


def test_small_sign_on_a_large_photo_read_from_its_region_only(monkeypatch):
    """The pass reads only where the check saw text: a crop, not the picture; the line's box still says where
    the text is in the whole picture, and small letters come from the sharper decode."""
    big = photo("coffee.png").resize((2400, 1800), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(big)
    draw.text((300, 1500), PHRASE, font=font(56), fill="white", stroke_width=3, stroke_fill="black")
    small = np.asarray(big.resize((640, 480), Image.Resampling.BILINEAR))
    regions = ocr.text_regions(small)
    assert regions and sum(r.area for r in regions) < 0.15, regions  # a band around the line, not the photo
    assert any(r.y0 < 1530 / 1800 < r.y1 for r in regions), regions
    seen, sharper = [], np.asarray(big.resize((1280, 960), Image.Resampling.BILINEAR))
    recognise = ocr._recognise
    monkeypatch.setattr(ocr, "_recognise", lambda rgb: seen.append(rgb.shape) or recognise(rgb))
    lines = ocr.read_regions(small, regions, lambda: seen.append("sharper") or sharper)
    assert "quarterly budget 2024" in words(lines)
    assert "sharper" in seen  # letters ~15 px at 640: read from the 1280-px decode
    assert all(shape[0] * shape[1] < 0.25 * 1280 * 960 for shape in seen if shape != "sharper")
    line = next(line for line in lines if "BUDGET" in line.text.upper())
    x, y, w, h = line.box
    assert abs(x - 300 / 2400) < 0.05 and abs(y + h / 2 - 1530 / 1800) < 0.03, line.box


def test_no_regions_no_reading():
    assert ocr.text_regions(np.asarray(photo("chelsea.png"))) == []
    assert ocr.read_regions(np.asarray(photo("chelsea.png")), []) == []


def test_mostly_text_is_read_whole():
    """A page is mostly text: one read of the whole picture beats many crops."""
    page = np.asarray(photo("page.png"))
    regions = ocr.text_regions(page)
    assert sum(r.area for r in regions) > ocr.WHOLE_AREA
    assert words(ocr.read_regions(page, regions)) == words(ocr.read_text(page))


@pytest.mark.parametrize("image", [np.zeros((3, 3, 3), np.uint8), np.zeros((1, 500, 3), np.uint8),
                                   np.full((50, 40), 200, np.uint8), np.zeros((64, 64, 4), np.uint8),
                                   np.random.default_rng(0).random((80, 120, 3)) * 255, np.zeros((0, 0, 3), np.uint8)])
def test_odd_pictures_do_not_raise(image):
    assert not ocr.likely_text(image)
    assert ocr.text_regions(image) == []
    assert ocr.read_text(image) == []


def test_frame_texts_one_span_per_showing(monkeypatch):
    """A caption shown over 10 sampled frames is one span, read about once (not once per frame)."""
    calls = []
    read_regions = ocr.read_regions
    monkeypatch.setattr(ocr, "read_regions", lambda *args: calls.append(1) or read_regions(*args))
    plain = photo("coffee.png", (640, 360))
    captioned = caption(plain, PHRASE)
    times = [2.0 * i for i in range(25)]  # framefind samples a frame every 2 s in a long shot
    frames = [(t, jpeg(captioned if 10 <= i < 20 else plain, 85 + i % 5)) for i, t in enumerate(times)]
    spans = ocr.frame_texts(iter(frames))
    assert len(spans) == 1, spans
    start, end, text = spans[0]
    assert (start, end) == (times[10], times[19])
    assert "quarterly budget" in " ".join(re.findall(r"\w+", text.lower()))
    assert 1 <= len(calls) <= 3, len(calls)


def test_frame_texts_new_caption_new_span():
    """Subtitles that change in place are two spans: the thumbnail check sees the change."""
    plain = photo("chelsea.png", (640, 360))
    first, second = caption(plain, "Welcome to Lisbon"), caption(plain, "Grand Opening Sale")
    frames = [(float(i), jpeg(first if i < 4 else second, 90)) for i in range(8)]
    spans = ocr.frame_texts(frames)
    assert [(start, end) for start, end, _ in spans] == [(0.0, 3.0), (4.0, 7.0)], spans
    assert "lisbon" in spans[0][2].lower() and "sale" in spans[1][2].lower()


def test_frame_texts_bridges_a_missed_frame():
    """A frame where the caption was not seen (flash, missed read) does not split its span."""
    plain = photo("chelsea.png", (640, 360))
    captioned = np.asarray(caption(plain, "Welcome to Lisbon"))
    frames = [(0.0, captioned), (2.0, captioned), (4.0, np.asarray(plain)), (6.0, captioned), (20.0, captioned)]
    spans = ocr.frame_texts(frames, min_gap=5.0)
    assert [(start, end) for start, end, _ in spans] == [(0.0, 6.0), (20.0, 20.0)], spans
