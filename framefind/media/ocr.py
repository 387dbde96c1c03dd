"""What is written in a picture or a video: signs, captions, slides, screenshots (RapidOCR 1.4: PP-OCRv4
detection + recognition on ONNX Runtime; the models ship inside the wheel, nothing is downloaded).

OCR costs 0.2-0.7 s for a whole 1280-px picture on two cores, 10-100x what embedding it costs, so it runs
only where a cheap check (:func:`text_likelihood`, ~6 ms) says text is likely, and only on the regions
where the check saw it (:func:`text_regions`, :func:`read_regions`: 2-5x cheaper again). The check looks
for what printed text is made of: rows of three or more high-contrast stroke blobs of one height,
aligned, with a calm band above and below. Strokes come from top-hat / black-hat filters (light and dark
text) on the luma and a yellow-blue channel (orange date stamps), at three scales (small print to
titles); each row is scored by a logistic model of seven of its properties (``_WEIGHTS``, fitted on text
rendered onto scikit-image photos and Debian wallpapers; benchmarks/bench_ocr.py measures recall, false
positives and cost).
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

MAX_SIDE = 1280  # OCR input: larger pictures are shrunk (small print stays readable, 2x faster than 2000)
MIN_SIDE = 640  # smaller ones are enlarged up to 2x (the recogniser drops spaces in tiny text)
MIN_SCORE = 0.5  # recogniser confidence below which a line is noise
LINE_HEIGHT = 64  # px: line crops are enlarged to this height before recognition (see engine())
WORK_SIDE = 640  # the cheap check's image size
THRESHOLD = 0.85  # likely_text: the knee of recall vs false positives measured by benchmarks/bench_ocr.py
SAME_TEXT = 0.8  # difflib ratio from which two frames show the same text
CHANGED = 8.0  # grey levels (mean over an 8x8 block of a 96-px thumbnail) that make a frame "changed"
MIN_LETTER = 16  # px: regions with smaller letters are read from a sharper decode, or enlarged (up to 2x)
MAX_LETTER = 24  # px: regions with larger letters are shrunk (detection costs grow with the pixels)
MARGIN = 12  # letters' heights added left and right of a text region
WHOLE_AREA = 0.5  # text regions covering more of the picture than this: read the whole picture at once

_STROKE = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))  # strokes up to ~8 px wide at each scale
_CONTRAST = 40  # grey levels a stroke must stand out from its surroundings
# Logistic weights: bias, log n, log width/height, alignment, height spread, contrast/100, fill, log1p clutter.
_WEIGHTS = np.array([-7.122, 1.296, 1.122, -6.146, -2.202, 5.888, 4.792, -1.895])

_lock, _engine = threading.Lock(), None


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float  # recogniser confidence 0..1
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the image


@dataclass(frozen=True)
class Region:
    """Where the check saw text: corners and the letters' height, as fractions of the picture's sides."""

    x0: float
    y0: float
    x1: float
    y1: float
    letter: float

    def union(self, other: Region) -> Region:
        return Region(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1),
                      max(self.y1, other.y1), min(self.letter, other.letter))

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


def _rgb(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 whatever came (grey, RGBA, floats): odd pictures degrade instead of raising."""
    image = np.asarray(image)
    image = image if image.dtype == np.uint8 else np.clip(np.nan_to_num(image), 0, 255).astype(np.uint8)
    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    ok = image.ndim == 3 and image.shape[2] >= 3
    return np.ascontiguousarray(image[..., :3]) if ok else np.zeros((0, 0, 3), np.uint8)


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    """At most ``side`` px long: a strided pick (50 MP cost no more than 1 MP), then an area resize."""
    step = max(1, max(rgb.shape[:2]) // (2 * side))
    rgb = np.ascontiguousarray(rgb[::step, ::step])
    h, w = rgb.shape[:2]
    size = (max(1, round(w * side / max(h, w, 1))), max(1, round(h * side / max(h, w, 1))))
    return rgb if max(h, w) <= side else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _chains(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Row label of each glyph (sorted by x): links to similar (1.6x), overlapping, near glyphs, joined."""
    n = len(x)
    j = np.minimum(np.arange(n)[:, None] + np.arange(1, 17), n - 1)  # the 16 next glyphs from the left
    lo, hi = np.minimum(h[:, None], h[j]), np.maximum(h[:, None], h[j])
    gap = x[j] - (x + w)[:, None]
    overlap = np.minimum((y + h)[:, None], y[j] + h[j]) - np.maximum(y[:, None], y[j])
    link = (j > np.arange(n)[:, None]) & (10 * hi <= 16 * lo) & (10 * overlap >= 6 * lo)
    src, col = np.nonzero(link & (5 * gap >= -lo) & (10 * gap <= 9 * hi))
    dst, label = j[src, col], np.arange(n)
    for _ in range(64):
        new = label.copy()
        np.minimum.at(new, src, np.minimum(label[src], label[dst]))
        np.minimum.at(new, dst, np.minimum(label[src], label[dst]))
        if np.array_equal(new := new[new], label):
            break
        label = new
    return np.unique(label, return_inverse=True)[1]


def _rows(response: np.ndarray) -> np.ndarray:
    """Text-like rows in one stroke response (top-hat or black-hat of one channel at one scale): blobs of
    strokes standing out by _CONTRAST, letter-sized ones chained; a row needs three letters, or one wide
    blob crossed by many strokes (outlined captions merge their letters). Per row: letters, width/height,
    alignment of tops or bottoms, height spread, contrast, ink fill, and clutter (blobs in the bands just
    above and below, per letter: texture has them, a line of text has not)."""
    mask = (response > _CONTRAST).astype(np.uint8)
    stats = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)[2][1:].astype(np.int64)
    x, y, w, h, a = stats.T
    others = stats[(h >= 3) & (a >= 4)]
    letter = (h >= 5) & (h <= 28) & (w <= 12 * h) & (a >= 8) & (10 * a <= 9 * w * h) & (10 * a >= w * h)
    glyphs = stats[letter][np.argsort(x[letter], kind="stable")]
    x, y, w, h, a = glyphs.T
    word = np.zeros(len(x))
    for k in np.nonzero(w >= 2 * h)[0]:
        word[k] = np.count_nonzero(np.diff(mask[y[k] + h[k] // 2, x[k] : x[k] + w[k]])) >= 8
    label = _chains(x, y, w, h) if len(x) else x
    keep = (np.bincount(label) >= 3) | (np.bincount(label, weights=word) > 0)
    if not keep.any():
        return np.zeros((0, 12))
    x, y, w, h, a = glyphs[keep[label]].T  # from here on, only the glyphs of kept rows
    label = np.unique(label[keep[label]], return_inverse=True)[1]
    count = np.bincount(label).astype(np.float64)
    rx, ry = x - x.min(), y - y.min()  # integral images of the region the rows cover only
    region = (slice(y.min(), (y + h).max()), slice(x.min(), (x + w).max()))
    sums = [cv2.integral(image[region]) for image in (response * mask, mask)]
    box = [s[ry + h, rx + w] - s[ry, rx + w] - s[ry + h, rx] + s[ry, rx] for s in sums]

    def total(v: np.ndarray) -> np.ndarray:
        return np.bincount(label, weights=v)

    def spread(v: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(0, total(v * v) / count - (total(v) / count) ** 2)) / mean_h

    mean_h = total(h) / count
    x0, y0, x1, y1 = (np.full(len(count), v) for v in (1 << 30, 1 << 30, 0, 0))
    np.minimum.at(x0, label, x), np.minimum.at(y0, label, y)
    np.maximum.at(x1, label, x + w), np.maximum.at(y1, label, y + h)
    cx, cy = others[:, 0] + others[:, 2] / 2, others[:, 1] + others[:, 3] / 2
    clutter = [np.count_nonzero((cx >= x0[c]) & (cx <= x1[c]) & (((cy >= y0[c] - mean_h[c]) & (cy < y0[c]))
               | ((cy > y1[c]) & (cy <= y1[c] + mean_h[c])))) for c in range(len(count))]
    return np.column_stack([count, (x1 - x0) / mean_h, np.minimum(spread(y), spread(y + h)), spread(h),
                            total(box[0] / np.maximum(1, box[1])) / count, total(a) / ((x1 - x0) * (y1 - y0)),
                            clutter / count, x0, y0, x1, y1, mean_h])


def _scored_rows(rgb: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(logistic scores, boxes x0 y0 x1 y1 letter-height as fractions of the picture) of the text-like rows
    in each channel, scale and polarity, most telling first (luma, full size)."""
    small = _shrink(_rgb(rgb), WORK_SIDE)
    if min(small.shape[:2]) < 8:
        return
    height, width = small.shape[:2]
    channels = [cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)]
    yellow_blue = (small[..., 0].astype(np.int16) + small[..., 1]) // 2 - small[..., 2]
    if int(yellow_blue.max()) - int(yellow_blue.min()) > 2 * _CONTRAST:  # a colourful picture
        channels.append(np.clip(yellow_blue + 128, 0, 255).astype(np.uint8))
    for channel in channels:
        for level in range(3):  # letters 5-28 px tall at 640, 320 and 160 px: small print to titles
            if level and min(channel.shape) < 64:
                break
            channel = cv2.pyrDown(channel) if level else channel
            scale = np.array([width, height, width, height, height]) / (1 << level)
            for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):  # light text, dark text
                rows = _rows(cv2.morphologyEx(channel, op, _STROKE))
                if len(rows):
                    n, wh, aligned, spread, contrast, fill, clutter = rows[:, :7].T
                    z = _WEIGHTS @ np.stack([np.ones(len(n)), np.log(n), np.log(wh), aligned, spread,
                                             contrast / 100, fill, np.log1p(clutter)])
                    yield 1 / (1 + np.exp(-np.maximum(-50.0, z))), rows[:, 7:] / scale


