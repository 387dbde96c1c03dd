"""Index rebuilds in the foreground and in the background (issue #11, store/rebuild.py), side by side.

A library of ``--n`` items (default 200k) whose vectors are the default model's own features of real
images grown with covariance-shaped noise (bench_scale.py's "grown" set; its cached real features are
needed: `python benchmarks/bench_scale.py` makes them), written straight into the catalog, each item a
hard link to one real photo. Its index files are first written pinned to `flat`; then the library goes
back to `auto` (ivf-sq8 for the 384-d space, ivf-pq for the 1280-d one), a rebuild of both spaces:

- background (the default above 100k vectors): how long `Library.index()` takes to return, how long
  the build process runs and its peak RSS, and text-search latency while it builds and after;
- foreground (FRAMEFIND_BACKGROUND_BUILD_MIN set above n, as before this change): how long
  `Library.index()` takes, with the same rebuild inside it, and the peak RSS of that process (a fresh one).

Usage: python benchmarks/bench_rebuild.py [--n 200000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_index import emit, load, machine  # noqa: E402
from bench_scale import grown, real_features  # noqa: E402

from framefind import Library  # noqa: E402
from framefind.media.units import Item  # noqa: E402
from framefind.store import indexfiles  # noqa: E402
from framefind.store.rebuild import LOG_NAME, running  # noqa: E402

CACHE = Path("/tmp/framefind-bench-scale")
PHOTO = Path("/usr/share/wallpapers")
TEXTS = ["a dog on the beach", "a red car", "a bowl of soup", "mountains at sunset", "a cat on a sofa"]


def make_library(directory: Path, n: int) -> None:
    """A library of ``n`` items: one real indexed photo, then grown vectors written in one transaction per 10k."""
    real = real_features(CACHE)
    photo = next(p for p in sorted(PHOTO.rglob("*.jpg")) if p.stat().st_size > 100_000)
    media = directory.parent / "media"
    media.mkdir()
    shutil.copy(photo, media / "real.jpg")
    with Library.open(directory, index_type="flat") as library:
        library.index([media])
        catalog, model_id = library.catalog, library.model_id
        vectors = {space: grown(real[space], n, seed=1)[0] for space in ("semantic", "visual")}
        for start in range(1, n, 10_000):
            with catalog.transaction():
                for i in range(start, min(n, start + 10_000)):
                    content = f"{i:032x}"
                    catalog.add_content(content, "image", model_id, (28, 28), [Item()],
                                        {space: v[i][None] for space, v in vectors.items()})
                    link = media / f"{i // 60_000}" / f"{i:08d}.jpg"
                    if not link.parent.is_dir():  # a file takes ~65k hard links: a copy for each 60k
                        link.parent.mkdir()
                        shutil.copy(media / "real.jpg", link.parent / "source.jpg")
                    os.link(link.parent / "source.jpg", link)
                    stat = link.stat()  # as scanned: the next index run finds the file unchanged
                    catalog.record_file(str(link), stat.st_size, stat.st_mtime_ns, "image", content)
    with Library.open(directory) as library:  # the first run's one-off work (dates, labels, calibration) done
        library.index()


def search_ms(library: Library, rounds: int = 1) -> list[float]:
    out = []
    for _ in range(rounds):
        for text in TEXTS:
            start = time.perf_counter()
            library.search(text, k=10, cutoff=False)
            out.append(1000 * (time.perf_counter() - start))
    return out


def background(directory: Path) -> dict:
    with Library.open(directory, index_type="auto") as library:
        search_ms(library)  # warm: the flat files are loaded
        start = time.perf_counter()
        report = library.index()
        returned = time.perf_counter() - start
        during = []
        while running(directory) is not None:
            during += search_ms(library)
        built = time.perf_counter() - start
        after = search_ms(library, rounds=4)
        kinds = library.info()["index_files"]
    log = (directory / LOG_NAME).read_text().strip().splitlines()
    return {"index_returned_s": round(returned, 2), "build_finished_s": round(built, 1), "pid": report.rebuild_pid,
            "searches_during_build": len(during), "search_p50_ms_during": round(statistics.median(during), 1)
            if during else None, "search_p50_ms_after": round(statistics.median(after), 1), "kinds": kinds,
            "log": log[-3:]}


def foreground(directory: Path, n: int) -> dict:
    os.environ[indexfiles.BACKGROUND_ENV] = str(10 * n)  # never deferred: the rebuild runs inside index()
    with Library.open(directory, index_type="flat") as library:
        library.index()
    with Library.open(directory, index_type="auto") as library:
        start = time.perf_counter()
        report = library.index()
        seconds = time.perf_counter() - start
        kinds = library.info()["index_files"]
    del os.environ[indexfiles.BACKGROUND_ENV]
    return {"index_returned_s": round(seconds, 1), "pid": report.rebuild_pid, "kinds": kinds,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--foreground", type=Path, help=argparse.SUPPRESS)  # the child process of a run
    args = parser.parse_args()
    if args.foreground:
        print(json.dumps(foreground(args.foreground, args.n)))
        return
    results: dict = {"date": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime()), "machine": machine(),
                     "n": args.n, "load_at_start": load()}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "lib"
        start = time.perf_counter()
        make_library(directory, args.n)
        results["made_library_s"] = round(time.perf_counter() - start, 1)
        results["background"] = background(directory)
        results["load_mid"] = load()
        child = subprocess.run([sys.executable, __file__, "--foreground", str(directory), "--n", str(args.n)],
                               capture_output=True, text=True, check=True)
        results["foreground"] = json.loads(child.stdout.strip().splitlines()[-1])
    emit(results, args.json)


if __name__ == "__main__":
    main()
