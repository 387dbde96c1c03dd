"""Indexing throughput and memory on real 2-5 MP JPEGs (Debian plasma/ukui wallpapers).

Measures side by side in one run (the machine is shared and noisy, so ratios matter most):
  decode-only     hash + JPEG decode + resize, in the indexer's thread pool
  model-only      EfficientNet-Lite0 + ConSE on already-decoded 224x224 pixels, batch 32
  end-to-end      Library.index on a fresh library (hash, decode, embed, SQLite, FAISS files)
and peak RSS of a whole ``framefind index`` process at two library sizes (it must not grow with size).

Usage: python benchmarks/bench_index.py [--copies 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from framefind import Library  # noqa: E402
from framefind.media.files import FileStat, scan  # noqa: E402
from framefind.models.base import load_model  # noqa: E402
from framefind.store.indexer import BATCH_SIZE, _prepared  # noqa: E402

WALLPAPERS = [Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds")]


def source_jpegs() -> list[Path]:
    """Distinct 2-5 MP JPEG files (symlinked duplicates removed)."""
    seen, out = set(), []
    for root in WALLPAPERS:
        for path in sorted(root.rglob("*.jp*g")) if root.is_dir() else []:
            real = path.resolve()
            if real in seen:
                continue
            with Image.open(real) as im:
                if 2e6 <= im.size[0] * im.size[1] <= 5.5e6:
                    seen.add(real)
                    out.append(real)
    if not out:
        sys.exit("benchmark needs Debian's plasma-workspace-wallpapers (make system-deps)")
    return out


def baseline_jpegs(target: Path) -> list[Path]:
    """The same pictures re-encoded as baseline JPEG, quality 90: what cameras and phones write.
    (About half the shipped wallpapers are progressive JPEGs, which decode ~4x slower.)"""
    target.mkdir(parents=True)
    out = []
    for i, src in enumerate(source_jpegs()):
        out.append(target / f"{i:03d}.jpg")
        Image.open(src).save(out[-1], "JPEG", quality=90)
    return out


def make_corpus(target: Path, sources: list[Path], copies: int) -> list[Path]:
    """``copies`` byte-distinct copies of each JPEG: bytes after the EOI marker change the content
    hash (so every file is embedded) but not a single decoded pixel."""
    target.mkdir(parents=True)
    files = []
    for i, src in enumerate(sources):
        data = src.read_bytes()
        for c in range(copies):
            path = target / f"{i:03d}-{c}.jpg"
            path.write_bytes(data + f"framefind-bench-{c}".encode())
            files.append(path)
    return files


def decode_only(folder: Path, model) -> float:
    stats: list[FileStat] = list(scan([folder]))
    start = time.perf_counter()
    decoded = sum(1 for p in _prepared(stats, set(), model) if p.pixels is not None)
    return decoded / (time.perf_counter() - start)


def model_only(files: list[Path], model) -> float:
    """Embedding rate on pre-decoded pixels, same batch size as the indexer."""
    from framefind.media.images import load_image

    pixels = np.stack([load_image(p, model.image_size)[0] for p in files[: 4 * BATCH_SIZE]])
    model.embed_images(pixels[:BATCH_SIZE])  # warm-up
    n, start = 0, time.perf_counter()
    while n < len(files):
        for i in range(0, len(pixels), BATCH_SIZE):
            model.embed_images(pixels[i : i + BATCH_SIZE])
            n += len(pixels[i : i + BATCH_SIZE])
    return n / (time.perf_counter() - start)


def end_to_end(folder: Path, library_dir: Path) -> tuple[float, int]:
    with Library.open(library_dir) as library:
        _ = library.model.embed_images(np.zeros((1, 224, 224, 3), np.uint8))  # load sessions first
        start = time.perf_counter()
        report = library.index([folder])
        seconds = time.perf_counter() - start
    assert report.failed == 0
    return report.embedded / seconds, report.embedded


def peak_rss_mb(folder: Path, library_dir: Path) -> float:
    """Peak RSS of a whole ``framefind index`` process, in MB."""
    code = ("import resource, sys; from framefind.interfaces.cli import app; sys.argv=['framefind','index',sys.argv[1],"
            "'-l',sys.argv[2],'-q']\ntry: app()\nexcept SystemExit: pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(library_dir)], capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def measure(corpus: Path, files: list[Path], model, copies: int) -> dict:
    megapixels = np.mean([np.prod(Image.open(f).size) for f in files[::copies]]) / 1e6
    result = {
        "images": len(files),
        "mean_megapixels": round(float(megapixels), 2),
        "decode_only_per_s": round(decode_only(corpus, model), 1),
        "model_only_per_s": round(model_only(files, model), 1),
    }
    rate, _ = end_to_end(corpus, corpus.with_name(corpus.name + "-lib"))
    result["end_to_end_per_s"] = round(rate, 1)
    result["end_to_end_over_model"] = round(rate / result["model_only_per_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=20, help="byte-distinct copies of each source JPEG")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model("effnet-conse")
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shipped = make_corpus(tmp / "shipped", source_jpegs(), args.copies)
        baseline = make_corpus(tmp / "baseline", baseline_jpegs(tmp / "baseline-src"), args.copies)
        results["baseline_jpeg"] = measure(tmp / "baseline", baseline, model, args.copies)
        results["as_shipped"] = measure(tmp / "shipped", shipped, model, args.copies)
        small = tmp / "small"
        small.mkdir()
        for f in baseline[: len(baseline) // 8]:
            shutil.copy(f, small / f.name)
        results["peak_rss_mb"] = {
            f"{len(list(small.iterdir()))} images": round(peak_rss_mb(small, tmp / "rss-small")),
            f"{len(baseline)} images": round(peak_rss_mb(tmp / "baseline", tmp / "rss-all")),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores"


if __name__ == "__main__":
    main()
