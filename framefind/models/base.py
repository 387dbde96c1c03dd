"""The model interface every embedding model implements, and the preprocessing a model declares.

A model maps images into one or more named vector *spaces* (e.g. ``visual`` for image-to-image
similarity, ``semantic`` for words-to-image) and maps typed words into ``words_space``. A library
stores one FAISS index per space, so a model with a single joint space (CLIP) and one with two
(ConSE) share all the code after this module.
"""

from __future__ import annotations

import fcntl
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.media.images import IMAGE_PIXELS, Decoded, load_image
from framefind.media.video import FRAME_PIXELS, VideoSampling
from framefind.models.identity import spec_id

# Bump when the ONNX conversions (convert.py) change what a graph computes: part of every model's id.
GRAPH_VERSION = 1
# Who wrote the default model's cached graphs: "nb", onnx + numpy (models/onnx_graphs*.py), the same bytes on every
# machine. Part of their cache folders' names, not of any id: 0.6.0's torch exports, still in older caches, differ
# by an ulp in some folded weights, and int8 graphs quantised from them by rounding steps, so a machine must not
# quantise from one of those while another quantises from ours.
GRAPH_WRITER = "nb"
ONNX_THREADS = int(os.environ.get("FRAMEFIND_THREADS", "0")) or min(4, os.cpu_count() or 1)
DEVICE_ENV = "FRAMEFIND_DEVICE"  # auto | cpu | cuda: where images are embedded (see providers())
FITS = ("crop", "squash")


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its pictures, declared by the model (a checkpoint's preprocessor config).

    Decoding (media/images.py, media/video.py) honours ``size`` and ``fit`` and hands over uint8 RGB;
    ``mean``/``std`` (of pixels scaled to 0..1) are applied inside the ONNX image graph, folded in when
    it was converted, so they are recorded here for reference and for an ONNX export's own graph.
    ``fit`` "crop": the shorter side scaled to ``size``, the middle cut out (CLIP); "squash": the whole
    picture scaled to ``size`` x ``size``, its aspect not kept (SigLIP). Resampling is bilinear for all.
    """

    size: int = 224
    fit: str = "crop"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise FrameFindError(f"unknown image fit {self.fit!r} (choose {', '.join(FITS)})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocess:
        return cls(int(data["size"]), str(data.get("fit", "crop")), tuple(data.get("mean", (0.0,) * 3)),
                   tuple(data.get("std", (1.0,) * 3)))


class Model(ABC):
    """Embeds decoded images and text queries. Heavy sessions load lazily, on first use.

    ``name`` is what the user chose (``effnet-conse``, ``clip:ViT-B-32``); ``options`` are the settings
    that shape vectors and may be chosen per library (recorded in it, so a library always searches
    with the settings it was indexed with); ``id`` digests everything that changes a vector.
    """

    family: str  # the id's readable prefix
    name: str
    spaces: dict[str, int]  # space name -> dimension
    words_space: str  # the space typed words (a query's words, label names) are compared in
    image_space: str  # the space example-image queries are compared in
    image_size: int = 224

    @property
    def preprocess(self) -> Preprocess:
        """Pixel size and fit for decoding; a graph that normalises its own input keeps the defaults."""
        return Preprocess(size=self.image_size)

    def __init__(self, options: dict | None = None) -> None:
        options = dict(options or {})
        video = options.pop("video", {})
        try:
            self.sampling = VideoSampling(**video)
        except TypeError as exc:
            raise FrameFindError(f"model option video: {exc} (known: {', '.join(VideoSampling().to_dict())})") from None
        self.draft_fill = options.pop("draft_fill", 1.0)
        if isinstance(self.draft_fill, bool) or not isinstance(self.draft_fill, (int, float)) \
                or not 0.5 <= self.draft_fill <= 1:
            raise FrameFindError(f"model option draft_fill: a number from 0.5 to 1 (got {self.draft_fill!r})")
        self.draft_fill = float(self.draft_fill)
        self._configure(options)
        if options:
            raise FrameFindError(f"{self.name}: unknown model option(s) {', '.join(sorted(options))}")

    def _configure(self, options: dict) -> None:
        """Take this model's own options out of ``options`` (what is left over is an error)."""
        return None

    def options(self) -> dict:
        """The chosen settings, as recorded in a library (``load_model(name, options)`` rebuilds the model)."""
        # draft_fill 1.0 is left unsaid: every library before the option existed decoded so, and keeps its id
        fill = {"draft_fill": self.draft_fill} if self.draft_fill != 1.0 else {}
        return {"video": self.sampling.to_dict(), **fill}

    def decode_image(self, path: str | Path, thumbnail: bool = False) -> Decoded:
        """A picture as this model takes it (``image_size``, its fit, the library's JPEG draft; see
        ``load_image``), with its upright size and, asked for, a thumbnail."""
        return load_image(path, self.image_size, thumbnail, self.preprocess.fit, self.draft_fill)

    @abstractmethod
    def weights(self) -> dict:
        """Content digests of every weight and vocabulary file, plus graph/preprocessing versions."""

    def spec(self) -> dict:
        pixels = {"image": IMAGE_PIXELS, "video": FRAME_PIXELS}
        if self.preprocess.fit != "crop":  # crop is what every id before fits existed was made with
            pixels["fit"] = self.preprocess.fit
        return {"family": self.family, "weights": self.weights(), "options": self.options(),
                "pixels": pixels, "spaces": self.spaces}

    @cached_property
    def id(self) -> str:
        """Stored with every vector: a library knows which vectors a model change makes stale."""
        return spec_id(self.family, self.spec())

    @abstractmethod
    def embed_images(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 ``(n, size, size, 3)`` RGB -> {space: L2-normalised float32 ``(n, dim)``}."""

    @abstractmethod
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> L2-normalised float32 ``(n, dim)`` in ``words_space``."""

    def explain(self, vectors: np.ndarray) -> list[list[str]]:
        """Words that say what each ``words_space`` vector shows ("why it matched"): its labels' names."""
        return [[name for name, _ in row] for row in self.labels(vectors)]

    has_labels = False  # a classifier's label vocabulary: filter and boost by label, say "why"
    # Images embedded one at a time in the thread that decoded them (a single-threaded image graph, as fast
    # per image at batch 1 as at 32), instead of in batches after decoding (store/indexer.py).
    embed_while_decoding = False

    @property
    def recommended_options(self) -> dict:
        """Options a library records when it chooses this model now (on top of the ones given); none here."""
        return {}

    def labels(self, vectors: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """Each ``words_space`` vector's ``top`` classifier labels with their similarity, best first;
        none for a model without a label vocabulary."""
        return [[] for _ in range(len(vectors))]

    def best_possible(self, vectors: np.ndarray) -> np.ndarray | None:
        """For text-space query vectors, about the highest score any picture could get (a picture of
        exactly the nearest thing the model knows); None when the model cannot tell."""
        return None

    def names_something(self, words: str) -> bool:
        """Whether typed words could name anything this model sees (letter soup cannot); True by default."""
        return True

    def label_names(self, word: str) -> set[str]:
        """The labels a word names (a label, a synonym, or a kind: "dog" -> every dog breed); none by default."""
        return set()


def load_model(name: str, options: dict | None = None) -> Model:
    """Build a model by name (``effnet-conse``, ``clip:...``, ``siglip:...``, ``onnx:DIR``): see registry.py.

    Cheap: nothing is loaded, downloaded or converted until the model's id or vectors are needed.
    """
    from framefind.models.registry import build_model

    return build_model(name, options)


def embed_text_batches(session, tokenizer, texts: list[str], dim: int, batch_size: int = 64) -> np.ndarray:
    """Run an ONNX text encoder (``input_ids``, and ``attention_mask`` if it takes one) over ``texts``.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` with padding (and truncation) enabled; an empty list
    gives a ``(0, dim)`` array. SigLIP's graph takes no mask: it was trained attending to its padding.
    """
    chunks = []
    takes_mask = "attention_mask" in {i.name for i in session.get_inputs()}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of like lengths: little padding
    for start in range(0, len(texts), batch_size):
        encodings = tokenizer.encode_batch([texts[i] for i in order[start : start + batch_size]])
        feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64)}
        if takes_mask:
            feeds["attention_mask"] = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        chunks.append(session.run(None, feeds)[0])
    if not chunks:
        return np.zeros((0, dim), np.float32)
    out = np.empty((len(texts), chunks[0].shape[1]), chunks[0].dtype)
    out[order] = np.concatenate(chunks)
    return out


def onnx_session(path: Path, threads: int | None = None, accelerate: bool = False):
    """An ONNX Runtime session on the CPU, with a thread count that suits a small shared machine; with
    ``accelerate`` (image graphs: batches of pixels) on a CUDA GPU when there is one (see :func:`providers`).
    Text encoders stay on the CPU: a query of a few tokens gains nothing from a GPU and would pay its
    start-up in every ``framefind search``. An ORT-format file (``.ort``) was saved already optimised for
    the CPU, so loading skips the optimiser (35 -> 21 ms for the query encoder, the same outputs bit for bit)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if path.suffix == ".ort":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads or ONNX_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle ORT threads spin by default, which steals the cores the decode threads need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = providers(ort.get_available_providers()) if accelerate else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), options, providers=chosen)


def providers(available: list[str], setting: str | None = None) -> list[str]:
    """ONNX Runtime providers for embedding, by ``$FRAMEFIND_DEVICE`` (or ``setting``): "auto" (default)
    uses a CUDA GPU when this ONNX Runtime has one (the onnxruntime-gpu package), "cpu" never does,
    "cuda" insists (an error without one). The CPU stays listed: ops CUDA lacks fall back to it."""
    setting = (setting or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if setting not in ("auto", "cpu", "cuda"):
        raise FrameFindError(f"{DEVICE_ENV}={setting!r}: choose auto, cpu or cuda")
    if setting != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if setting == "cuda":
        raise FrameFindError(f"{DEVICE_ENV}=cuda: this ONNX Runtime has no CUDA provider "
                             "(pip install onnxruntime-gpu, with a CUDA driver)")
    return ["CPUExecutionProvider"]


def device() -> str:
    """Where embedding runs in this process: "cuda" or "cpu"."""
    import onnxruntime as ort

    return "cuda" if providers(ort.get_available_providers())[0].startswith("CUDA") else "cpu"


def ensure_file(path: Path, build: Callable[[], None]) -> Path:
    """Return ``path``, running ``build`` once first if it is missing (other processes wait for it)."""
    if path.exists():
        return path
    with _cache_lock(path.parent):
        if not path.exists():
            build()
    if not path.exists():
        raise FrameFindError(f"{path}: model conversion did not produce this file")
    return path


_held = threading.local()  # the cache directories this thread holds the lock of


@contextmanager
def _cache_lock(directory: Path):
    """One conversion at a time per cache directory, across processes. Re-entered by the thread holding
    it when a build needs another file of the same directory (MiniLM's query graph is made from its float
    graph): a second ``flock`` on a new descriptor would wait for this one forever."""
    held = _held.__dict__.setdefault("directories", set())
    if directory in held:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        held.add(directory)
        try:
            yield
        finally:
            held.discard(directory)
            fcntl.flock(fh, fcntl.LOCK_UN)

