"""ConSE design study: how many classes (top-T), softmax temperature and label wording.

Images are classified once; every variant then recomputes the semantic vectors from the same class
probabilities, so the comparison is exact and fast. Two text -> image sets:
- benchmarks/data/captions.json: 32 hand-written captions over real photos (MRR@10);
- Fashion-MNIST, 1,000 test images, one query per class ("a dress", ...; map@10 over the top 10).

Usage: python benchmarks/bench_conse.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_eval import assemble_photos  # noqa: E402
from conftest import fashion_mnist  # noqa: E402

from framefind.linalg import l2_normalize  # noqa: E402
from framefind.media.images import load_image  # noqa: E402
from framefind.models.conse import ConseModel, imagenet_labels, label_text  # noqa: E402

LABEL_TEXTS = {
    "names: definition; a kind of hypernyms": label_text,  # what framefind uses
    "names: definition": lambda c: f"{c['names']}: {c['definition']}",
    "names": lambda c: c["names"],
}
FASHION_QUERIES = ["a t-shirt", "a pair of trousers", "a pullover", "a dress", "a coat", "a sandal", "a shirt",
                   "a sneaker", "a bag", "an ankle boot"]


def semantic(log_probs: np.ndarray, label_vectors: np.ndarray, top_t: int, temperature: float) -> np.ndarray:
    p = np.exp((log_probs - log_probs.max(1, keepdims=True)) / temperature)
    p /= p.sum(1, keepdims=True)
    top = np.argpartition(-p, top_t - 1, axis=1)[:, :top_t]
    weights = np.zeros_like(p)
    np.put_along_axis(weights, top, np.take_along_axis(p, top, 1), 1)
    return l2_normalize(weights @ label_vectors)


def mrr_at_10(scores: np.ndarray, relevant: list[list[int]]) -> float:
    out = []
    for row, rel in zip(scores, relevant, strict=True):
        order = list(np.argsort(-row)[:10])
        out.append(max((1 / (order.index(j) + 1) for j in rel if j in order), default=0.0))
    return float(np.mean(out))


def map_at_10(scores: np.ndarray, labels: np.ndarray) -> float:
    aps = []
    for c, row in enumerate(scores):
        hits = labels[np.argsort(-row)[:10]] == c
        aps.append(float((np.cumsum(hits) / np.arange(1, 11) * hits).sum() / 10))
    return float(np.mean(aps))


def main() -> None:
    model = ConseModel()
    work = Path(tempfile.mkdtemp())
    assemble_photos(work / "photos")
    captions = json.loads((HERE / "data" / "captions.json").read_text())
    files = sorted(p for p in (work / "photos").rglob("*") if p.is_file())
    names = [str(p.relative_to(work / "photos")) for p in files]
    _, probs = model.classify(np.stack([load_image(p, 224)[0] for p in files]))
    photo_logs = np.log(np.maximum(probs, 1e-12))
    caption_vectors = model.embed_texts([c["text"] for c in captions["queries"]])
    relevant = [[names.index(r) for r in c["relevant"]] for c in captions["queries"]]
    images, labels = fashion_mnist(1000)
    pixels = np.stack([np.asarray(Image.fromarray(x).convert("RGB").resize((224, 224))) for x in images])
    _, probs = model.classify(pixels)
    fashion_logs = np.log(np.maximum(probs, 1e-12))
    fashion_vectors = model.embed_texts(FASHION_QUERIES)
    print("| label text | T | temperature | captions MRR@10 | Fashion-MNIST map@10 |\n|---|---|---|---|---|")
    for wording, text_of in LABEL_TEXTS.items():
        label_vectors = model.text_encoder.embed([text_of(label) for label in imagenet_labels()])
        for top_t in (5, 10, 20, 40):
            for temperature in (0.5, 1.0, 2.0):
                photos = semantic(photo_logs, label_vectors, top_t, temperature)
                fashion = semantic(fashion_logs, label_vectors, top_t, temperature)
                print(f"| {wording} | {top_t} | {temperature} | {mrr_at_10(caption_vectors @ photos.T, relevant):.3f} "
                      f"| {map_at_10(fashion_vectors @ fashion.T, labels):.3f} |")


if __name__ == "__main__":
    main()