def text_likelihood(rgb: np.ndarray) -> float:
    """0..1: how likely the picture holds legible text (the best row's logistic score); ~6 ms at 640 px."""
    best = 0.0
    for scores, _ in _scored_rows(rgb):
        best = max(best, float(scores.max()))
        if best >= 0.99:  # sure enough: the rest could only confirm
            break
    return best


def likely_text(rgb: np.ndarray) -> bool:
    """Whether OCR is worth running on the picture (see THRESHOLD)."""
    return text_likelihood(rgb) >= THRESHOLD


def text_regions(rgb: np.ndarray, threshold: float = THRESHOLD) -> list[Region]:
    """Where text likely is: the rows scoring ``threshold`` or more, grown by a letter's height up and down
    and MARGIN letters sideways (the check may miss a line's first or last letters), overlapping ones merged.
    Empty when the picture likely holds no text. Costs the whole check (no early stop): ~8 ms at 640 px."""
    boxes = [box for scores, rows in _scored_rows(rgb) for score, box in zip(scores, rows, strict=True)
             if score >= threshold]
    side = MARGIN * rgb.shape[0] / max(1, rgb.shape[1])  # a letter's height as a fraction of the width
    regions = [Region(max(0.0, x0 - side * h), max(0.0, y0 - h), min(1.0, x1 + side * h), min(1.0, y1 + h), h)
               for x0, y0, x1, y1, h in boxes]
    merged: list[Region] = []
    for region in sorted(regions, key=lambda r: (r.y0, r.x0)):
        for i, other in enumerate(merged):
            if region.x0 < other.x1 and other.x0 < region.x1 and region.y0 < other.y1 and other.y0 < region.y1:
                merged[i] = other.union(region)
                break
        else:
            merged.append(region)
    return _merge_until_disjoint(merged)


