"""Vector index types side by side: build time, size, single-query latency and recall@10 vs exact.

This is what the "auto" thresholds in framefind/store/vectors/factory.py and the search-time settings
(HNSW efSearch, IVF nprobe) in framefind/store/vectors/faiss.py come from.

Data with realistic structure: the 70k Fashion-MNIST images (Debian dataset-fashion-mnist), centred,
randomly projected to the target dimension (384 = the text/semantic space, 1280 = image features)
and mixed with as much isotropic noise as signal (sigma 1), then L2-normalised. Beyond 70k items the
images repeat with fresh noise, like near-duplicate video frames. The noise matters: clean projected
pixels have few intrinsic dimensions and make every ANN look perfect. Queries are stored vectors
perturbed by noise (cosine ~0.95 to their source). Ground truth is exact numpy top-10.

Latency is one query per call through ``VectorIndex.search`` (the path a query takes), p50/p95 over
200 queries. ``search`` runs fewer than 20 queries on one OpenMP thread (FaissIndex.FEW_QUERIES), so
"1t" is what callers get; "2t unpinned" switches that off to show what FAISS's default thread count
costs a single query (50 queries); "batch-50" is the per-query cost of 50-query batches on all threads. Filtered
columns time a search restricted to a random 1% or 10% of the ids, and its recall vs exact filtered top-10.

Usage: python benchmarks/bench_vectors.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from framefind.store.vectors import faiss as vfaiss  # noqa: E402
from framefind.store.vectors.factory import BACKENDS, create_index  # noqa: E402
from framefind.store.vectors.faiss import nlist_for, nprobe_for  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
SIGMA, QUERY_NOISE, N_QUERIES, K = 1.0, 0.3, 200, 10


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    return {"processor": platform.processor(), "cpu_count": os.cpu_count(), "model_name": model,
            "python": platform.python_version(), "faiss": faiss.__version__, "numpy": np.__version__}


def source_pixels() -> tuple[np.ndarray, str]:
    """Centred Fashion-MNIST pixels (70k x 784); 20 random clusters when the package is missing."""
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        parts = []
        for split in ("train", "t10k"):
            with gzip.open(FASHION / f"{split}-images-idx3-ubyte.gz") as fh:
                parts.append(np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 784))
        pixels = np.concatenate(parts).astype(np.float32) / 255
        return pixels - pixels.mean(axis=0), "fashion-mnist (70k) projected + noise"
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 784)).astype(np.float32)
    return centres[rng.integers(0, 20, 70_000)] + rng.standard_normal((70_000, 784)).astype(np.float32), \
        "20 gaussian clusters (dataset-fashion-mnist missing)"


def unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def dataset(pixels: np.ndarray, n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n stored vectors, N_QUERIES perturbed stored vectors), unit length, float32."""
    rng = np.random.default_rng(seed)
    base = unit(pixels @ rng.standard_normal((pixels.shape[1], dim)).astype(np.float32))
    vectors = np.empty((n, dim), np.float32)
    for start in range(0, n, 50_000):  # chunks keep the temporary noise arrays small
        rows = np.arange(start, min(n, start + 50_000))
        noise = rng.standard_normal((len(rows), dim)).astype(np.float32) * (SIGMA / np.sqrt(dim))
        vectors[rows] = unit(base[rows % len(base)] + noise)
    picked = rng.choice(n, N_QUERIES, replace=False)
    noise = rng.standard_normal((N_QUERIES, dim)).astype(np.float32) * (QUERY_NOISE / np.sqrt(dim))
    return vectors, unit(vectors[picked] + noise)


def exact_top(vectors: np.ndarray, queries: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact top-K row numbers (restricted to ``rows`` when given)."""
    pool = vectors if rows is None else vectors[rows]
    scores = queries @ pool.T
    top = np.argsort(-scores, axis=1)[:, :K]
    return top if rows is None else rows[top]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def emit_report(report: dict, table: str, path: Path | None) -> None:
    """A run's results: JSON on stdout (and in ``path``), the markdown table for docs/benchmarks.md on stderr."""
    print(json.dumps(report, indent=1))
    print(table, file=sys.stderr)
    if path:
        path.write_text(json.dumps(report, indent=1))


def timed_search(index, queries: np.ndarray, allowed: np.ndarray | None = None) -> tuple[list[float], np.ndarray]:
    times, found = [], []
    for q in range(len(queries)):
        started = time.perf_counter()
        _, ids = index.search(queries[q : q + 1], K, allowed=allowed)
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids[0])
    return times, np.array(found)


