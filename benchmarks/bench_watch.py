"""Watch folders (#21): how long from a photo's copy completing to the photo being found by a search.

``framefind watch`` runs as a user runs it (a child process, default settings: inotify, 2 s settle). Each photo is
written under a hidden name in the watched folder (hidden files are never indexed), closed, then renamed into place:
that rename is "the copy completed" (t0). This process then searches the folder every 50 ms, as a user would
(``Library.search_page`` with the folder as a filter), until the photo is among the results (t1). Two patterns:

1. **One at a time**: 30 photos, each copied once the one before is found (each its own batch).
2. **A burst**: 30 photos copied together (one batch, or two if the copy straddles a tick).

Reported: t1 - t0 per photo (median, 90th percentile, max), and what a batch of the watcher took (its own line).
The target (issue #21): ≤ 10 s on this machine. Real photos: crops of scikit-image's (tests/watched.py).

``--soak N``: then N more batches (one photo rewritten with new pixels, in place by rename, each waited for) and the
watcher's resident memory along them: memory must not grow with the batches a long-running watcher has done.

``--grow N``: first grow the library to N items (real vectors + noise, tests/conftest.py ``grow_library``) and index
it once, so each batch's fixed work (the words of every file checked, the index files brought up to date) is paid at
that size; and, before watching, what one photo's batch costs there as the watcher runs it (``small_batch``: index
files left to lag, words re-read for its contents only) and as a plain index of the same path (alternated).

Usage: python benchmarks/bench_watch.py [--photos 30] [--settle 2] [--grow N] [--soak N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_index import machine  # noqa: E402
from conftest import grow_library, run_cli  # noqa: E402
from watched import Watching, photos  # noqa: E402

from framefind import Library  # noqa: E402
from framefind.search.query import Query  # noqa: E402

POLL = 0.05  # seconds between searches while waiting for a photo


def found(library: Library, folder: Path) -> set[str]:
    page = library.search_page(Query.of("a photo", under=(folder,), k=500, cutoff=False))
    return {p for r in page.results for p in (r.path, *r.duplicates, *(d.path for d in r.near_duplicates))}


def copy_in(source: Path, folder: Path) -> tuple[str, float]:
    """Write ``source`` under a hidden name, close it, rename it into place: (its path, when the rename was done)."""
    target = folder / source.name
    hidden = folder / f".{source.name}.part"
    shutil.copyfile(source, hidden)
    os.replace(hidden, target)
    return str(target), time.perf_counter()


def wait_found(library: Library, folder: Path, paths: dict[str, float], limit: float = 120.0) -> dict[str, float]:
    """Seconds from each path's t0 to the first search that returns it."""
    latency: dict[str, float] = {}
    deadline = time.perf_counter() + limit
    while len(latency) < len(paths):
        now_found = found(library, folder)
        now = time.perf_counter()
        for path, t0 in paths.items():
            if path not in latency and path in now_found:
                latency[path] = now - t0
        if now > deadline:
            raise SystemExit(f"not found after {limit:.0f} s: {sorted(set(paths) - set(latency))[:3]}")
        time.sleep(POLL)
    return latency


def soak(watcher: Watching, folder: Path, source: Path, batches: int) -> dict[int, float]:
    """Rewrite one photo ``batches`` times (new pixels each time: a new content to embed, the old one dropped),
    each batch waited for; the watcher's resident memory (MB) after batch 1, 10%, 50% and 100% of them."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(source).convert("RGB")).copy()
    done = len([line for line in watcher.lines() if line.startswith("indexed ")])
    marks, rss = {1, max(1, batches // 10), max(1, batches // 2), batches}, {}
    for n in range(1, batches + 1):
        pixels[n % pixels.shape[0], 0] ^= 0xFF  # one pixel row start changed: new bytes, a new content
        hidden = folder / ".soak.jpg.part"
        Image.fromarray(pixels).save(hidden, format="JPEG", quality=92)
        os.replace(hidden, folder / "soak.jpg")
        watcher.wait_for("indexed ", count=done + n)
        if n in marks:
            status = Path(f"/proc/{watcher.proc.pid}/status").read_text()
            rss[n] = round(int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024, 1)
    return rss


def batch_cost(lib: Path, folder: Path, sources: list[Path]) -> dict[str, float]:
    """One photo's batch, as the watcher runs it (``Library.index`` of its path, ``small_batch``: the index files
    may lag, only its contents' words re-read) and as a plain run of the same path would (files written, every
    content's words checked), alternated photo by photo; median seconds of each."""
    folder.mkdir()
    took: dict[str, list[float]] = {"small_batch": [], "full": []}
    with Library.open(lib, create=False) as library:
        for number, source in enumerate(sources):
            kind = "small_batch" if number % 2 == 0 else "full"
            target = folder / f"cost-{number}{source.suffix}"
            shutil.copy(source, target)
            started = time.perf_counter()
            library.index([target], small_batch=kind == "small_batch")
            took[kind].append(time.perf_counter() - started)
    return {kind: round(statistics.median(values), 3) for kind, values in took.items()}


def summary(latency: list[float]) -> dict:
    ordered = sorted(latency)
    return {"n": len(ordered), "median_s": round(statistics.median(ordered), 2),
            "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 2), "max_s": round(ordered[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--grow", type=int, default=0)
    parser.add_argument("--soak", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    try:
        staged = photos(base / "staged", 2 * args.photos)
        one, burst = base / "one", base / "burst"
        one.mkdir()
        burst.mkdir()
        lib = base / "lib"
        results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "settle_s": args.settle,
                         "library_items": args.grow}
        run_cli("index", str(one), str(burst), "--library", str(lib), "-q")
        if args.grow:
            seed = base / "seed"
            photos(seed, 5, skip=2 * args.photos)
            run_cli("index", str(seed), "--library", str(lib), "-q")
            grow_library(lib, args.grow)
            run_cli("index", "--library", str(lib), "-q", timeout=3600)  # words of every file read once
            results["batch_cost_s"] = batch_cost(lib, one / "cost", staged[:10])
        with Watching("watch", str(one), str(burst), "--library", str(lib), "--settle", str(args.settle)) as watcher:
            watcher.wait_for("framefind: watching 2 folder")
            with Library.open(lib, create=False) as library:
                singles = []
                for source in staged[: args.photos]:
                    path, t0 = copy_in(source, one)
                    singles += wait_found(library, one, {path: t0}).values()
                results["one_at_a_time"] = summary(singles)
                paths = dict(copy_in(source, burst) for source in staged[args.photos:])
                results["burst"] = summary(list(wait_found(library, burst, paths).values()))
            watcher.wait_for("indexed ", count=args.photos + 1)
            if args.soak:
                results["soak_rss_mb"] = soak(watcher, one, staged[0], args.soak)
            returncode, stderr = watcher.stop()
        batches = [float(m[1]) for m in re.finditer(r"^indexed .* in ([\d.]+) s$", stderr, re.M)]
        results["batch_seconds"] = {"one_photo_median": round(statistics.median(batches[: args.photos]), 2),
                                    "burst": batches[args.photos: len(batches) - args.soak]}
        results["watcher_exit"] = returncode
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