def _merge_until_disjoint(regions: list[Region]) -> list[Region]:
    """Merging two regions can make the union overlap a third: repeat until no two overlap."""
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(regions):
            for j in range(i + 1, len(regions)):
                b = regions[j]
                if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
                    regions[i], changed = a.union(b), True
                    del regions[j]
                    break
            if changed:
                break
    return regions


def engine() -> Any:
    """The RapidOCR engine, created once per process (~0.3 s, ~100 MB) and shared by all threads. No angle
    classifier (it only turns upside-down lines, a third model per line). Line crops are enlarged to
    LINE_HEIGHT (bicubic) first: the recogniser's own bilinear stretch to 48 px loses the spaces of small
    text ("WelcometoLisbonQUARTERLYBUDGET2024" in screenshots, "QUARTERLYBUDGET2024" in captions)."""
    global _engine
    with _lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR(use_cls=False, det_limit_type="max", det_limit_side_len=MAX_SIDE,
                               intra_op_num_threads=max(1, min(4, os.cpu_count() or 1)), inter_op_num_threads=1)
            recognise = _engine.text_rec
            _engine.text_rec = lambda crops, *args: recognise([_tall(crop) for crop in crops], *args)
        return _engine


def _tall(crop: np.ndarray) -> np.ndarray:
    scale = LINE_HEIGHT / max(1, crop.shape[0])
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else crop


