"""Indexing throughput on real 2-5 MP JPEGs, and the int8 image graph (issue #12).

Speed (default), measured side by side in one run, float and int8 alternating round by round (the
machine is shared and noisy: ratios of medians matter most; the load average is recorded with each):
  decode-only     hash + JPEG decode + crop + thumbnail, in the indexer's thread pool
  model-only      EfficientNet-Lite0 + ConSE on already-decoded 224x224 pixels, as the indexer calls it
  end-to-end      Library.index on a fresh library (hash, decode, embed, SQLite, FAISS files)
on three corpora made from the same pictures (Debian wallpapers): re-encoded as baseline JPEG (what
cameras and phones write), re-encoded as progressive JPEG, and as shipped (a quarter progressive);
with ``--rss``, peak RSS of a whole ``framefind index`` process at two library sizes (it must stay flat).

``--quality``: int8 against float: class agreement and feature cosine on the caption set's test-split
photos (benchmarks/data/captions150.json; the calibration never saw them), the eval scores (caption set
R@k / MRR@10 with paired bootstrap intervals, Fashion-MNIST image -> image and text -> image), each beside
what a 1-pixel shift of the input does to the float model. ``--calibrate``: recompute the shipped
activation table from real photos (the caption set's tune split and other packaged photos, none of
the test split).

``--against DIR``: end to end only, each run in its own process, against another source tree.

Usage: python benchmarks/bench_index.py [--copies 10] [--rounds 3] [--rss] [--against DIR] [--quality]
       [--calibrate] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from framefind import Library  # noqa: E402
from framefind.media.files import FileStat, scan  # noqa: E402
from framefind.media.images import load_image  # noqa: E402
from framefind.models.base import Model, Preprocess, load_model  # noqa: E402
from framefind.models.conse import RECOMMENDED_DRAFT_FILL  # noqa: E402
from framefind.store.indexer import BATCH_SIZE, DECODE_THREADS, _prepared  # noqa: E402

WALLPAPERS = [Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds")]
PRECISIONS = ("float", "int8")


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


def reencoded(target: Path, progressive: bool) -> list[Path]:
    """The same pictures re-encoded at quality 90 as baseline JPEG (what cameras and phones write) or
    as progressive JPEG (what many web images are: 3-4x slower to decode)."""
    target.mkdir(parents=True)
    out = []
    for i, src in enumerate(source_jpegs()):
        out.append(target / f"{i:03d}.jpg")
        Image.open(src).save(out[-1], "JPEG", quality=90, progressive=progressive)
    return out


def baseline_jpegs(target: Path) -> list[Path]:
    return reencoded(target, progressive=False)


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


def load() -> float:
    return round(os.getloadavg()[0], 2)


class DecodeOnly:
    """A stand-in model for the indexer's workers: they hash, decode and make thumbnails, and embed nothing."""

    image_size, preprocess, embed_while_decoding = 224, Preprocess(), False
    decode_image = Model.decode_image

    def __init__(self, draft_fill: float) -> None:
        self.draft_fill = draft_fill


def decode_only(folder: Path, draft_fill: float) -> tuple[float, float]:
    """(images/s, CPU ms per image) of the indexer's workers without the model."""
    stats: list[FileStat] = list(scan([folder]))
    start, cpu = time.perf_counter(), time.process_time()
    decoded = sum(1 for p in _prepared(stats, set(), DecodeOnly(draft_fill)) if p.pixels is not None)
    return decoded / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / decoded


def model_only(pixels: np.ndarray, model, n: int) -> tuple[float, float]:
    """(images/s, CPU ms per image) of the model on pre-decoded pixels, called as the indexer calls it:
    one image per call from DECODE_THREADS threads at once (effnet-conse: see embed_while_decoding)."""
    model.embed_images(pixels[:1])  # warm-up (and the session's first load)
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        list(pool.map(lambda i: model.embed_images(pixels[i % len(pixels) : i % len(pixels) + 1]), range(n)))
    return n / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / n


