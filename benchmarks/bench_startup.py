"""Search start-up: ``framefind search`` as a whole process on a 10k library, broken down by phase, and
what the int8 query encoder costs in quality.

1. Whole process: ``python -m framefind search QUERY -l LIB --json``, median of ``--runs`` (each a fresh
   process, as a user's shell runs it), against ``python -c pass`` (the interpreter alone).
2. Phases, each in a fresh process (``--phases-runs`` of them, medians): imports, opening the library,
   loading the text encoder and embedding the query, loading the index files, the search itself.
3. Quality of the int8 query graph against the float one (models/minilm.py): cosine of the vectors, and
   retrieval with each on Fashion-MNIST (20 garment queries, P@10 by class on the 10k library) and on
   the 32 hand-written captions (benchmarks/data/captions.json, R@1, R@5, MRR).

Usage: python benchmarks/bench_startup.py [--library DIR (a 10k Fashion-MNIST library; built if absent)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_eval import assemble_photos  # noqa: E402
from bench_index import machine  # noqa: E402
from bench_search import QUERIES, build_10k  # noqa: E402

from framefind import Library  # noqa: E402
from framefind.search.query import Query  # noqa: E402

GARMENTS = {"a t-shirt": "tshirt", "a top": "tshirt", "trousers": "trouser", "jeans": "trouser",
            "a pullover": "pullover", "a sweater": "pullover", "a dress": "dress", "a summer dress": "dress",
            "a coat": "coat", "a wool coat": "coat", "sandals": "sandal", "flip flops": "sandal",
            "a shirt": "shirt", "a shirt with buttons": "shirt", "a sneaker": "sneaker",
            "running shoes": "sneaker", "a bag": "bag", "a leather handbag": "bag", "ankle boots": "boot",
            "a boot": "boot"}

PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import numpy, faiss, onnxruntime; mark("import numpy, faiss, onnxruntime")
import framefind.interfaces.cli; mark("import framefind (cli, library, search)")
from framefind import Library
library = Library.open(sys.argv[1], create=False); model = library.model; mark("open library, model object")
model.embed_texts([sys.argv[2]]); mark("load text encoder, embed query")
library.store.view(model.words_space); mark("load index files")
library.search_page(sys.argv[2]); mark("search (first)")
print(json.dumps({b[0]: 1000 * (b[1] - a[1]) for a, b in zip(marks, marks[1:])}))
"""


def whole_process(library: Path, runs: int) -> dict:
    def timed(args: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        return time.perf_counter() - start

    timed([sys.executable, "-m", "framefind", "search", "warm the page cache", "-l", str(library), "--json"])
    search = [timed([sys.executable, "-m", "framefind", "search", QUERIES[i % len(QUERIES)], "-l", str(library),
                     "--json"]) for i in range(runs)]
    bare = [timed([sys.executable, "-c", "pass"]) for _ in range(runs)]
    return {"search_median_s": round(statistics.median(search), 3), "search_min_s": round(min(search), 3),
            "search_max_s": round(max(search), 3), "python_alone_median_s": round(statistics.median(bare), 3)}


def phases(library: Path, runs: int) -> dict:
    rows = []
    for i in range(runs):
        done = subprocess.run([sys.executable, "-c", PHASES, str(library), QUERIES[i % len(QUERIES)]],
                              check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {name: round(statistics.median(row[name] for row in rows), 1) for name in rows[0]}


def encoders(library: Library) -> dict:
    """(float, int8) query vector functions of the library's text encoder."""
    encoder = library.model.text_encoder
    return {"float": encoder.embed, "int8": encoder.embed_query}


def ranked_paths(library: Library, text: str, vector: np.ndarray, k: int) -> list[str]:
    model = library.model
    model.embed_texts = lambda texts: vector[None]  # the search embeds exactly this vector
    try:
        return [str(Path(r.path).resolve()) for r in library.search_page(Query.of(text, k=k, cutoff=False)).results]
    finally:
        del model.embed_texts


def garments(library_dir: Path) -> dict:
    with Library.open(library_dir, create=False) as library:
        texts = list(GARMENTS)
        out = {}
        vectors = {name: embed(texts) for name, embed in encoders(library).items()}
        for name, rows in vectors.items():
            precision = [np.mean([GARMENTS[t] in Path(p).name for p in ranked_paths(library, t, v, 10)])
                         for t, v in zip(texts, rows, strict=True)]
            out[f"p_at_10_{name}"] = round(float(np.mean(precision)), 3)
        out["cosine_mean"] = round(float(np.mean(np.sum(vectors["float"] * vectors["int8"], axis=1))), 4)
    return out


def captions(work: Path) -> dict:
    assemble_photos(work / "photos")
    golden = json.loads((HERE / "data" / "captions.json").read_text())
    texts = [q["text"] for q in golden["queries"]]
    relevant = [{str((work / "photos" / r).resolve()) for r in q["relevant"]} for q in golden["queries"]]
    out = {}
    with Library.open(work / "library") as library:
        library.index([work / "photos"])
        vectors = {name: embed(texts) for name, embed in encoders(library).items()}
        for name, rows in vectors.items():
            ranks = []
            for text, vector, wanted in zip(texts, rows, relevant, strict=True):
                paths = ranked_paths(library, text, vector, 60)
                ranks.append(next((i for i, p in enumerate(paths) if p in wanted), None))
            out[name] = {"r_at_1": round(np.mean([r == 0 for r in ranks]), 3),
                         "r_at_5": round(np.mean([r is not None and r < 5 for r in ranks]), 3),
                         "mrr": round(np.mean([0 if r is None else 1 / (r + 1) for r in ranks]), 3)}
        out["cosine_mean"] = round(float(np.mean(np.sum(vectors["float"] * vectors["int8"], axis=1))), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, help="a 10k Fashion-MNIST library (built here if absent)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--phases-runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library = args.library
        if library is None or not (library / "catalog.sqlite").exists():
            build_10k(Path(tmp))
            library = Path(tmp) / "library"
        results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                   "load_average": round(os.getloadavg()[0], 1), "whole_process": whole_process(library, args.runs),
                   "phases_ms": phases(library, args.phases_runs), "garments": garments(library),
                   "captions": captions(Path(tmp) / "captions")}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
