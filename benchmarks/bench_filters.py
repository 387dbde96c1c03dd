"""What "search that learns" costs at scale: filling capture dates and labels, calibrating the cutoff,
and search latency with the cutoff, date, month, label and folder filters, on a large library.

Run on the 100k-item library that ``bench_search.py --keep DIR`` leaves (``--library DIR/library``).
The annotation pass is re-run from scratch each time (dates and labels are cleared first), as the
first ``framefind index`` after an upgrade from 0.2.0 would do it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from framefind import Library, Query
from framefind.search.cutoff import store_calibrations
from framefind.store.annotate import annotate

ROUNDS = 15


def timed(run) -> float:
    """Median milliseconds of ``ROUNDS`` calls (after one warm-up call)."""
    run()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def annotation(lib: Library) -> tuple[float, float]:
    """Seconds to fill every capture date and label from scratch, then to calibrate the cutoff."""
    with lib.catalog.transaction() as db:
        db.execute("UPDATE contents SET dated = 0, taken = NULL")
        db.execute("DELETE FROM labels")
    started = time.perf_counter()
    annotate(lib.catalog, lib.model)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    store_calibrations(lib.catalog, lib.store, lib.model)
    return filled, time.perf_counter() - started


def latencies(lib: Library) -> list[tuple[str, float, int]]:
    """(what, median ms, results) for one query under each filter."""
    roots = [Path(root) for root in lib.catalog.roots()]
    folder = next((p for root in roots for p in sorted(root.iterdir()) if p.is_dir()), roots[0])
    dogs = len(lib.model.label_names("dog"))
    cases = [
        ("words, cutoff off", Query.of("an animal", cutoff=False)),
        ("words, cutoff on", Query.of("an animal")),
        ("words, cutoff on, nothing matches", Query.of("zzqx flurble")),
        ("date range typed ('an animal 2019')", Query.of("an animal 2019")),
        ("date range, everything passes ('an animal this year')", Query.of("an animal this year")),
        ("month of any year ('an animal in March')", Query.of("an animal in March")),
        (f"label filter (dog: {dogs} classes)", Query.of("an animal", labels=("dog",))),
        ("label boost (dog)", Query.of("an animal", boost_labels=("dog",))),
        (f"folder filter ({folder.name}/)", Query.of("an animal", under=(folder,))),
    ]
    return [(name, timed(lambda q=query: lib.search_page(q)), len(lib.search_page(query).results))
            for name, query in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True, help="a large library (bench_search.py --keep)")
    args = parser.parse_args()
    cpu = subprocess.run("lscpu | grep 'Model name' | cut -d: -f2", shell=True, capture_output=True, text=True)
    with Library.open(args.library, create=False) as lib:
        items = lib.info()["items"]
        filled, calibrated = annotation(lib)
        rows = latencies(lib)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu.stdout.strip()}, {items} items")
    print(f"capture dates + labels from scratch: {filled:.1f} s; cutoff calibration (both spaces): {calibrated:.2f} s")
    print("| query | median ms | results |\n|---|---|---|")
    for name, ms, n in rows:
        print(f"| {name} | {ms:.1f} | {n} |")


if __name__ == "__main__":
    main()
