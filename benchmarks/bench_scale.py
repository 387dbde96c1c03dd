"""Vector indexes at scale (10k to 1M): build time, memory per vector, warm single-query latency, recall@10.

What ``auto`` in framefind/store/vectors/factory.py picks beyond ~100k items comes from this; the
smaller sizes and the search-time settings come from benchmarks/bench_vectors.py.

Data, per space of the default model (effnet-conse: ``semantic`` 384-d, ``visual`` 1280-d):
- real: the model's own vectors for every real image to hand offline: the 70k Fashion-MNIST images
  (Debian dataset-fashion-mnist) and random crops of the photos in /usr/share/{wallpapers,backgrounds}
  (embedded once, cached in --cache, float16-rounded as the catalog stores them). 200 of them are held
  out as the image -> image queries of the visual space.
- grown (the main series): the real vectors first, then, up to 1M, new vectors made from random real
  ones by adding Gaussian noise shaped like the real data (covariance of the real vectors, scaled so a
  grown vector is as close to its source as a real vector is to its nearest real neighbour, median),
  renormalised. They keep the real spectrum (how variance spreads over directions, which is what
  quantisers and IVF feel) and the real nearest-neighbour gap (which is what recall@10 feels).
- clustered (purely synthetic): 1000 centres in a random basis with a power-law spectrum, points
  around them with the same spectrum; no real input at all.
Queries: semantic space = 200 real text queries ("a photo of a <ImageNet class>" and a few everyday
phrases) embedded by the model (text -> image, where quantisation hurt clip-retrieval, #76); visual
space = the 200 held-out real images (image -> image); clustered = 200 unseen points.

Per (set, space, kind, n): the index is built in this process (build time: train + add, in batches of
100k as the writer adds), saved, then a fresh child process loads the file (timed, from the page cache
where the writer leaves it), drops the file from the page cache and times 20 queries ("cold": the first
queries after a reboot or after memory pressure evicted the file), reads the file back into the page
cache, runs 20 warm-up queries and times the 200 queries one at a time through ``VectorIndex.search``
(1 FAISS thread, as search runs one query): p50/p95. Memory is the child's growth from loading and
searching (the index plus whatever search keeps per item) per vector: "RAM" its private (anonymous)
memory, "mapped" the pages of the index file it maps (page cache: shared, and the kernel can drop them).
Recall@10 is against exact top-10 (FAISS flat, float32); "ties" also counts a result that scores as
high as the exact 10th (real data has exact duplicates: flat itself scores 0.994-0.997 without it).

Usage: python benchmarks/bench_scale.py [--quick] [--sizes 10000,100000] [--json out.json]
       python benchmarks/bench_scale.py --child INDEX QUERIES OUT   (internal: the search process)
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vectors import emit_report, machine  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
PHOTO_DIRS = (Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds"))
CROPS_PER_PHOTO, N_QUERIES, K, WARMUP = 160, 200, 10, 20
BASE_ID = 10**12
EVERYDAY = ["a cup of coffee", "a pair of sneakers", "a leather handbag", "a summer dress", "a wool coat",
            "trousers", "ankle boots", "a t-shirt", "a pullover", "sandals", "a shirt with buttons", "a cat",
            "a dog on the beach", "sunset over the sea", "a mountain lake", "a city street at night",
            "a bowl of fruit", "a red car", "a birthday cake", "a child on a bicycle"]


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_parts() -> np.ndarray:
    """(anonymous, file-backed) resident bytes: private memory vs pages of mapped files (page cache)."""
    found = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("RssAnon:", "RssFile:")):
                found[line.split(":")[0]] = int(line.split()[1]) * 1024
    return np.array([found["RssAnon"], found["RssFile"]])


# -- data ----------------------------------------------------------------------------------------------
def fashion_images() -> np.ndarray:
    parts = []
    for split in ("train", "t10k"):
        with gzip.open(FASHION / f"{split}-images-idx3-ubyte.gz") as fh:
            parts.append(np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28))
    return np.concatenate(parts)


def photo_crops(rng: np.random.Generator, size: int):
    """Random square crops (20-100% of the short side, random flips) of the packaged photos, as batches."""
    from PIL import Image

    paths = sorted(p for d in PHOTO_DIRS if d.is_dir() for p in d.rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stat().st_size > 50_000)
    for path in paths:
        with Image.open(path) as im:
            im.draft("RGB", (1024, 1024))
            im = im.convert("RGB")
            short = min(im.size)
            batch = []
            for _ in range(CROPS_PER_PHOTO):
                side = int(short * rng.uniform(0.2, 1.0))
                x, y = rng.integers(0, im.size[0] - side + 1), rng.integers(0, im.size[1] - side + 1)
                crop = im.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BILINEAR)
                if rng.random() < 0.5:
                    crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                batch.append(np.asarray(crop))
            yield np.stack(batch)


def real_features(cache: Path) -> dict[str, np.ndarray]:
    """{"visual", "semantic": float32 (n, dim), "texts": text query vectors, "source": names}; cached."""
    path = cache / "real-effnet-conse.npz"
    if path.exists():
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    from PIL import Image

    from framefind.models.base import load_model
    from framefind.models.conse import imagenet_labels

    model = load_model("effnet-conse")
    size, rng = model.image_size, np.random.default_rng(0)
    out: dict[str, list[np.ndarray]] = {"visual": [], "semantic": []}
    started = time.perf_counter()

    def embed(pixels: np.ndarray) -> None:
        for space, vectors in model.embed_images(pixels).items():
            out[space].append(vectors.astype(np.float16))  # as the catalog stores them

    images = fashion_images()
    for start in range(0, len(images), 64):  # as the pipeline decodes a 28x28 PNG: RGB, bilinear to 224
        embed(np.stack([np.asarray(Image.fromarray(g).convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
                        for g in images[start:start + 64]]))
        if start % 6400 == 0:
            print(f"  fashion {start}/{len(images)} {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    n_fashion = sum(len(v) for v in out["visual"])
    for batch in photo_crops(rng, size):
        for part in range(0, len(batch), 64):
            embed(batch[part:part + 64])
    labels = [label["names"].split(",")[0].strip() for label in imagenet_labels()]
    picked = rng.choice(len(labels), N_QUERIES - len(EVERYDAY), replace=False)
    texts = EVERYDAY + [f"a photo of a {labels[i]}" for i in sorted(picked)]
    result = {space: np.concatenate(parts).astype(np.float32) for space, parts in out.items()}
    result["texts"] = model.embed_texts(texts).astype(np.float32)
    result["text_strings"] = np.array(texts)
    result["n_fashion"] = np.array(n_fashion)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result)
    print(f"  embedded {len(result['visual'])} real images in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return result


def unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def noise_scale(real: np.ndarray, cov_root: np.ndarray, rng: np.random.Generator) -> float:
    """The factor on covariance-shaped noise that puts a grown vector at the real median nearest-neighbour cosine."""
    import faiss

    sample = real[rng.choice(len(real), min(len(real), 2000), replace=False)]
    scores, _ = faiss.knn(sample, real, 2, faiss.METRIC_INNER_PRODUCT)
    target = float(np.median(scores[:, 1]))  # [:, 0] is the vector itself
    noise = rng.standard_normal((len(sample), cov_root.shape[0])).astype(np.float32) @ cov_root
    low, high = 0.0, 10.0
    for _ in range(30):  # cosine to the source falls as the scale grows: bisect
        mid = (low + high) / 2
        cos = float(np.median(np.sum(unit(sample + mid * noise) * sample, axis=1)))
        low, high = (mid, high) if cos > target else (low, mid)
    return (low + high) / 2


def grown(real: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    """The real vectors (shuffled) then, up to n, real vectors plus covariance-shaped noise, renormalised."""
    rng = np.random.default_rng(seed)
    real = real[rng.permutation(len(real))]
    centred = real - real.mean(axis=0)
    cov = centred.T @ centred / len(real)
    values, vecs = np.linalg.eigh(cov.astype(np.float64))
    cov_root = (vecs * np.sqrt(np.maximum(values, 0))).T.astype(np.float32)  # z @ cov_root ~ N(0, cov)
    scale = noise_scale(real, cov_root, rng)
    out = np.empty((n, real.shape[1]), np.float32)
    out[: min(n, len(real))] = real[:n]
    for start in range(len(real), n, 50_000):
        rows = min(n, start + 50_000) - start
        source = real[rng.integers(0, len(real), rows)]
        noise = rng.standard_normal((rows, real.shape[1]), np.float32) @ cov_root
        out[start:start + rows] = unit(source + scale * noise)
    return out, {"noise_scale": round(scale, 4), "real": min(n, len(real))}


def clustered(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """1000 clusters, spectrum ~ 1/i in a random basis, no real input; (n vectors, N_QUERIES unseen ones)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scale = (1 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
    transform = (basis * scale).T.astype(np.float32)
    centres = rng.standard_normal((1000, dim)).astype(np.float32) @ transform
    out = np.empty((n + N_QUERIES, dim), np.float32)
    for start in range(0, n + N_QUERIES, 50_000):
        rows = min(n + N_QUERIES, start + 50_000) - start
        spread = 0.7 * rng.standard_normal((rows, dim)).astype(np.float32) @ transform
        out[start:start + rows] = unit(centres[rng.integers(0, 1000, rows)] + spread)
    return out[:n], out[n:]


# -- one measurement -------------------------------------------------------------------------------------
def child(index_path: Path, queries_path: Path, out_path: Path) -> None:
    """The search process: load the index, warm up, then one query per call on one FAISS thread."""
    import faiss

    from framefind.store.vectors.factory import load_index

    queries = np.load(queries_path)
    before, started = rss_parts(), time.perf_counter()
    index = load_index(index_path)
    load_ms = (time.perf_counter() - started) * 1000  # from the page cache, where the writer left the file
    with open(index_path, "rb") as fh:  # then out of it: the first queries are those after a cold start
        os.fsync(fh.fileno())
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    cold = []
    for q in range(WARMUP):
        started = time.perf_counter()
        index.search(queries[q % len(queries)][None], K)
        cold.append((time.perf_counter() - started) * 1000)
    with open(index_path, "rb") as fh:  # then into the page cache, as a file written or read lately is
        while fh.read(1 << 24):
            pass
    for q in range(WARMUP):
        index.search(queries[q % len(queries)][None], K)
    times, found = [], []
    faiss.omp_set_num_threads(1)  # search pins single queries to one thread anyway (faiss.FEW_QUERIES)
    for q in range(len(queries)):
        started = time.perf_counter()
        _, ids = index.search(queries[q:q + 1], K)
        times.append((time.perf_counter() - started) * 1000)
        found.append(np.pad(ids[0], (0, K - len(ids[0])), constant_values=-1))
    np.savez(out_path, times=np.array(times), found=np.array(found), cold=np.array(cold), rss=rss_parts() - before,
             load_ms=np.array(load_ms))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact top-K ids found (the strict measure: a tie at the K-th score counts against)."""
    return float(np.mean([len(np.intersect1d(f, t)) / K for f, t in zip(found, truth, strict=True)]))


def tie_recall(vectors: np.ndarray, queries: np.ndarray, found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the K found that score at least the exact K-th score (less 1e-6): an exact duplicate of
    the K-th vector (Fashion-MNIST has some, crops of one photo are close) is as right as the K-th."""
    hits = []
    for q, f, t in zip(queries, found, truth, strict=True):
        kth = float(np.min(vectors[t] @ q)) - 1e-6
        f = f[f >= 0]
        hits.append(min(K, int(np.sum(vectors[f] @ q >= kth))) / K)
    return float(np.mean(hits))


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, tmp: Path) -> dict:
    """Build ``kind`` over ``vectors`` here; search it from a fresh process; one table row."""
    from framefind.store.vectors import faiss as vfaiss
    from framefind.store.vectors.factory import create_index

    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64) * 3 + BASE_ID  # sparse large ids, as a library's are
    gc.collect()
    rss0, started = rss_bytes(), time.perf_counter()
    index = create_index(dim, kind, n_hint=n)
    for start in range(0, n, 100_000):  # as the writer adds: trained on the first batch (all, below 100k)
        index.add(ids[start:start + 100_000], vectors[start:start + 100_000])
    row = {"kind": index.kind, "dim": dim, "n": n, "build_s": round(time.perf_counter() - started, 1),
           "build_rss_mb": round((rss_bytes() - rss0) / 2**20)}
    if index.kind in vfaiss.IVF_KINDS:
        row["params"] = {"nlist": index.nlist, "nprobe": vfaiss.nprobe_for(index.nlist)}
        if index.kind == "ivf-pq":
            row["params"].update(pq_bytes=vfaiss.pq_m_for(dim), refine=vfaiss.REFINE_CODES,
                                 candidates=vfaiss.REFINE_FACTOR * K)
    path = tmp / "index.faiss"
    index.save(path)
    del index
    gc.collect()
    row["file_bytes_per_vector"] = round(path.stat().st_size / n, 1)
    np.save(tmp / "queries.npy", queries)
    subprocess.run([sys.executable, __file__, "--child", str(path), str(tmp / "queries.npy"), str(tmp / "out.npz")],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    with np.load(tmp / "out.npz") as out:
        times, found, cold, (anon, mapped) = out["times"], out["found"], out["cold"], out["rss"]
        row["load_ms"] = round(float(out["load_ms"]), 1)
    rows = np.where(found >= 0, (found - BASE_ID) // 3, -1)
    row.update(p50_ms=round(float(np.percentile(times, 50)), 2), p95_ms=round(float(np.percentile(times, 95)), 2),
               cold_p50_ms=round(float(np.percentile(cold, 50)), 2), recall10=round(recall(rows, truth), 4),
               recall10_ties=round(tie_recall(vectors, queries, rows, truth), 4),
               ram_bytes_per_vector=round(int(anon) / n, 1), mapped_bytes_per_vector=round(int(mapped) / n, 1))
    path.unlink()
    return row


def exact(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    import faiss

    return faiss.knn(queries, vectors, K, faiss.METRIC_INNER_PRODUCT)[1]


# -- the run -----------------------------------------------------------------------------------------------
SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
KINDS = {  # per space: kind -> the largest n it is measured at
    "semantic": {"flat": 300_000, "ivf-sq8": 1_000_000, "ivf-pq": 1_000_000},
    "visual": {"flat": 300_000, "ivf-sq8": 1_000_000, "ivf-pq": 1_000_000},
}
CLUSTERED_SIZES = (100_000, 1_000_000)  # auto's kind only


def series(name: str, space: str, vectors: np.ndarray, queries: np.ndarray, sizes, kinds: dict[str, int] | None,
           tmp: Path, rows: list[dict]) -> None:
    """Rows for each size and kind (``kinds``: kind -> largest n; None: only what auto picks)."""
    from framefind.store.vectors.factory import choose_kind

    for n in sizes:
        auto = choose_kind(n, vectors.shape[1])
        wanted = [kind for kind, most in (kinds or {auto: n}).items() if n <= most]
        if n > len(vectors) or not wanted:
            continue
        truth = exact(vectors[:n], queries)
        for kind in wanted:
            row = {"set": name, "space": space, "auto": kind == auto, **measure(kind, vectors[:n], queries, truth, tmp)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)


COLUMNS = {"set": "set", "space": "space", "dim": "dim", "n": "n", "kind": "kind", "auto": "auto",
           "build s": "build_s", "file B/vector": "file_bytes_per_vector", "RAM B/vector": "ram_bytes_per_vector",
           "mapped B/vector": "mapped_bytes_per_vector", "p50 ms": "p50_ms", "p95 ms": "p95_ms", "load ms": "load_ms",
           "cold p50 ms": "cold_p50_ms", "recall@10": "recall10", "recall@10 ties": "recall10_ties"}


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(key, "")) for key in COLUMNS.values()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated n (default %(default)s)")
    parser.add_argument("--spaces", default="semantic,visual")
    parser.add_argument("--kinds", help="comma-separated kinds for every space (default: per space, see KINDS)")
    parser.add_argument("--no-clustered", action="store_true", help="skip the purely synthetic set")
    parser.add_argument("--quick", action="store_true", help="10k and 30k only (a smoke run)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "framefind-bench-scale",
                        help="where the real features are cached (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = (10_000, 30_000) if args.quick else tuple(int(s) for s in args.sizes.split(","))
    started, rows = time.perf_counter(), []
    real = real_features(args.cache)
    notes = {"real_images": len(real["visual"]), "fashion_mnist": int(real["n_fashion"]),
             "photo_crops": len(real["visual"]) - int(real["n_fashion"])}
    held_out = np.random.default_rng(1).choice(len(real["visual"]), N_QUERIES, replace=False)
    keep = np.setdiff1d(np.arange(len(real["visual"])), held_out)
    queries = {"semantic": unit(real["texts"]), "visual": unit(real["visual"][held_out])}
    with tempfile.TemporaryDirectory() as tmp:
        for space in args.spaces.split(","):
            kinds = {kind: max(sizes) for kind in args.kinds.split(",")} if args.kinds else KINDS[space]
            vectors, info = grown(unit(real[space][keep]), max(sizes))
            notes[f"grown_{space}"] = info
            series("grown", space, vectors, queries[space], sizes, kinds, Path(tmp), rows)
            del vectors
            gc.collect()
            clustered_sizes = [n for n in CLUSTERED_SIZES if n <= max(sizes)]
            if not args.no_clustered and not args.quick and clustered_sizes:
                vectors, cq = clustered(max(clustered_sizes), queries[space].shape[1])
                series("clustered", space, vectors, cq, clustered_sizes, None, Path(tmp), rows)
                del vectors
                gc.collect()
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "data": notes,
              "queries": N_QUERIES, "k": K, "total_s": round(time.perf_counter() - started), "results": rows}
    emit_report(report, markdown(rows), args.json)


if __name__ == "__main__":
    main()