def end_to_end(folder: Path, library_dir: Path, precision: str) -> tuple[float, float]:
    """(images/s, CPU ms per image, all threads) of Library.index on a fresh library."""
    with Library.open(library_dir, model_options={"precision": precision}) as library:
        _ = library.model.embed_images(np.zeros((1, 224, 224, 3), np.uint8))  # load sessions first
        start, cpu = time.perf_counter(), time.process_time()
        report = library.index([folder])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.failed == 0 and library.model.precision == precision
    return report.embedded / seconds, 1000 * cpu / report.embedded


def peak_rss_mb(folder: Path, library_dir: Path) -> float:
    """Peak RSS of a whole ``framefind index`` process, in MB."""
    code = ("import resource, sys; from framefind.interfaces.cli import app; sys.argv=['framefind','index',sys.argv[1],"
            "'-l',sys.argv[2],'-q']\ntry: app()\nexcept SystemExit: pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(library_dir)], capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def measure(corpus: Path, files: list[Path], models: dict, copies: int, rounds: int) -> dict:
    """Decode-only, model-only and end-to-end (each precision), alternating, ``rounds`` times; medians.
    CPU ms per image (all threads of this process) is what the machine's other jobs disturb least:
    2000 / it is the rate two free cores would reach with the stages overlapping perfectly."""
    megapixels = np.mean([np.prod(Image.open(f).size) for f in files[::copies]]) / 1e6
    result: dict = {"images": len(files), "mean_megapixels": round(float(megapixels), 2)}
    pixels = np.stack([load_image(p, 224)[0] for p in files[::copies]])
    kinds = ("decode_only", "decode_only_recommended",
             *(f"{kind}_{p}" for kind in ("model_only", "end_to_end") for p in PRECISIONS))
    runs: dict = {key: [] for key in kinds}
    loads = []
    for r in range(rounds):
        runs["decode_only"].append(decode_only(corpus, 1.0))
        runs["decode_only_recommended"].append(decode_only(corpus, RECOMMENDED_DRAFT_FILL))
        for p in PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]:
            runs[f"model_only_{p}"].append(model_only(pixels, models[p], len(files)))
            runs[f"end_to_end_{p}"].append(end_to_end(corpus, corpus.with_name(f"{corpus.name}-lib-{p}-{r}"), p))
            loads.append(load())
    for key, values in runs.items():
        result[f"{key}_per_s"] = round(float(np.median([v[0] for v in values])), 1)
        result[f"{key}_cpu_ms"] = round(float(np.median([v[1] for v in values])), 2)
        result[f"{key}_runs"] = [round(v[0], 1) for v in values]
    result["loads"] = loads
    for kind in ("model_only", "end_to_end"):
        result[f"{kind}_int8_over_float"] = round(result[f"{kind}_int8_per_s"] / result[f"{kind}_float_per_s"], 2)
        result[f"{kind}_cpu_float_over_int8"] = round(result[f"{kind}_float_cpu_ms"] / result[f"{kind}_int8_cpu_ms"],
                                                      2)
    return result


RUN_ONE = """
import sys, time, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
from framefind import Library
with tempfile.TemporaryDirectory() as tmp:
    options = {"precision": sys.argv[3]} if sys.argv[3] != "-" else {}
    with Library.open(Path(tmp) / "lib", model_options=options) as library:
        library.model.embed_images(np.zeros((1, 224, 224, 3), np.uint8))
        start, cpu = time.perf_counter(), time.process_time()
        report = library.index([sys.argv[2]])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(report.embedded / seconds, 1000 * cpu / report.embedded)
"""


def against(tree: Path, corpora: dict[str, Path], rounds: int) -> dict:
    """End to end in separate processes, alternating: the framefind source tree ``tree`` (e.g. the last
    commit, ``git archive HEAD | tar -x -C DIR``) with its default model, and this one in float and int8."""
    configs = {"other tree, default": (tree, "-"), "float": (HERE.parent, "float"), "int8": (HERE.parent, "int8")}
    out: dict = {}
    for name, folder in corpora.items():
        runs: dict = {label: [] for label in configs}
        for r in range(rounds):
            for label in list(configs) if r % 2 == 0 else list(configs)[::-1]:
                source, precision = configs[label]
                done = subprocess.run([sys.executable, "-c", RUN_ONE, str(source), str(folder), precision],
                                      capture_output=True, text=True, check=True)
                rate, cpu = (float(x) for x in done.stdout.split()[-2:])
                runs[label].append((round(rate, 1), round(cpu, 2), load()))
        out[name] = {label: {"per_s": float(np.median([v[0] for v in values])),
                             "cpu_ms": float(np.median([v[1] for v in values])), "runs": values}
                     for label, values in runs.items()}
        print(name, json.dumps(out[name]), file=sys.stderr)
    return out


