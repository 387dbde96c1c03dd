"""Retrieval-quality evaluation: tasks (queries + gallery + what is relevant) run under configurations.

A *task* is a set of query vectors, a gallery of vectors and, per query, the gallery rows that count
as relevant. Tasks come from a labelled dataset (leave-one-out: every item queries all the others;
or an explicit query set) or from golden text queries (see evaldata.py).

A *configuration* is model x metric (cosine / l2) x dimensions (full, or reduced by PCA or a random
Gaussian projection) x vector index (the library's own types: ``store.vectors.factory.INDEX_TYPES``).
Each one gets its own index over the gallery, built by the store's factory exactly as a library builds
it (one implementation: what eval measures is what searches run), and every query is searched one at
a time (single FAISS thread) to time it.

Deterministic: PCA is an SVD of the gallery, the random projection and FAISS's k-means / HNSW use
fixed seeds, and indexes are built single-threaded. Latency is the only figure that varies run to run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np

from framefind.errors import FrameFindError
from framefind.eval.metrics import mean_metrics, precision_recall_curve, query_metrics
from framefind.linalg import l2_normalize
from framefind.store.vectors import factory
from framefind.store.vectors.faiss import FaissIndex

METRICS = ("cosine", "l2")
INDEXES = tuple(kind for kind in factory.INDEX_TYPES if kind != "auto")  # the types a library can pin
REDUCTIONS = ("pca", "random")
CURVE_DEPTH = 100  # ranks searched for the precision-recall curve (metrics use the first k)


@dataclass
class Task:
    """Queries against a gallery; ``relevant[q]``: gallery rows relevant to query q."""

    gallery: np.ndarray  # (N, D) float32
    queries: np.ndarray  # (Q, D) float32
    relevant: list[np.ndarray]  # sorted gallery rows (may include the query's own row, see exclude)
    exclude: np.ndarray  # per query: its own gallery row (leave-one-out), or -1
    groups: list[str]  # per query: its class, or its text: the per-class / per-query breakdown
    names: list[str]  # per query: what it is (path or text)
    notes: list[str] = field(default_factory=list)

    @property
    def n_relevant(self) -> np.ndarray:
        return np.array([len(r) - int(e >= 0 and np.isin(e, r)) for r, e in zip(self.relevant, self.exclude,
                                                                               strict=True)])

    @property
    def candidates(self) -> int:
        """Results a query can get at most (the gallery without the query itself)."""
        return len(self.gallery) - int((self.exclude >= 0).any())


def _by_label(labels: list[str | None]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        if label is not None:
            rows.setdefault(label, []).append(row)
    return {label: np.array(r, dtype=np.int64) for label, r in rows.items()}


def leave_one_out(vectors: np.ndarray, labels: list[str], names: list[str]) -> Task:
    """Each item queries all the others; items of its class are relevant. Singleton classes are left out."""
    by_label = _by_label(labels)
    keep = [row for row, label in enumerate(labels) if len(by_label[label]) > 1]
    notes = [f"class {label!r} has only one item: it has nothing to find, so it is not used as a query"
             for label, rows in sorted(by_label.items()) if len(rows) == 1]
    return Task(vectors, vectors[keep], [by_label[labels[r]] for r in keep], np.array(keep, dtype=np.int64),
                [labels[r] for r in keep], [names[r] for r in keep], notes)


def query_set(gallery: np.ndarray, gallery_labels: list[str], gallery_names: list[str], queries: np.ndarray,
              query_labels: list[str], query_names: list[str]) -> Task:
    """Explicit queries against a labelled gallery; a query that is also in the gallery does not find itself."""
    by_label = _by_label(gallery_labels)
    row_of = {name: row for row, name in enumerate(gallery_names)}
    keep, notes = [], []
    for q, label in enumerate(query_labels):
        own = row_of.get(query_names[q], -1)
        if len(by_label.get(label, [])) - int(own >= 0) < 1:
            notes.append(f"query {query_names[q]}: no other item of class {label!r} in the gallery; left out")
        else:
            keep.append(q)
    return Task(gallery, queries[keep], [by_label[query_labels[q]] for q in keep],
                np.array([row_of.get(query_names[q], -1) for q in keep], dtype=np.int64),
                [query_labels[q] for q in keep], [query_names[q] for q in keep], notes)


def text_queries(gallery: np.ndarray, relevant: list[np.ndarray], queries: np.ndarray, texts: list[str]) -> Task:
    """Golden text queries; a query none of whose relevant items is in the gallery is left out."""
    keep = [q for q, rows in enumerate(relevant) if len(rows)]
    notes = [f"query {texts[q]!r}: none of its relevant files is in the gallery; left out"
             for q, rows in enumerate(relevant) if not len(rows)]
    return Task(gallery, queries[keep], [relevant[q] for q in keep], np.full(len(keep), -1, np.int64),
                [texts[q] for q in keep], [texts[q] for q in keep], notes)


# -- configurations ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    model: str
    metric: str = "cosine"
    dims: int | None = None  # None: the model's full dimension
    reduction: str = "none"  # none, pca or random
    index: str = "flat"

    @property
    def label(self) -> str:
        dims = "full" if self.dims is None else f"{self.dims} {self.reduction}"
        return f"{self.model} {self.metric} {dims} {self.index}"


def parse_list(value: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise FrameFindError(f"--{what}: give at least one value")
    for item in items:
        if allowed is not None and item not in allowed:
            raise FrameFindError(f"--{what}: unknown value {item!r} (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(items))


def parse_dims(value: str | None) -> list[int | None]:
    """``1280,256,128`` or ``full,64`` -> [None, 256, 128]-style list (None: no reduction)."""
    if not value:
        return [None]
    out: list[int | None] = []
    for item in parse_list(value, None, "dims"):
        if item == "full":
            out.append(None)
        elif item.isdigit() and int(item) > 0:
            out.append(int(item))
        else:
            raise FrameFindError(f"--dims: {item!r} is not a positive whole number (or 'full')")
    return list(dict.fromkeys(out))


def expand(models: list[str], metrics: list[str], dims: list[int | None], reductions: list[str],
           indexes: list[str], full_dim: dict[str, int], n_gallery: int) -> list[Config]:
    """Every combination; a dimension equal to the model's full one means no reduction."""
    configs = []
    for model in models:
        for d in dims:
            if d is not None and d > full_dim[model]:
                raise FrameFindError(f"--dims {d}: larger than the {full_dim[model]} dimensions of {model}")
            if d is not None and d < full_dim[model] and "pca" in reductions and d > n_gallery:
                raise FrameFindError(f"--dims {d}: PCA to {d} dimensions needs at least {d} gallery items "
                                     f"(have {n_gallery}); use fewer dimensions or --reduce random")
            for reduction in (["none"] if d is None or d == full_dim[model] else reductions):
                for metric in metrics:
                    for index in indexes:
                        configs.append(Config(model, metric, None if reduction == "none" else d, reduction, index))
    return configs