def read_text(rgb: np.ndarray) -> list[TextLine]:
    """The lines RapidOCR reads in the whole picture, in reading order (top to bottom, then left to right),
    less those with a low confidence or fewer than two letters or digits."""
    rgb = _rgb(rgb)
    if min(rgb.shape[:2]) < 8:
        return []
    if max(rgb.shape[:2]) < MIN_SIDE:
        scale = min(2.0, MIN_SIDE / max(rgb.shape[:2]))
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return _reading_order(_recognise(_shrink(rgb, MAX_SIDE)))


def read_regions(rgb: np.ndarray, regions: list[Region], sharper: Callable[[], np.ndarray] | None = None
                 ) -> list[TextLine]:
    """The lines read in ``regions`` of the picture only (see :func:`text_regions`), in reading order.

    Detection costs grow with the pixels it looks at (0.2-0.7 s for a whole 1280-px picture here), and
    text rarely covers much of a photo: cropping to where the check saw text makes a read 5-20x cheaper.
    Regions whose letters are under MIN_LETTER px are cut from ``sharper()`` (a larger decode of the same
    picture, made once, only if needed) or enlarged up to 2x. Mostly-text pictures are read whole.
    """
    rgb = _rgb(rgb)
    if not regions or min(rgb.shape[:2]) < 8:
        return []
    if sum(region.area for region in regions) > WHOLE_AREA:
        small = min(region.letter for region in regions) * rgb.shape[0] < MIN_LETTER
        return read_text(sharper() if small and sharper is not None else rgb)
    sources = [rgb]
    lines = []
    for region in regions:
        if region.letter * sources[-1].shape[0] < MIN_LETTER and sharper is not None and len(sources) == 1:
            sources.append(_rgb(sharper()))
        source = sources[-1]
        height, width = source.shape[:2]
        top, left = int(region.y0 * height), int(region.x0 * width)
        crop = source[top : int(np.ceil(region.y1 * height)), left : int(np.ceil(region.x1 * width))]
        letter = max(1e-6, region.letter * height)
        scale = MIN_LETTER / letter if letter < MIN_LETTER else MAX_LETTER / letter if letter > MAX_LETTER else 1.0
        scale = float(np.clip(scale, 0.25, 2.0))
        if min(crop.shape[:2]) < 4:
            continue
        if scale != 1:
            crop = cv2.resize(crop, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        w, h = region.x1 - region.x0, region.y1 - region.y0
        lines += [TextLine(line.text, line.score, (region.x0 + line.box[0] * w, region.y0 + line.box[1] * h,
                                                   line.box[2] * w, line.box[3] * h))
                  for line in _recognise(_shrink(crop, MAX_SIDE))]
    return _reading_order(lines)


def _recognise(rgb: np.ndarray) -> list[TextLine]:
    """RapidOCR's confident lines of two or more letters or digits, boxes as fractions of ``rgb``."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # PaddleOCR models read BGR
    ocr = engine()
    with _lock:  # one picture at a time: a call already uses every core, and the engine keeps state
        result, _ = ocr(bgr)
    height, width = bgr.shape[:2]
    lines = []
    for points, text, score in result or []:
        text = " ".join(str(text).split())
        if float(score) >= MIN_SCORE and sum(c.isalnum() for c in text) >= 2:
            (x0, y0), (x1, y1) = np.min(points, axis=0).tolist(), np.max(points, axis=0).tolist()
            lines.append(TextLine(text, float(score), (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)))
    return lines


def _reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom in rows (centres within half a line's height), each row left to right."""
    rows: list[tuple[float, float, list[TextLine]]] = []  # (middle, height, lines)
    for line in sorted(lines, key=lambda t: t.box[1] + t.box[3] / 2):
        middle = line.box[1] + line.box[3] / 2
        if rows and abs(middle - rows[-1][0]) < min(line.box[3], rows[-1][1]) / 2:
            rows[-1][2].append(line)
        else:
            rows.append((middle, line.box[3], [line]))
    return [line for *_, row in rows for line in sorted(row, key=lambda t: t.box[0])]


def frame_texts(frames: Iterable[tuple[float, np.ndarray]], min_gap: float = 5.0) -> list[tuple[float, float, str]]:
    """(start, end, text) spans of on-screen text in (time, RGB) frames given in time order.

    A frame is read (:func:`read_regions`, where :func:`text_regions` sees text) only if it has text regions
    and its 96-px grey thumbnail differs from the last read frame's somewhere (an 8x8 block's mean
    difference > CHANGED: a new caption counts, encoder noise not); else it shows that frame's text.
    Consecutive frames with nearly the same text (difflib ratio >= SAME_TEXT on lower-case words: OCR
    wobbles) make one span, first to last frame showing it; frames without it for less than ``min_gap``
    seconds (a missed read) do not end it. A span's text is its best-read frame's, lines joined by newlines.
    """
    spans: list[tuple[float, float, str]] = []
    span: list | None = None  # [start, last seen, text, words, quality]
    read_thumb, read_lines = np.zeros(0, np.float32), []
    for time, image in frames:
        rgb, lines = _rgb(image), []
        if regions := text_regions(rgb):
            thumb = cv2.cvtColor(_shrink(rgb, 96), cv2.COLOR_RGB2GRAY).astype(np.float32)
            if thumb.shape != read_thumb.shape or cv2.blur(np.abs(thumb - read_thumb), (8, 8)).max() > CHANGED:
                read_thumb, read_lines = thumb, read_regions(rgb, regions)
            lines = read_lines
        text = "\n".join(line.text for line in lines)
        words, quality = " ".join(re.findall(r"\w+", text.lower())), sum(t.score * len(t.text) for t in lines)
        near = span is not None and time - span[1] < min_gap
        if span and words and near and difflib.SequenceMatcher(None, words, span[3]).ratio() >= SAME_TEXT:
            span[1] = time
            span[2:] = [text, words, quality] if quality > span[4] else span[2:]
            continue
        if span and (words or not near):
            spans.append((span[0], span[1], span[2]))
            span = None
        span = [time, time, text, words, quality] if words else span
    return [*spans, (span[0], span[1], span[2])] if span else spans
