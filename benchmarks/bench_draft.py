"""Issue #12: how far below the model's 224 px may a JPEG be decoded? The ``draft_fill`` option on the caption set.

Why: a progressive JPEG decodes ~4x faster from its DC scans alone, which only a 1/8-scale draft allows
(media/jpeg_draft.py); at ``draft_fill`` 1.0 (what libraries before 0.6.0 do) a 2-4 MP photo is decoded at
1/4 scale instead. A smaller fill lets more photos go to 1/8 and be scaled up a little to 224 px. This measures
what that costs in text -> image quality, on benchmarks/data/captions150.json, with ``framefind eval`` (the
same libraries a user gets, each fill its own), for the photos as shipped (mostly PNG and baseline JPEG:
only JPEGs are drafted) and for all of them re-encoded as progressive JPEG q90 (every photo drafted).

Reports per variant, fill and split: MRR@10, R@1, R@5, how many photos decode to other pixels than at fill
1.0, and the paired per-caption MRR@10 difference to fill 1.0 with its 95 % bootstrap interval.

Usage: python benchmarks/bench_draft.py [--fills 1.0,0.875,0.75] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_captions  # noqa: E402

from framefind import Library  # noqa: E402
from framefind.eval.metrics import bootstrap_ci  # noqa: E402
from framefind.media.images import load_image  # noqa: E402

SPLITS = ("test", "tune")


def progressive_copies(photos: Path, target: Path) -> Path:
    """Every photo re-encoded as a progressive JPEG q90, under its own file name (framefind reads the content)."""
    target.mkdir(parents=True, exist_ok=True)
    for photo in sorted(photos.iterdir()):
        if not (target / photo.name).exists():
            Image.open(photo).convert("RGB").save(target / photo.name, "JPEG", quality=90, progressive=True)
    return target


def run_arm(spec: dict, photos: Path, work: Path, fill: float) -> dict:
    """framefind eval of both splits on a library that decodes with ``fill``."""
    (work / "photos").mkdir(parents=True, exist_ok=True)
    for photo in photos.iterdir():
        if not (work / "photos" / photo.name).exists():
            os.link(photo, work / "photos" / photo.name)
    with Library.open(work / "library", model="effnet-conse", model_options={"draft_fill": fill}):
        pass  # the library chooses the model now: eval indexes and searches with it
    return {split: bench_captions.evaluate(spec, work, split, "effnet-conse") for split in SPLITS}


def changed_photos(photos: Path, fill: float) -> int:
    return sum(not np.array_equal(load_image(p, 224)[0], load_image(p, 224, draft_fill=fill)[0])
               for p in sorted(photos.iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", default="1.0,0.875,0.75", help="the first is the reference")
    parser.add_argument("--work", type=Path, help="keep photos and libraries here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    fills = [float(f) for f in args.fills.split(",")]
    spec = json.loads(bench_captions.DATA.read_text(encoding="utf-8"))
    spec["by_id"] = {p["id"]: p for p in spec["photos"]}
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-draft-"))
    shipped = work / "shipped"
    bench_captions.materialise(spec, shipped)
    variants = {"as shipped": shipped, "progressive q90": progressive_copies(shipped, work / "progressive")}
    out: dict = {"date": time.strftime("%a %b %d %H:%M UTC %Y", time.gmtime()), "load": os.getloadavg()[0], "rows": []}
    for variant, photos in variants.items():
        arms = {fill: run_arm(spec, photos, work / f"{variant.split()[0]}-{fill}", fill) for fill in fills}
        for fill in fills:
            for split in SPLITS:
                result, reference = arms[fill][split], arms[fills[0]][split]
                diff = bootstrap_ci(list(np.array(result["rr"]) - np.array(reference["rr"])), 2000, 0.95, 0)
                row = {"variant": variant, "fill": fill, "split": split, "changed_photos": changed_photos(photos, fill),
                       **{key: round(result[key][0], 4) for key in ("MRR@10", "R@1", "R@5")},
                       "paired_mrr_diff": [round(x, 4) for x in diff]}
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
