"""Video decoding, frame sampling, shot detection and segmentation (PyAV, one pass per file).

Frames are decoded once. Every decoded frame gives a tiny luma signature (read straight from the Y
plane, no colour conversion) for shot detection; only *sampled* frames are converted to RGB and
embedded: the first frame of every shot, and a frame whenever ``max_gap`` seconds passed since the
last sample. Embedding runs in chunks as frames arrive, so memory stays bounded by one chunk
whatever the video's length. Non-reference frames are skipped by the decoder (about half the work
for typical H.264); a cut is then seen at most a few frames late.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from framefind.errors import MediaError, reason
from framefind.linalg import l2_normalize
from framefind.media.images import fit_square, thumbnail_jpeg
from framefind.media.units import Item, ItemFrames

# Bump when frame pixels change for the same settings (conversion, crop): part of every model's id.
FRAME_PIXELS = "rgb24-swscale-centre-crop/1"
CHUNK = 32  # frames per model call

Vectors = dict[str, np.ndarray]  # space -> (n, dim)
Embed = Callable[[np.ndarray], Vectors]


@dataclass(frozen=True)
class VideoSampling:
    """How a video becomes segments. These shape the vectors, so they are part of a model's id and
    are recorded in the library: a query video is sampled exactly as the library's videos were."""

    max_gap: float = 2.0  # seconds a video may go without a sampled frame
    window: float = 8.0  # longest segment; longer shots are split into equal windows
    min_shot: float = 0.5  # seconds: flashes and flicker shorter than this do not start a shot
    cut_threshold: float = 0.10  # mean absolute luma difference a cut must exceed ...
    cut_ratio: float = 3.0  # ... and this multiple of the recent frame-to-frame motion

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VideoScan:
    """What one pass over a video leaves: per sampled frame a time, vectors and a thumbnail."""

    duration: float = 0.0
    size: tuple[int, int] = (0, 0)
    times: list[float] = field(default_factory=list)
    shots: list[float] = field(default_factory=list)  # start time of every shot, the first is 0
    vectors: dict[str, list[np.ndarray]] = field(default_factory=dict)
    thumbs: list[bytes] = field(default_factory=list)
    stopped: str | None = None  # why decoding ended early, if it did

    def frame_vectors(self) -> dict[str, np.ndarray]:
        return {space: np.concatenate(chunks) for space, chunks in self.vectors.items()}


class ShotDetector:
    """Hard cuts from the mean absolute difference of tiny luma images, with an adaptive threshold
    (a cut must stand out from the motion of the frames before it, as in PySceneDetect's adaptive
    detector)."""

    def __init__(self, sampling: VideoSampling) -> None:
        self.threshold, self.ratio, self.min_shot = sampling.cut_threshold, sampling.cut_ratio, sampling.min_shot
        self.previous: np.ndarray | None = None
        self.recent: list[float] = []
        self.last_cut = 0.0

    def is_cut(self, signature: np.ndarray, time: float) -> bool:
        previous, self.previous = self.previous, signature
        if previous is None or previous.shape != signature.shape:
            return False
        diff = float(np.mean(np.abs(signature - previous)))
        baseline = float(np.mean(self.recent)) if self.recent else 0.0
        self.recent = [*self.recent[-9:], diff]
        if diff > self.threshold and diff > self.ratio * baseline + 0.02 and time - self.last_cut >= self.min_shot:
            self.last_cut = time
            self.recent = []
            return True
        return False