def check_k(k: int, candidates: int) -> None:
    if k < 1:
        raise FrameFindError(f"-k must be at least 1 (got {k})")
    if k > candidates:
        raise FrameFindError(f"-k {k} is larger than the gallery: a query can get at most {candidates} results")


def reduce(gallery: np.ndarray, queries: np.ndarray, config: Config, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Project both to ``config.dims`` (PCA fitted on the gallery, or a seeded Gaussian projection)."""
    if config.reduction == "none":
        return gallery, queries
    if config.reduction == "pca":
        mean = gallery.mean(axis=0)
        _, _, vt = np.linalg.svd(gallery - mean, full_matrices=False)
        basis = vt[: config.dims].T
        signs = np.sign(basis[np.abs(basis).argmax(axis=0), range(basis.shape[1])])  # fix SVD's sign freedom
        basis = basis * np.where(signs == 0, 1, signs)
        return ((gallery - mean) @ basis).astype(np.float32), ((queries - mean) @ basis).astype(np.float32)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((gallery.shape[1], config.dims)).astype(np.float32) / math.sqrt(config.dims)
    return gallery @ matrix, queries @ matrix


def eval_index(vectors: np.ndarray, config: Config) -> FaissIndex:
    """A filled index of ``config.index`` over the gallery (row numbers are the ids), as a library builds it.

    The library's indexes rank by inner product. For ``l2`` each vector gets one more coordinate so that
    the inner product ranks by Euclidean distance: with x' = [x, -|x|^2/2] and q' = [q, 1],
    q'.x' = q.x - |x|^2/2 = (|q|^2 - |q - x|^2) / 2, largest for the nearest x (``l2_augment``).
    """
    ids = np.arange(len(vectors), dtype=np.int64)
    return cast(FaissIndex, factory.build_index(ids, vectors, kind=config.index, backend="faiss"))


def l2_augment(gallery: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gallery, queries) with the coordinate that makes inner product rank by L2 distance (see ``eval_index``)."""
    norms = np.einsum("ij,ij->i", gallery, gallery)[:, None] / -2
    return np.hstack([gallery, norms]), np.hstack([queries, np.ones((len(queries), 1), queries.dtype)])


def run_config(task: Task, config: Config, k: int, seed: int = 0) -> dict:
    """Quality, per-group breakdown, PR curve, index size and median query latency of one configuration."""
    import faiss

    gallery, queries = reduce(task.gallery, task.queries, config, seed)
    dim = gallery.shape[1]
    if config.metric == "cosine":
        gallery, queries = l2_normalize(gallery), l2_normalize(queries)
    else:
        gallery, queries = l2_augment(gallery, queries)
    gallery = np.ascontiguousarray(gallery, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # deterministic builds (HNSW, k-means) and single-core latency
    try:
        started = time.perf_counter()
        index = eval_index(gallery, config)
        build_s = time.perf_counter() - started
        depth = min(max(k, CURVE_DEPTH), task.candidates)
        rels, latencies = [], []
        for q in range(len(queries)):
            started = time.perf_counter()
            _, ids = index.search(queries[q : q + 1], depth + int(task.exclude[q] >= 0))
            latencies.append(time.perf_counter() - started)
            ids = ids[0][(ids[0] >= 0) & (ids[0] != task.exclude[q])][:depth]
            rels.append(np.isin(ids, task.relevant[q]))
    finally:
        faiss.omp_set_num_threads(threads)
    n_relevant = task.n_relevant
    per_query = [query_metrics(rel, int(n), k) for rel, n in zip(rels, n_relevant, strict=True)]
    groups: dict[str, list[dict]] = {}
    for group, row in zip(task.groups, per_query, strict=True):
        groups.setdefault(group, []).append(row)
    precision, recall = precision_recall_curve(rels, [int(n) for n in n_relevant], depth)
    return {
        **asdict(config), "config": config.label, **mean_metrics(per_query),
        "queries": len(per_query), "gallery": len(gallery), "dim": int(dim),
        "index_bytes": index.nbytes(), "index_params": index.settings(),
        "build_s": round(build_s, 4),
        "latency_ms_p50": round(float(np.median(latencies)) * 1000, 4) if latencies else None,
        "per_group": {g: {"queries": len(rows), **mean_metrics(rows)} for g, rows in sorted(groups.items())},
        "pr_curve": {"precision": [round(p, 5) for p in precision], "recall": [round(r, 5) for r in recall]},
    }


def run_all(tasks: dict[str, Task], configs: list[Config], k: int, seed: int, rows: list[dict],
            on_row: Callable[[dict], None] = lambda row: None) -> list[dict]:
    """Every configuration in turn; each finished row is appended to ``rows`` at once (kept on errors)."""
    for task in tasks.values():
        if not len(task.queries):
            raise FrameFindError("no usable queries: every query was left out (see the notes above)")
        check_k(k, task.candidates)
    for config in configs:
        rows.append(run_config(tasks[config.model], config, k, seed))
        on_row(rows[-1])
    return rows
