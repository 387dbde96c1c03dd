"""Indexing on a Ray cluster (``framefind index --ray ADDRESS``, issue #21) against a plain index and against
``--workers 2`` (the other way to ingest in parallel), on this machine.

Clusters (tests/ray_cluster.py): ``ray``, a head and a second node on 127.0.0.1 with one CPU each, as the tests
run it; ``ray-local``, one node of two CPUs: what ``--workers 2`` would be as Ray's local mode (issue #21 part 3).
Corpus: bench_index.py's baseline JPEGs (Debian wallpapers re-encoded as a camera would, 2-5 MP), each in
``--copies`` byte-distinct copies. Each round indexes the corpus into a fresh library with a plain index,
``--workers 2`` and both clusters (order rotated round by round, since the machine is shared), whole
``Library.index`` calls: the Ray run joins the cluster and its workers load the model, as a CLI run would.
Reported: medians of seconds and images/s, the overheads against the plain index, the time to the first
committed file (Ray's fixed cost: worker processes, imports, the model), and the coordinator's commit rate: items
committed per second of the coordinator's time in ``_BatchWriter.flush`` (all it does with a result: one
transaction per batch), which bounds how many images/s any cluster can index into one catalog; measured during the
runs (sharing the cores with the workers) and alone (the results gathered first, then committed with nothing else
running, in transactions of 32 and of 256 items). The libraries of a round must agree.

Usage: python benchmarks/bench_ray.py [--copies 6] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_index import emit, load, machine, make_corpus, reencoded  # noqa: E402
from ray_cluster import Cluster  # noqa: E402

from framefind import IndexEvents, Library  # noqa: E402
from framefind.store import indexer  # noqa: E402


class CommitClock:
    """Time the coordinator spends committing (``_BatchWriter.flush``) and the items it committed."""

    def __init__(self) -> None:
        self.seconds, self.items = 0.0, 0
        self.original = indexer._BatchWriter.flush
        clock = self

        def timed(writer: indexer._BatchWriter) -> None:
            clock.items += sum(len(p.items) for p in writer.batch if p.is_new)
            started = time.perf_counter()
            clock.original(writer)
            clock.seconds += time.perf_counter() - started

        indexer._BatchWriter.flush = timed

    def reset(self) -> None:
        self.seconds, self.items = 0.0, 0


def state(library: Library) -> dict:
    """Content hash -> its vectors, for checking that both runs made one library."""
    rows = library.catalog.db.execute("SELECT i.hash, v.space, v.vec FROM items i JOIN vectors v ON v.item_id = i.id "
                                      "ORDER BY i.hash, v.space")
    out: dict = {}
    for content, _space, vec in rows:
        out.setdefault(content, []).append(np.frombuffer(vec, np.float32))
    return out


def run(kind: str, corpus: Path, target: Path, clusters: dict[str, Cluster],
        clock: CommitClock) -> tuple[float, float, dict, int]:
    """(seconds of the whole index call, seconds to its first committed file, the library's vectors, embedded)."""
    clock.reset()
    first: list[float] = []
    events = IndexEvents(progress=lambda done, total: first or first.append(time.perf_counter()))
    started = time.perf_counter()
    with Library.open(target) as library:
        address = clusters[kind].address if kind in clusters else None
        report = library.index([corpus], ray=address, workers=2 if kind == "workers" else 1, events=events)
        seconds = time.perf_counter() - started
        assert report.failed == 0 and not report.interrupted
        return seconds, first[0] - started, state(library), report.embedded


def commit_rates(corpus: Path, work: Path, cluster: Cluster, sizes: tuple[int, ...] = (32, 256)) -> dict[int, float]:
    """The coordinator's commit capacity alone: the cluster's results for the corpus gathered first, then committed
    into a fresh catalog with nothing else running, once per transaction size; items per second of committing."""
    import ray

    from framefind.media.files import scan
    from framefind.store import ray_index

    todo = list(scan([str(corpus)]))
    rates = {}
    with ray_index.joined(cluster.address):
        task = ray.remote(num_cpus=1)(ray_index.embed_files)
        with Library.open(work / "warm") as library:
            model = library.target_model
        spec = (model.name, model.options(), model.id)
        sets = [ray.put(frozenset()), ray.put(frozenset())]
        refs = [task.remote(spec, chunk, sets) for chunk in ray_index.split_tasks(todo)]
        ray.wait(refs, num_returns=len(refs))
        for size in sizes:
            results = [item for ref in refs for item in ray.get(ref)]
            with Library.open(work / f"commit-{size}") as library:
                catalog = library.catalog
                catalog.register_model(model.id, model.name, model.options(), model.spec())
                writer = indexer._BatchWriter(catalog, model, indexer.IndexReport(), set(), lambda *a: None,
                                              lambda *a: None)
                usual, indexer.BATCH_SIZE = indexer.BATCH_SIZE, size  # items per transaction
                started = time.perf_counter()
                try:
                    for item in results:
                        writer.add(item)
                    writer.flush()
                finally:
                    indexer.BATCH_SIZE = usual
                rates[size] = round(len(results) / (time.perf_counter() - started))
                assert writer.report.embedded == len(results)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    clusters: dict[str, Cluster] = {}
    try:
        clusters["ray"] = Cluster()  # the tests' cluster: two nodes of one CPU
        clusters["ray-local"] = Cluster(nodes=1, cpus=2)  # what --workers 2 would become as Ray's local mode
        corpus = work / "corpus"
        make_corpus(corpus, reencoded(work / "sources", progressive=False), args.copies)
        n = len(list(corpus.iterdir()))
        Library.open(work / "warm").index([next(corpus.iterdir())])  # the model's graphs, built once
        clock = CommitClock()
        kinds = ["plain", "workers", "ray", "ray-local"]
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        firsts: dict[str, list[float]] = {kind: [] for kind in kinds}
        commits: list[float] = []
        for r in range(args.rounds):
            made = {}
            for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                took, first, made[kind], embedded = run(kind, corpus, work / f"{kind}-{r}", clusters, clock)
                assert embedded == n
                seconds[kind].append(took)
                firsts[kind].append(first)
                if kind in clusters:
                    commits.append(clock.items / clock.seconds)
                print(f"round {r} {kind}: {took:.2f} s ({n / took:.1f} images/s), load {load()}", file=sys.stderr)
            for other in kinds[1:]:
                assert made["plain"].keys() == made[other].keys()
                for content, vectors in made["plain"].items():
                    for a, b in zip(vectors, made[other][content], strict=True):
                        np.testing.assert_allclose(a, b, atol=1e-5)
        alone = commit_rates(corpus, work, clusters["ray"])
        median = {kind: statistics.median(v) for kind, v in seconds.items()}
        emit({"machine": machine(), "images": n, "rounds": args.rounds,
              "clusters": {"ray": "2 nodes x 1 CPU on 127.0.0.1", "ray-local": "1 node x 2 CPUs"},
              "seconds": {kind: round(v, 2) for kind, v in median.items()},
              "images_per_s": {kind: round(n / v, 1) for kind, v in median.items()},
              "overhead_pct_vs_plain": {kind: round(100 * (v / median["plain"] - 1), 1) for kind, v in median.items()},
              "first_file_s": {kind: round(statistics.median(v), 2) for kind, v in firsts.items()},
              "coordinator_commits_items_per_s": round(statistics.median(commits)),
              "commit_alone_items_per_s_by_transaction_size": alone,
              "all_seconds": seconds}, args.json)
    finally:
        for cluster in clusters.values():
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
