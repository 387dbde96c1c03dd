"""Faces in a picture, each with a 128-d vector that tells people apart: the building block of people search.

dlib's models (in ``face-recognition-models``, released by Davis King into the public domain; the code is
dlib, Boost licence): the HOG frontal face detector, the 5-point landmark predictor that aligns each face
into a 150-px chip, and the ResNet that turns the chip into a 128-d vector (99.38 % on LFW; two vectors
closer than ``SAME_PERSON`` are the same person). The 68-point predictor in the same package is never
loaded: its training data (iBUG 300-W) forbids commercial use. Nothing is downloaded: without the
``faces`` extra, :func:`available` names it and :func:`faces_in` raises that one line.

Why HOG and not dlib's CNN (mmod) detector: on the labelled real photos of benchmarks/bench_faces.py, at a
1600-px working size, the CNN found 35 of 38 faces (two more turned ones), HOG 33, but the CNN found none of
the 29 small faces of a group photo and took ~9 s a photo on two CPU cores: 60x HOG's 0.15 s. HOG's window is
80 px, so the picture is scaled to ``WORK_SIDE`` on its longer side (small pictures at most ``MAX_UPSCALE``
times): faces down to 80/2048 of the longer side are found, in ~0.26 s for a 4 MP or 12 MP picture.
Each face's vector then costs ~90 ms, whatever the picture's size.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from framefind.errors import FrameFindError

# Euclidean distance below which two vectors are one person. dlib's own is 0.6; on the labelled real photos of
# bench_faces.py 0.55 accepted 0 of 1,181 pairs of different people (0.6: 5) and 42 of 55 same-person pairs
# (0.6: 46): a wrong person in "photos of Anne" costs more than a missed photo.
SAME_PERSON = 0.55
WORK_SIDE = 2048  # px: the detector's picture, longer side (2560 finds 27 of Solvay's 29, 2048 22, 1600 3)
MAX_UPSCALE = 2.0  # small pictures are enlarged up to this: a 40-px face in a 512-px photo is found
MIN_SIDE = 16  # px: a picture shorter than this on a side holds no face worth a vector
MIN_SCORE = 0.0  # HOG's own threshold; low scores are small or turned faces as often as false alarms
EXTRA = "faces need the faces extra: pip install 'framefind[faces]'"
_MODELS = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")

_lock = threading.Lock()
_models: tuple[Any, Any, Any] | None = None


@dataclass(frozen=True)
class Face:
    """One face: where it is (fractions of the picture, so a crop works at any size) and who it looks like."""

    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the picture's width and height
    score: float  # detector confidence (HOG margin: > 1 is a clear frontal face, near 0 a doubtful one)
    vector: np.ndarray  # 128-d float32; the same person: euclidean distance < SAME_PERSON


def _model_dir() -> Path | None:
    """The folder of the model files, found without importing ``face_recognition_models`` (its
    ``__init__`` needs ``pkg_resources``, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if all((folder / name).is_file() for name in _MODELS) else None


def available() -> str | None:
    """None when dlib and the model files are installed; else the one line that says how to get them."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return EXTRA
    return None if _model_dir() is not None else EXTRA


def _load() -> tuple[Any, Any, Any]:
    """Detector, landmark predictor and ResNet, loaded once per process (~0.4 s, ~40 MB). dlib holds the
    GIL while it computes, so one lock around each use costs no parallelism; processes give that."""
    global _models
    if _models is None:
        reason = available()
        if reason is not None:
            raise FrameFindError(reason)
        import dlib

        folder = _model_dir()
        assert folder is not None  # available() checked it
        _models = (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(folder / _MODELS[0])),
                   dlib.face_recognition_model_v1(str(folder / _MODELS[1])))
    return _models


def _rgb(picture: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 from what a caller may hold (grey, RGBA, floats 0-255); anything else is a one-line error."""
    image = np.asarray(picture)
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
            raise FrameFindError(f"faces_in needs a picture of numbers, got {image.dtype}")
        image = np.clip(np.nan_to_num(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise FrameFindError(f"faces_in needs an RGB picture (height x width x 3), got shape {image.shape}")
    image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
    return np.ascontiguousarray(image)


def working_scale(height: int, width: int, work_side: int = WORK_SIDE) -> float:
    """How much the detector's picture is scaled: to ``work_side`` on the longer side, up to MAX_UPSCALE."""
    return min(MAX_UPSCALE, work_side / max(1, height, width))


def _scaled(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The detector's picture: a strided pick first when it shrinks a lot (a 50 MP photo costs little
    more than a 5 MP one), then an area (shrink) or linear (enlarge) resize."""
    step = max(1, int(1 / scale) // 2)
    small = rgb[::step, ::step] if step > 1 else rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (small.shape[1], small.shape[0]):
        return np.ascontiguousarray(small)
    return cv2.resize(small, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def faces_in(picture: np.ndarray, *, work_side: int = WORK_SIDE) -> list[Face]:
    """Every frontal face in an RGB picture (any size), best score first. ``work_side`` trades cost for the
    smallest face found (80 px at the working size): 2560 finds the faces of a crowded group photo at
    ~1.6x the detector's cost of 2048. Raises FrameFindError, one line, without the faces extra."""
    rgb = _rgb(picture)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return []
    scale = working_scale(height, width, work_side)
    work = _scaled(rgb, scale)
    sy, sx = work.shape[0] / height, work.shape[1] / width
    with _lock:
        detector, landmarks, resnet = _load()
        rects, scores, _ = detector.run(work, 0, MIN_SCORE)
        found = sorted(zip(scores, rects, strict=True), key=lambda pair: -pair[0])
        vectors = [np.asarray(resnet.compute_face_descriptor(work, landmarks(work, rect)), np.float32)
                   for _, rect in found]
    faces = []
    for (score, rect), vector in zip(found, vectors, strict=True):
        x0, y0 = max(0.0, rect.left() / sx), max(0.0, rect.top() / sy)
        x1, y1 = min(float(width), (rect.right() + 1) / sx), min(float(height), (rect.bottom() + 1) / sy)
        box = (x0 / width, y0 / height, max(0.0, x1 - x0) / width, max(0.0, y1 - y0) / height)
        faces.append(Face(box=box, score=float(score), vector=vector))
    return faces


def distance(a: Face | np.ndarray, b: Face | np.ndarray) -> float:
    """Euclidean distance between two faces' vectors: below SAME_PERSON, one person."""
    va = a.vector if isinstance(a, Face) else np.asarray(a, np.float32)
    vb = b.vector if isinstance(b, Face) else np.asarray(b, np.float32)
    return float(np.linalg.norm(va - vb))
