"""Retrieval quality with ``framefind eval`` on public data, beside a raw-pixel baseline.

1. Fashion-MNIST (Debian dataset-fashion-mnist), the first N test images in 10 class folders:
   image -> image by leave-one-out, the model against raw 784-d pixels (L2-normalised, same metrics);
   then dimensions (PCA / random projection, cosine / l2) and FAISS index types.
2. Fashion-MNIST text -> image: one query per class ("a sneaker" -> every sneaker).
3. benchmarks/data/captions.json: hand-written captions -> scikit-image photos and Debian wallpapers.

Usage: python benchmarks/bench_eval.py [--n 2000] [--out DIR] [--append-docs docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_index import machine  # noqa: E402
from conftest import FASHION_CLASSES, WALLPAPER_DIRS, fashion_mnist, skimage_data, wallpaper_files  # noqa: E402

from framefind.eval.runner import Config, leave_one_out, run_config  # noqa: E402

K = 10
KEYS = [f"{m}@{K}" for m in ("map", "map_towhee", "mhr", "recall", "precision", "ndcg", "mrr")]
TEXT_QUERIES = {"a t-shirt": "t-shirt", "trousers": "trouser", "a pullover": "pullover", "a dress": "dress",
                "a coat": "coat", "a sandal": "sandal", "a shirt": "shirt", "a sneaker": "sneaker",
                "a handbag": "bag", "an ankle boot": "boot"}


def framefind_eval(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "framefind", "eval", *args, "--json"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"framefind eval {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def write_classes(target: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images, labels = fashion_mnist(n)
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        folder = target / FASHION_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")
    return images, labels


def raw_pixel_rows(images: np.ndarray, labels: np.ndarray) -> list[dict]:
    """The baseline: leave-one-out over raw pixels, in the folder order framefind eval uses (class, file)."""
    order = sorted(range(len(labels)), key=lambda i: (FASHION_CLASSES[labels[i]], i))
    vectors = images[order].reshape(len(order), -1).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    names = [FASHION_CLASSES[labels[i]] for i in order]
    task = leave_one_out(vectors, names, [str(i) for i in order])
    return [run_config(task, Config("raw-pixels", dims=dims, reduction=reduction), K)
            for dims, reduction in ((None, "none"), (64, "pca"))]


def assemble_photos(root: Path) -> None:
    """skimage/NAME and wallpapers/PICTURE.ext, the names captions.json refers to."""
    (root / "skimage").mkdir(parents=True)
    (root / "wallpapers").mkdir()
    for name in ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
                 "gravel.png", "horse.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png", "page.png",
                 "rocket.jpg", "retina.jpg", "color.png"):
        shutil.copy(skimage_data() / name, root / "skimage" / name)
    for path in wallpaper_files():
        picture = path.parts[4] if str(path).startswith(WALLPAPER_DIRS[0]) else path.stem
        shutil.copy(path, root / "wallpapers" / f"{picture}{path.suffix.lower()}")


def table(rows: list[dict], label) -> str:
    head = ["configuration", *KEYS, "index KB", "ms/query"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join([label(row), *(f"{row[k]:.3f}" for k in KEYS),
                                        f"{row['index_bytes'] / 1024:,.0f}", f"{row['latency_ms_p50']:.3f}"]) + " |")
    return "\n".join(lines)


def config_label(row: dict) -> str:
    dims = f"{row['dim']}-d" + ("" if row["reduction"] == "none" else f" {row['reduction'].upper()}")
    return f"{row['model']}, {row['metric']}, {dims}, {row['index']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="Fashion-MNIST test images")
    parser.add_argument("--out", type=Path, help="keep reports and the libraries here")
    parser.add_argument("--append-docs", type=Path, help="append the markdown section to this file")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="bench-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    fashion = work / "fashion"
    shutil.rmtree(fashion, ignore_errors=True)
    images, labels = write_classes(fashion, args.n)
    lib = ["--library", str(work / "fashion-library")]
    dims = framefind_eval(str(fashion), *lib, "--dims", "full,256,128,64", "--metric", "cosine,l2",
                          "--report", str(work / "fashion-dims.html"))
    indexes = framefind_eval(str(fashion), *lib, "--index", "flat,sq8,hnsw,ivf-sq8,ivf-pq",
                             "--report", str(work / "fashion-index.html"))
    baseline = raw_pixel_rows(images, labels)
    golden = work / "fashion-text.json"
    golden.write_text(json.dumps({text: [f"class:{label}"] for text, label in TEXT_QUERIES.items()}))
    text = framefind_eval(str(fashion), *lib, "--queries", str(golden), "--report", str(work / "fashion-text.html"))

    photos = work / "captions"
    shutil.rmtree(photos, ignore_errors=True)
    assemble_photos(photos / "photos")
    shutil.copy(HERE / "data" / "captions.json", photos / "captions.json")
    captions = framefind_eval(str(photos / "captions.json"), "--report", str(work / "captions.html"))
    cap = captions["rows"][0]
    misses = [f"{q!r} ({v[f'mrr@{K}']:.2f})" for q, v in cap["per_group"].items() if v[f"mrr@{K}"] < 1]

    n = dims["gallery"]
    md = f"""
## Retrieval quality (`framefind eval`)

Measured {time.strftime('%Y-%m-%d')} on {machine()} with `python benchmarks/bench_eval.py` ({time.perf_counter()
 - started:.0f} s in all); k = {K}. Metric definitions: `framefind/metrics.py`. `map@{K}` is standard AP@k
(precision at each hit rank / min(k, relevant)); `map_towhee@{K}` is the Towhee reverse-video-search notebook's
mAP (mean of precision@i over every rank 1..k); `mhr@{K}` = hits / min(k, relevant) (the issue's mHR);
`recall@{K}` = hits / relevant (the notebook's "mHR"). Latency: median time of one FAISS search (one thread,
the query vector given; the model's embedding time is not included). Run to run, every figure but latency is
identical (fixed seeds, single-threaded index builds).

### Fashion-MNIST image -> image ({n} test images, 10 classes, leave-one-out)

Each image queries the other {n - 1}; the ~{n // 10 - 1} of its class are relevant. The baseline ranks by raw
pixels (784-d, L2-normalised) through the same code.

{table([dims['rows'][0], *baseline], config_label)}

Dimensions (flat index; PCA fitted on the gallery, random = seeded Gaussian projection):

{table(dims['rows'], config_label)}

Index types (full {dims['rows'][0]['dim']}-d vectors, cosine; the library's own sizing: IVF nlist = 4 sqrt(N)
capped at N/39, nprobe = nlist/16 (at least 16, at most nlist); HNSW M = 32, efSearch = 128):

{table(indexes['rows'], config_label)}

### Fashion-MNIST text -> image (10 queries such as "a sneaker"; every image of the class is relevant)

{table(text['rows'], config_label)}

### Captioned photos text -> image ({captions['queries']} hand-written captions, {captions['gallery']} photos)

`benchmarks/data/captions.json`: captions of scikit-image photos and Debian wallpapers, 1-2 relevant
photos each; every other photo is a distractor.

{table(captions['rows'], config_label)}

Queries whose relevant photo was not ranked first (reciprocal rank): {', '.join(misses) or 'none'}.
"""
    print(md)
    if args.append_docs:
        with open(args.append_docs, "a", encoding="utf-8") as fh:
            fh.write(md)
    print(f"reports in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
