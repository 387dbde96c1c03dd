"""Indexing in several processes (``framefind index --workers N``, issue #11), side by side with one.

Corpus: bench_index.py's baseline JPEGs (Debian wallpapers re-encoded as a camera would, 2-5 MP; or as
progressive JPEGs, ``--progressive``), each in
``--copies`` byte-distinct copies (new content hash, same pixels), plus one exact copy of each picture
(linked, never embedded twice: checked). Each round indexes the corpus into a fresh library with every
worker count in turn (order rotated round by round, since the machine is shared); medians of images/s
and CPU ms per image over all processes are reported, with the load average. The libraries of one round
must agree: same contents, same vectors to float32 rounding, same search results.

Usage: python benchmarks/bench_workers.py [--copies 10] [--rounds 3] [--workers 1,2,3] [--progressive]
       [--json out.json]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_index import emit, load, machine, make_corpus, reencoded  # noqa: E402

from framefind import Library  # noqa: E402
from framefind.store.catalog import decode  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def index_once(corpus: Path, library_dir: Path, workers: int) -> dict:
    with Library.open(library_dir) as library:
        library.model.embed_images(np.zeros((1, 224, 224, 3), np.uint8))  # the coordinator's sessions, as warm
        start, cpu = time.perf_counter(), cpu_seconds()
        report = library.index([corpus], workers=workers)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        assert report.failed == 0 and not report.interrupted, report.errors
        rows = library.catalog.db.execute(
            "SELECT i.hash, v.space, v.vec FROM items i JOIN vectors v ON v.item_id = i.id WHERE i.model = ?",
            (library.model_id,)).fetchall()
        vectors = {(h, space): decode([vec])[0] for h, space, vec in rows}
        top = [round(r.score, 4) for r in library.search("a mountain lake", k=10, cutoff=False)]  # copies tie
    return {"images_per_s": report.embedded / seconds, "cpu_ms_per_image": 1000 * cpu / report.embedded,
            "embedded": report.embedded, "linked": report.linked, "seconds": seconds,
            "vectors": vectors, "top": top}


def agree(runs: list[dict]) -> None:
    """Every worker count made the same library: contents, vectors (float32 rounding), rankings."""
    first = runs[0]
    for other in runs[1:]:
        assert (other["embedded"], other["linked"]) == (first["embedded"], first["linked"])
        assert other["vectors"].keys() == first["vectors"].keys()
        worst = max(float(np.abs(first["vectors"][k] - other["vectors"][k]).max()) for k in first["vectors"])
        assert worst < 1e-5, worst
        assert other["top"] == first["top"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--progressive", action="store_true", help="progressive JPEGs instead of baseline")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    results: dict = {"date": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime()), "machine": machine(),
                     "load_at_start": load(), "progressive": args.progressive, "runs": {n: [] for n in counts}}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = make_corpus(base / "corpus", reencoded(base / "sources", args.progressive), args.copies)
        for path in files[:: args.copies]:  # one exact copy per picture: linked, not embedded again
            shutil.copy(path, path.with_name(path.stem + "-same.jpg"))
        for round_number in range(args.rounds):
            order = counts[round_number % len(counts):] + counts[: round_number % len(counts)]
            runs = {}
            for n in order:
                runs[n] = index_once(base / "corpus", base / f"lib-{round_number}-{n}", n)
                shutil.rmtree(base / f"lib-{round_number}-{n}")
            agree([runs[n] for n in counts])
            for n in counts:
                kept = {k: v for k, v in runs[n].items() if k not in ("vectors", "top")}
                results["runs"][n].append({**kept, "load": load()})
    results["median"] = {n: {key: round(statistics.median(r[key] for r in runs), 1)
                             for key in ("images_per_s", "cpu_ms_per_image", "seconds")}
                         for n, runs in results["runs"].items()}
    emit(results, args.json)


if __name__ == "__main__":
    main()