def speed(args) -> dict:
    models = {p: load_model("effnet-conse", {"precision": p}) for p in PRECISIONS}
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        makers = {"baseline_jpeg": lambda: reencoded(tmp / "baseline-src", progressive=False),
                  "progressive_jpeg": lambda: reencoded(tmp / "progressive-src", progressive=True),
                  "as_shipped": source_jpegs}
        corpora = {name: makers[name]() for name in args.corpora.split(",")}
        for name, sources in corpora.items():
            files = make_corpus(tmp / name, sources, args.copies)
            if args.against:
                continue
            results[name] = measure(tmp / name, files, models, args.copies, args.rounds)
            print(name, json.dumps(results[name]), file=sys.stderr)
        if args.against:
            return {"against": str(args.against), **against(args.against, {n: tmp / n for n in corpora}, args.rounds)}
        if args.rss:
            small = tmp / "small"
            small.mkdir()
            baseline = sorted((tmp / next(iter(corpora))).iterdir())
            for f in baseline[: len(baseline) // 8]:
                shutil.copy(f, small / f.name)
            results["peak_rss_mb"] = {
                f"{len(list(small.iterdir()))} images": round(peak_rss_mb(small, tmp / "rss-small")),
                f"{len(baseline)} images": round(peak_rss_mb(tmp / next(iter(corpora)), tmp / "rss-all")),
            }
    return results


# -- int8 against float ------------------------------------------------------------------------------
def caption_set() -> tuple[dict, list[np.ndarray]]:
    """benchmarks/data/captions150.json and its photos decoded as the indexer decodes them."""
    from bench_captions import DATA, materialise

    spec = json.loads(DATA.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        materialise(spec, Path(tmp))
        pixels = [load_image(Path(tmp) / p["file"], 224)[0] for p in spec["photos"]]
    return spec, pixels


def embed(model, pixels: np.ndarray) -> dict[str, np.ndarray]:
    parts = [model.embed_images(pixels[i : i + BATCH_SIZE]) for i in range(0, len(pixels), BATCH_SIZE)]
    return {space: np.concatenate([p[space] for p in parts]) for space in model.spaces}


def classify(model, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts = [model.classify(pixels[i : i + BATCH_SIZE]) for i in range(0, len(pixels), BATCH_SIZE)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def agreement(reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> dict:
    """How far ``other``'s (features, class probabilities) are from ``reference``'s, photo by photo.

    top1: same best class; top1_in_top5: other's best class among reference's five best (ImageNet's
    "top-5" sense); top5_overlap: mean share of the five best classes both have; cosine of the L2-normalised
    1280-d features (the visual space)."""
    (f0, p0), (f1, p1) = reference, other
    top0, top1 = np.argsort(-p0, axis=1)[:, :5], np.argsort(-p1, axis=1)[:, :5]
    cosine = np.sum(f0 * f1, axis=1)
    return {"photos": len(f0), "top1": round(float(np.mean(top0[:, 0] == top1[:, 0])), 3),
            "top1_in_top5": round(float(np.mean([b[0] in a for a, b in zip(top0, top1, strict=True)])), 3),
            "top5_overlap": round(float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top0, top1, strict=True)])),
                                  3),
            "feature_cosine_mean": round(float(cosine.mean()), 4), "feature_cosine_min": round(float(cosine.min()), 4)}


def caption_scores(model, spec: dict, semantic: np.ndarray) -> dict:
    """Per split: reciprocal rank of every caption's first relevant photo (as ``framefind eval`` ranks:
    cosine, flat index, k = 10) and R@1/5/10, MRR@10."""
    from framefind.eval.runner import Config, run_config, text_queries

    files = [p["file"] for p in spec["photos"]]
    out = {}
    for split in ("test", "tune"):
        queries = [q for q in spec["queries"] if q["split"] == split]
        relevant = [np.array(sorted(files.index(f) for f in q["relevant"])) for q in queries]
        texts = [q["text"] for q in queries]
        row = run_config(text_queries(semantic, relevant, model.embed_texts(texts), texts), Config(model.id), 10)
        rr = np.array([row["per_group"][t]["mrr@10"] for t in texts])
        out[split] = {"rr": rr, **{f"R@{k}": (rr >= 1 / k - 1e-9).astype(float) for k in (1, 5, 10)}, "MRR@10": rr}
    return out


def fashion(model, pixels: np.ndarray, labels: list[str]) -> dict:
    """Fashion-MNIST leave-one-out image -> image (visual space) and the 10 class-name text queries
    of bench_eval.py (semantic space): per-query AP@10."""
    from bench_eval import TEXT_QUERIES

    from framefind.eval.runner import Config, leave_one_out, run_config, text_queries

    vectors = embed(model, pixels)
    image = run_config(leave_one_out(vectors["visual"], labels, [str(i) for i in range(len(labels))]),
                       Config(model.id), 10)
    relevant = [np.array([i for i, label in enumerate(labels) if label == c]) for c in TEXT_QUERIES.values()]
    texts = list(TEXT_QUERIES)
    text = run_config(text_queries(vectors["semantic"], relevant, model.embed_texts(texts), texts),
                      Config(model.id), 10)
    return {"image map@10": image["map@10"], "image mrr@10": image["mrr@10"], "text map@10": text["map@10"],
            "text per query": [round(text["per_group"][t]["map@10"], 2) for t in texts]}


def fashion_pixels(n: int) -> tuple[np.ndarray, list[str]]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import FASHION_CLASSES, fashion_mnist

    images, labels = fashion_mnist(n)
    with tempfile.TemporaryDirectory() as tmp:
        pixels = []
        for i, image in enumerate(images):
            Image.fromarray(image).save(f"{tmp}/{i}.png")
            pixels.append(load_image(f"{tmp}/{i}.png", 224)[0])
    return np.stack(pixels), [FASHION_CLASSES[label] for label in labels]


def shifted(pixels: np.ndarray) -> np.ndarray:
    """The same pictures moved down by one pixel: a change no one would call a different photo."""
    return np.ascontiguousarray(np.roll(pixels, 1, axis=1))


def quality() -> dict:
    from framefind.eval.metrics import bootstrap_ci

    models = {p: load_model("effnet-conse", {"precision": p}) for p in PRECISIONS}
    spec, photos = caption_set()
    pixels = np.stack(photos)
    test = np.stack([px for photo, px in zip(spec["photos"], photos, strict=True) if photo["split"] == "test"])
    classes = {p: classify(m, test) for p, m in models.items()}  # the test split: no calibration photo there
    out: dict = {"agreement": {"int8 vs float": agreement(classes["float"], classes["int8"]),
                               "float, 1-px shift vs float": agreement(classes["float"],
                                                                       classify(models["float"], shifted(test)))}}
    semantic = {p: embed(m, pixels)["semantic"] for p, m in models.items()}
    out["semantic_cosine_mean"] = round(float(np.mean(np.sum(semantic["float"] * semantic["int8"], axis=1))), 4)
    scores = {p: caption_scores(models[p], spec, semantic[p]) for p in PRECISIONS}
    shift = caption_scores(models["float"], spec, embed(models["float"], shifted(pixels))["semantic"])
    out["captions"] = {}
    for split in ("test", "tune"):
        rows = {}
        for metric in ("R@1", "R@5", "R@10", "MRR@10"):
            f, q, s = scores["float"][split][metric], scores["int8"][split][metric], shift[split][metric]
            rows[metric] = {"float": bootstrap_ci(f), "int8": bootstrap_ci(q), "int8 - float": bootstrap_ci(q - f),
                            "float 1-px shift - float": bootstrap_ci(s - f)}
        out["captions"][split] = {"captions": len(scores["float"][split]["rr"]), **rows}
    fm_pixels, labels = fashion_pixels(2000)
    out["fashion"] = {p: fashion(m, fm_pixels, labels) for p, m in models.items()}
    out["fashion"]["float, 1-px shift"] = fashion(models["float"], shifted(fm_pixels), labels)
    return out


# -- calibration ---------------------------------------------------------------------------------------
CALIBRATION_ROOTS = ["/usr/share/wallpapers", "/usr/share/backgrounds", "/usr/share/doc/opencv-doc/examples",
                     "/usr/share/visp-images-data", "/usr/share/tuxpaint/templates", "/usr/share/palapeli",
                     str(HERE.parent / ".cache" / "bench-debs" / "root")]


def calibration_set() -> tuple[np.ndarray, dict[str, int]]:
    """Real photos decoded as the indexer decodes them, none of them in the caption set's test split (what
    --quality reports): the tune split's everyday photos, then every other photo these packages ship that
    is not a caption photo (by bytes, or another size of the same wallpaper) nor a manual's screenshot.
    Returns the pixels and how many came from where."""
    from bench_captions import photo_path

    spec, pixels = caption_set()
    tune = [px for photo, px in zip(spec["photos"], pixels, strict=True) if photo["split"] == "tune"]
    captioned = [p for p in (photo_path(photo, spec["sources"]) for photo in spec["photos"]) if p is not None]

    def digest(path: Path) -> str:
        return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()

    def wallpaper(path: Path) -> str | None:
        parts = path.parts
        return parts[4] if len(parts) > 4 and parts[3] == "wallpapers" else None

    seen, pictures = {digest(p) for p in captioned}, {wallpaper(p) for p in captioned} - {None}
    found: dict[str, list[Path]] = {}
    for root in CALIBRATION_ROOTS:
        for path in sorted(Path(root).rglob("*")) if Path(root).is_dir() else []:
            manual = "/doc/" in str(path)[len(root) :]  # an unpacked package's manual: screenshots
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or not path.is_file() or manual \
                    or wallpaper(path) in pictures:
                continue
            try:
                with Image.open(path) as im:
                    if min(im.size) < 200 or im.mode == "1":
                        continue
            except OSError:
                continue
            if (d := digest(path)) not in seen:
                seen.add(d)
                found.setdefault(root, []).append(path)
    others = [load_image(p, 224)[0] for paths in found.values() for p in paths]
    return np.stack(tune + others), {"caption set, tune split": len(tune), **{r: len(p) for r, p in found.items()}}


def calibrate() -> dict:
    from int8_calibration import calibrate_efficientnet_lite0, write_int8_table

    from framefind.models.conse import INT8_TABLE

    pixels, sources = calibration_set()
    source = load_model("effnet-conse", {"precision": "float"}).image_graph()
    table = calibrate_efficientnet_lite0(source, (pixels[i : i + 20] for i in range(0, len(pixels), 20)))
    write_int8_table(HERE.parent / "framefind" / INT8_TABLE, table)
    return {"photos": len(pixels), "sources": sources, "tensors": len(table)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10, help="byte-distinct copies of each source JPEG")
    parser.add_argument("--rounds", type=int, default=3, help="alternating float / int8 rounds (medians reported)")
    parser.add_argument("--corpora", default="baseline_jpeg,progressive_jpeg,as_shipped", help="which, comma-separated")
    parser.add_argument("--rss", action="store_true", help="also peak RSS of a `framefind index` process")
    parser.add_argument("--against", type=Path, help="end to end only, against another framefind source tree")
    parser.add_argument("--quality", action="store_true", help="int8 against float instead of speed")
    parser.add_argument("--calibrate", action="store_true", help="rewrite the shipped int8 activation table")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    results: dict = {"date": date, "machine": machine(), "load_at_start": load()}
    if args.calibrate:
        results["calibration"] = calibrate()
    elif args.quality:
        results["quality"] = quality()
    else:
        results.update(speed(args))
    results["load_at_end"] = load()
    print(json.dumps(results, indent=1, default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=lambda x: x.tolist() if hasattr(x, "tolist")
                                        else str(x)))


def emit(results: dict, path: Path | None) -> None:
    """The end of a benchmark run: the load average then, the results as JSON on stdout and in ``path``."""
    results["load_at_end"] = load()
    print(json.dumps(results, indent=1))
    if path:
        path.write_text(json.dumps(results, indent=1))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores"


if __name__ == "__main__":
    main()