def pct(times: list[float], p: int) -> float:
    return round(float(np.percentile(times, p)), 3)


def measure(backend: str, kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """One row of the table: build, size, latency (1 thread and default threads), recall, filtered search."""
    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64) * 3 + 10**12  # sparse large ids, as a library's are
    started = time.perf_counter()
    index = create_index(dim, kind, n_hint=n, backend=backend)
    index.add(ids, vectors)
    row = {"backend": backend, "kind": kind, "dim": dim, "n": n, "build_s": round(time.perf_counter() - started, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "index.faiss")
        row["index_mb"] = round((Path(tmp) / "index.faiss").stat().st_size / 2**20, 1)
    if kind == "ivf-sq8":
        row["params"] = {"nlist": index.nlist, "nprobe": nprobe_for(index.nlist)}
    defaults, few_queries = faiss.omp_get_max_threads(), vfaiss.FEW_QUERIES
    try:
        faiss.omp_set_num_threads(1)
        times, found = timed_search(index, queries)
        found_rows = (found - 10**12) // 3  # back to row numbers; a missing neighbour (-1) maps to a negative row
        row.update(p50_ms_1t=pct(times, 50), p95_ms_1t=pct(times, 95), recall10=round(recall(found_rows, truth), 4))
        rng = np.random.default_rng(1)
        for share in (0.01, 0.1):
            rows = np.sort(rng.choice(n, max(K, int(n * share)), replace=False))
            times, found = timed_search(index, queries[:50], allowed=ids[rows])
            exact = exact_top(vectors, queries[:50], rows)
            row[f"filter{int(share * 100)}pct_p50_ms_1t"] = pct(times, 50)
            row[f"filter{int(share * 100)}pct_recall10"] = round(recall((found - 10**12) // 3, exact), 4)
        faiss.omp_set_num_threads(defaults)
        vfaiss.FEW_QUERIES = 0  # what a single query costs if search did not pin it to one thread
        times, _ = timed_search(index, queries[:50])
        row.update({f"p50_ms_{defaults}t": pct(times, 50), f"p95_ms_{defaults}t": pct(times, 95)})
        started = time.perf_counter()
        for batch in range(0, N_QUERIES, 50):  # batches of 50 run on all threads (FAISS splits queries)
            index.search(queries[batch : batch + 50], K)
        row[f"batch50_ms_per_query_{defaults}t"] = round((time.perf_counter() - started) * 1000 / N_QUERIES, 3)
    finally:
        faiss.omp_set_num_threads(defaults)
        vfaiss.FEW_QUERIES = few_queries
    return row


COLUMNS = {  # markdown header -> JSON key ({t} = FAISS's default thread count)
    "dim": "dim", "n": "n", "kind": "kind", "build s": "build_s", "MB": "index_mb", "p50 1t": "p50_ms_1t",
    "p95 1t": "p95_ms_1t", "p50 {t}t unpinned": "p50_ms_{t}t", "p95 {t}t unpinned": "p95_ms_{t}t",
    "batch-50 ms/query {t}t": "batch50_ms_per_query_{t}t", "recall@10": "recall10",
    "1% filter p50 1t": "filter1pct_p50_ms_1t", "1% filter recall": "filter1pct_recall10",
    "10% filter p50 1t": "filter10pct_p50_ms_1t", "10% filter recall": "filter10pct_recall10",
}


def markdown(rows: list[dict]) -> str:
    t = faiss.omp_get_max_threads()
    lines = ["| " + " | ".join(head.format(t=t) for head in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(key.format(t=t), "")) for key in COLUMNS.values()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="10k only (a smoke run)")
    args = parser.parse_args()
    sizes = [(384, 10_000), (1280, 10_000)] if args.quick else \
        [(384, 10_000), (384, 100_000), (384, 300_000), (1280, 10_000), (1280, 100_000)]
    pixels, source = source_pixels()
    started, rows = time.perf_counter(), []
    for dim, n in sizes:
        vectors, queries = dataset(pixels, n, dim)
        truth = exact_top(vectors, queries)
        for kind in BACKENDS["faiss"].kinds:  # Milvus, which needs a server or a Lite file: bench_milvus.py
            rows.append(measure("faiss", kind, vectors, queries, truth))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
              "data": source, "sigma": SIGMA, "query_noise": QUERY_NOISE, "queries": N_QUERIES, "k": K,
              "nlist_rule": {str(n): nlist_for(n) for _, n in sizes}, "total_s": round(time.perf_counter() - started),
              "results": rows}
    emit_report(report, markdown(rows), args.json)


if __name__ == "__main__":
    main()
