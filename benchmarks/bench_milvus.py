"""FAISS against Milvus (Lite and a real server) on the same vectors and queries.

Per configuration: insert rate (``VectorIndex.add`` in batches of 20k, as the library's writer does),
flush + index build time (Milvus; for the server also the wait until the index is loaded and answers:
before that an interim index on the growing segment does), single-query latency p50/p95 (one query per call through
``VectorIndex.search``, the path a library search takes), recall@10 against exact numpy top-10, and
the same for a search restricted to 1% and 10% of the ids (1%: an ``id in [...]`` expression on
Milvus; 10%: over FILTER_IN_MAX, a wider unfiltered search filtered here).

Vectors are bench_vectors.py's: the 70k Fashion-MNIST images, randomly projected to 384-d (the
semantic space), mixed with as much noise as signal, unit length; beyond 70k the images repeat with
fresh noise. Queries are stored vectors perturbed to cosine ~0.95.

The server is the ``milvus`` package's embedded Milvus 2.3.5 standalone (started here in a temporary
directory unless ``--server-uri`` names one); Lite is a ``.db`` file in a temporary directory.

Usage: python benchmarks/bench_milvus.py [--sizes 10000,100000] [--queries 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vectors import dataset, exact_top, machine, pct, recall, source_pixels, timed_search  # noqa: E402

from framefind.store.vectors.factory import create_index  # noqa: E402

K, DIM, BATCH, N_FILTERED = 10, 384, 20_000, 50
CONFIGS = [("faiss", "flat"), ("faiss", "ivf-sq8"), ("lite", "flat"), ("lite", "ivf-sq8"),
           ("server", "flat"), ("server", "ivf-sq8"), ("server", "hnsw")]


def start_server(directory: str) -> tuple[object, str]:
    from milvus import MilvusServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = MilvusServer()
    server.set_base_dir(directory)
    server.listen_port = port
    started = time.perf_counter()
    server.start()
    print(f"milvus server up in {time.perf_counter() - started:.1f} s on port {port}", file=sys.stderr)
    return server, f"http://127.0.0.1:{port}"


def single_queries(index, queries: np.ndarray, allowed: np.ndarray | None = None) -> tuple[list[float], np.ndarray]:
    index.search(queries[:1], K, allowed=allowed)  # warm-up: connection, collection load, caches
    return timed_search(index, queries, allowed)


def measure(where: str, kind: str, options: dict, vectors: np.ndarray, queries: np.ndarray,
            truth: np.ndarray) -> dict:
    n = len(vectors)
    ids = np.arange(n, dtype=np.int64) * 3 + 10**12
    backend = "faiss" if where == "faiss" else "milvus"
    started = time.perf_counter()
    index = create_index(DIM, kind, n_hint=n, backend=backend, **options)
    create_s = time.perf_counter() - started  # Milvus: create the collection and its index, load it
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        index.add(ids[start:start + BATCH], vectors[start:start + BATCH])
    insert_s = time.perf_counter() - started
    row = {"where": where, "kind": kind, "n": n, "create_s": round(create_s, 2), "insert_s": round(insert_s, 2),
           "insert_per_s": round(n / insert_s)}
    if backend == "milvus":
        started = time.perf_counter()
        index.flush()  # seal, and wait until the index covers every row
        row["flush_index_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        row["settled"] = index.settle(timeout=300)  # the server: until its index, not an interim one, answers
        row["settle_s"] = round(time.perf_counter() - started, 2)
    times, found = single_queries(index, queries)
    row.update(p50_ms=pct(times, 50), p95_ms=pct(times, 95), recall10=round(recall((found - 10**12) // 3, truth), 4))
    rng = np.random.default_rng(1)
    for share in (0.01, 0.1):
        rows = np.sort(rng.choice(n, int(n * share), replace=False))
        times, found = single_queries(index, queries[:N_FILTERED], allowed=ids[rows])
        exact = exact_top(vectors, queries[:N_FILTERED], rows)
        row[f"filter{int(share * 100)}_p50_ms"] = pct(times, 50)
        row[f"filter{int(share * 100)}_recall10"] = round(recall((found - 10**12) // 3, exact), 4)
    if backend == "milvus":
        index.drop()
    print(json.dumps(row), file=sys.stderr)
    return row


def table(rows: list[dict]) -> str:
    head = ("| n | backend | kind | create s | insert /s | flush+index s | served after s | p50 ms | p95 ms "
            "| recall@10 | 1% filter p50 ms (recall) | 10% filter p50 ms (recall) |\n" + "|---" * 12 + "|")
    names = {"faiss": "FAISS", "lite": "Milvus Lite 3.2.2", "server": "Milvus 2.3.5 server"}
    lines = [f"| {r['n']:,} | {names[r['where']]} | {r['kind']} | {r['create_s']} | {r['insert_per_s']:,} | "
             f"{r.get('flush_index_s', '-')} | {r.get('settle_s', '-')} | {r['p50_ms']} | {r['p95_ms']} | "
             f"{r['recall10']} | {r['filter1_p50_ms']} ({r['filter1_recall10']}) | "
             f"{r['filter10_p50_ms']} ({r['filter10_recall10']}) |" for r in rows]
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--configs", default=",".join(f"{w}:{k}" for w, k in CONFIGS))
    parser.add_argument("--server-uri", default=None, help="a running Milvus server instead of starting one")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configs = [tuple(c.split(":")) for c in args.configs.split(",")]
    pixels, source = source_pixels()
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "data": source,
              "load_before": os.getloadavg(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        server, uri = (None, args.server_uri)
        if uri is None and any(w == "server" for w, _ in configs):
            server, uri = start_server(str(Path(tmp) / "server"))
        try:
            for n in (int(s) for s in args.sizes.split(",")):
                vectors, queries = dataset(pixels, n, DIM)
                queries = queries[:args.queries]
                truth = exact_top(vectors, queries)
                for where, kind in configs:
                    options = {} if where == "faiss" else {"uri": uri if where == "server" else f"{tmp}/lite.db"}
                    report["rows"].append(measure(where, kind, options, vectors, queries, truth))
        finally:
            if server is not None:
                server.stop()
    report["load_after"] = os.getloadavg()
    print(table(report["rows"]))
    print(f"\nload average before {report['load_before']}, after {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