def luma_signature(frame) -> np.ndarray:
    """~64x36 luma samples in [0, 1], read from the Y plane without converting the frame."""
    name = frame.format.name
    step = max(1, min(frame.width // 64, frame.height // 36))
    if name.startswith(("yuv", "yuvj", "nv", "gray")) and not name.endswith(("le", "be")):
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        return rows[: frame.height : step, : frame.width : step].astype(np.float32) / 255.0
    small = frame.reformat(width=64, height=36, format="gray")  # rare formats: pay for a conversion
    return small.to_ndarray().astype(np.float32) / 255.0


def model_pixels(frame, size: int, fit: str = "crop") -> tuple[np.ndarray, Image.Image, tuple[int, int]]:
    """(``size`` RGB pixels, small upright image, upright frame size) of a decoded frame; the pixels
    centre-cropped, or with ``fit`` "squash" the whole frame squeezed to the square (images.fit_square)."""
    # ``rotation`` is the display matrix's clockwise turn; np.rot90 turns counter-clockwise.
    quarter_turns = -round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    w, h = (frame.height, frame.width) if quarter_turns % 2 else (frame.width, frame.height)
    scale = max(size / w, size / h)
    width, height = max(size, round(w * scale)), max(size, round(h * scale))
    if quarter_turns % 2:
        width, height = height, width
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    rgb = np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb
    upright = Image.fromarray(rgb)
    if fit == "squash":
        return np.asarray(fit_square(upright, size, fit)), upright, (w, h)
    top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
    return rgb[top : top + size, left : left + size], upright, (w, h)


def scan_video(path: str | Path, size: int, embed: Embed, sampling: VideoSampling,
               stopped: Callable[[], bool] = lambda: False,
               progress: Callable[[float], None] = lambda fraction: None, fit: str = "crop") -> VideoScan:
    """Decode ``path`` once: detect shots, sample frames, embed them in chunks, keep thumbnails.

    Frames become ``size`` pixels as the model's ``fit`` says (``Preprocess``), as images do.

    ``stopped`` is polled every frame; when it returns True the scan ends with MediaError.
    ``progress`` hears the decoded fraction of the declared duration, about once a video second.
    """
    import av

    scan = VideoScan()
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"not a readable video ({reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise MediaError(path, "no video stream (audio-only or not a video)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        rate = float(stream.average_rate or 25)
        origin = time_origin(stream)
        detector, pending, last_sample, index = ShotDetector(sampling), [], -math.inf, 0
        declared, last_report = declared_duration(container, stream), 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if stopped():
                    raise MediaError(path, "indexing stopped")
                time = float(frame.time) - origin if frame.time is not None else index / rate
                cut = detector.is_cut(luma_signature(frame), time)
                if cut or not scan.shots:
                    scan.shots.append(0.0 if not scan.shots else time)
                if cut or time - last_sample >= sampling.max_gap or not scan.times:
                    pixels, upright, scan.size = model_pixels(frame, size, fit)
                    scan.times.append(time)
                    scan.thumbs.append(thumbnail_jpeg(upright))
                    pending.append(pixels)
                    last_sample = time
                    if len(pending) >= CHUNK:
                        _embed_chunk(scan, pending, embed)
                scan.duration = max(scan.duration, time + 1.0 / rate)
                if declared and time - last_report >= 1.0:
                    progress(min(time / declared, 0.99))
                    last_report = time
        except av.error.FFmpegError as exc:  # keep what decoded; say where it stopped
            if not scan.times:
                raise MediaError(path, f"corrupt video ({reason(exc)})") from None
            scan.stopped = f"decoded up to {scan.duration:.1f} s, then: {reason(exc)}"
        if pending:
            _embed_chunk(scan, pending, embed)
        if not scan.times:
            raise MediaError(path, "no decodable video frames (zero-length or empty video)")
        if declared and not scan.stopped and scan.duration < declared - 1.0:  # the data ran out early
            scan.stopped = f"decoded up to {scan.duration:.1f} s of {declared:.1f} s (truncated file?)"
        elif declared and not scan.stopped:
            scan.duration = max(scan.duration, declared)
    return scan


def _embed_chunk(scan: VideoScan, pending: list[np.ndarray], embed: Embed) -> None:
    for space, vectors in embed(np.stack(pending)).items():
        scan.vectors.setdefault(space, []).append(vectors)
    pending.clear()


def time_origin(stream) -> float:
    """The video stream's first timestamp in seconds: framefind's times (moments, clips) count from it.

    It is non-zero in MPEG-TS and in edited MP4s; indexing and clip cutting must agree on it.
    """
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def declared_duration(container, stream) -> float | None:
    """Duration in seconds counted from :func:`time_origin` (None if the file does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:  # container duration is in microseconds from the container's start
        offset = time_origin(stream) - (container.start_time or 0) / 1e6
        return container.duration / 1e6 - max(0.0, offset)
    return None


def pool_segments(scan: VideoScan, window: float) -> tuple[list[Item], list[ItemFrames], Vectors]:
    """A scanned video's segments: their items, their frames (times, vectors, thumbnails), and per
    space the segment vectors (the normalised mean of each segment's frame vectors). Indexing and a
    reverse-video query pool the same way, so query and library segments are comparable."""
    frame_vectors = scan.frame_vectors()
    items, frames = [], []
    pooled: dict[str, list[np.ndarray]] = {space: [] for space in frame_vectors}
    for item, rows in segments(scan, window):
        items.append(item)
        frames.append(ItemFrames([scan.times[r] for r in rows], {s: v[rows] for s, v in frame_vectors.items()},
                                 [scan.thumbs[r] for r in rows]))
        for space, vectors in frame_vectors.items():
            pooled[space].append(vectors[rows].mean(axis=0))
    return items, frames, {space: l2_normalize(np.stack(rows)) for space, rows in pooled.items()}


def segments(scan: VideoScan, window: float) -> list[tuple[Item, list[int]]]:
    """Shots, long ones split into equal windows of at most ``window`` s, each with its frame indices."""
    bounds = [*scan.shots, scan.duration]
    out: list[tuple[Item, list[int]]] = []
    times = np.array(scan.times)
    for shot_start, shot_end in zip(bounds[:-1], bounds[1:], strict=True):
        n = max(1, math.ceil((shot_end - shot_start) / window - 1e-9))
        edges = np.linspace(shot_start, shot_end, n + 1)
        for start, end in zip(edges[:-1], edges[1:], strict=True):
            frames = np.flatnonzero((times >= start - 1e-6) & (times < end - 1e-6)).tolist()
            if frames:
                middle = frames[len(frames) // 2]
                out.append((Item(round(float(start), 3), round(float(end), 3), round(scan.times[middle], 3)), frames))
    return out


def sample_frames(path: str | Path, every: float, max_side: int,
                  stopped: Callable[[], bool] = lambda: False) -> Iterator[tuple[float, np.ndarray]]:
    """(time, upright RGB at most ``max_side`` px) every ``every`` seconds, times counted as indexing
    counts them (:func:`time_origin`): for passes that look closer than the embedding did (OCR)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"  # as indexing: B-frames cost decoding and are never needed
        origin, rate, last = time_origin(stream), float(stream.average_rate or 25), -math.inf
        for index, frame in enumerate(container.decode(stream)):
            if stopped():
                return
            time = float(frame.time) - origin if frame.time is not None else index / rate
            if time - last >= every:
                quarter_turns = -round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # as model_pixels
                scale = min(1.0, max_side / max(frame.width, frame.height))
                rgb = frame.reformat(width=round(frame.width * scale), height=round(frame.height * scale),
                                     format="rgb24").to_ndarray()
                yield time, np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb
                last = time
