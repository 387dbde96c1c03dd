"""Indexing throughput of this tree against release 0.1.0, side by side in one run, on the same files.

The storage change (schema v2, model ids, a thumbnail per image, per-thread connections, index files
per model) must not slow indexing. Both releases index the same corpus of baseline JPEGs (real
wallpapers, 2-5 MP) into fresh libraries, alternating old/new ``--rounds`` times on a shared machine;
the ratio of medians is the figure. The old release runs from ``git archive`` of its commit, in a
child process whose ``framefind`` is that copy (checked), with its own model cache.

Usage: python benchmarks/bench_storage.py [--copies 10] [--rounds 3] [--json out.json]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_index import baseline_jpegs, machine, make_corpus  # noqa: E402

OLD_RELEASE = "a718a63"  # 0.1.0
# argv: corpus, library, package source. The first index call embeds everything and is timed; the
# second must be a no-op (the library is complete). The model cache is warm: no conversion is timed.
CHILD = """
import json, sys, time
from pathlib import Path
import framefind
from framefind import Library
assert Path(framefind.__file__).resolve().is_relative_to(Path(sys.argv[3]).resolve()), framefind.__file__
with Library.open(sys.argv[2]) as lib:
    start = time.perf_counter()
    report = lib.index([sys.argv[1]])
    seconds = time.perf_counter() - start
    assert lib.index([sys.argv[1]]).embedded == 0
print(json.dumps({"seconds": seconds, "embedded": report.embedded}))
"""


def extract(commit: str, target: Path) -> Path:
    """The release's ``framefind`` package, as it was committed."""
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit, "framefind"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        sys.exit(f"git archive {commit} failed (the benchmark needs the repository's history)")
    return target


def index_once(corpus: Path, library: Path, src: Path, cache: Path) -> float:
    """Images per second of one ``Library.index`` run of ``src``'s framefind on a fresh library."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FRAMEFIND_"))}
    env.update(PYTHONPATH=str(src), PYTHONSAFEPATH="1", FRAMEFIND_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-P", "-c", CHILD, str(corpus), str(library), str(src)], env=env,
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["embedded"] / result["seconds"]


def warm_cache(src: Path, cache: Path, sample: Path, library: Path) -> None:
    """Convert the models once per release (into its own cache), outside the timed runs."""
    index_once(sample, library, src, cache)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = baseline_jpegs(tmp / "sources")
        corpus = tmp / "corpus"
        files = make_corpus(corpus, sources, args.copies)
        sample = tmp / "sample"
        make_corpus(sample, sources[:2], 1)
        releases = {"0.1.0": extract(OLD_RELEASE, tmp / "old"), "this tree": ROOT}
        for name, src in releases.items():
            warm_cache(src, tmp / f"cache-{name}", sample, tmp / f"warm-{name}")
        rates: dict[str, list[float]] = {name: [] for name in releases}
        for round_ in range(args.rounds):
            for name, src in releases.items():
                rates[name].append(index_once(corpus, tmp / f"lib-{name}-{round_}", src, tmp / f"cache-{name}"))
                print(f"round {round_ + 1}: {name}: {rates[name][-1]:.1f} img/s", file=sys.stderr)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        results = {
            "date": time.strftime("%Y-%m-%d"), "machine": machine(), "images": len(files),
            "runs_img_per_s": {name: [round(v, 1) for v in values] for name, values in rates.items()},
            "median_img_per_s": {name: round(v, 1) for name, v in medians.items()},
            "new_over_old": round(medians["this tree"] / medians["0.1.0"], 3),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
