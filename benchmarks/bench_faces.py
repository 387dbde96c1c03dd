"""Faces (framefind/media/faces.py, dlib): what they cost, and how well the vectors tell people apart.

Photos, all real: face_recognition 1.3.0's test photos (Obama x5, Biden; its sdist in .cache/face-photos),
scikit-image (astronaut, camera, coffee), OpenCV's docs (opencv-doc: messi5, basketball1, two portraits),
KPhotoAlbum's demo album (unpacked by `make bench` into .cache/bench-debs: one family's photos, tagged with
who is in them; rotations from its index.xml applied) and the 1927 Solvay conference group photo
(visp-images-data: 29 people, all different). Missing sources are named and left out.

1. Detection: faces found and milliseconds per picture for working sizes 1600/2048/2560 (and dlib's CNN
   detector with --cnn: slow, minutes).
2. Time per picture at typical sizes: 4 MP and 12 MP wallpapers (no face), the photos enlarged to 4 MP,
   the photos as they are; split into detector and vectors (one per face).
3. Distances between every two labelled faces: same person / different people, the margin, and how
   many pairs each threshold gets right. People were labelled by looking at the photos and KPhotoAlbum's
   tags (a face is matched to a label when its box holds the label's point).
4. What `index --faces` would add to framefind's own indexing (docs/benchmarks.md: ~50-100 img/s).

6. The face signal's curve (a query picture's face finding that person): P(same person | distance), fitted on
   every labelled pair and checked on pairs held out (relevance.FACE).

7. A query photo of someone finds their other photos: R@5 and mAP, pictures alone against pictures and faces.

Usage: python benchmarks/bench_faces.py [--cnn] [--only signal] [--json out.json]   (signal: parts 3, 6, 7)
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import skimage_data, wallpaper_files  # noqa: E402

from framefind.media import faces  # noqa: E402

SDIST = Path(os.environ.get("FRAMEFIND_FACE_PHOTOS", ROOT / ".cache/face-photos/face_recognition-1.3.0.tar.gz"))
KPA = ROOT / ".cache/bench-debs/root/usr/share/kphotoalbum/demo"
OPENCV = Path("/usr/share/doc/opencv-doc")
SOLVAY = Path("/usr/share/visp-images-data/ViSP-images/Solvay/Solvay_conference_1927_Version2_1280x881.jpg")
OLD_JESPER = "jesper-1980s"  # the same man 20-odd years younger: reported apart from the other pairs
# photo -> [(x, y, who)]: a point inside each face a person sees (fractions of the picture); cameraman, pool,
# beach-man and bar-grey-hair are faces in profile or small ones that HOG misses (they measure recall)
LABELS: dict[str, list[tuple[float, float, str]]] = {
    "obama": [(0.555, 0.25, "obama")], "obama2": [(0.48, 0.37, "obama")], "obama3": [(0.555, 0.185, "obama")],
    "obama_partial_face": [(0.22, 0.25, "obama")], "obama_partial_face2": [(0.85, 0.23, "obama")],
    "biden": [(0.62, 0.175, "biden")], "astronaut": [(0.43, 0.24, "collins")], "messi5": [(0.445, 0.335, "messi")],
    "basketball1": [(0.15, 0.24, "ball-thrower")], "goatee": [(0.505, 0.485, "goatee")],
    "smiling": [(0.49, 0.45, "smiling")], "camera": [(0.47, 0.38, "cameraman")], "coffee": [],
    "anne_helene": [(0.465, 0.32, "anne")], "bar55_2": [(0.54, 0.32, "jesper"), (0.41, 0.34, "anne")],
    "bar55": [(0.51, 0.38, "jesper"), (0.41, 0.50, "anne"), (0.065, 0.33, "bar-woman"), (0.895, 0.34, "bar-man"),
              (0.72, 0.15, "bar-grey-hair")],
    "pool": [(0.40, 0.23, "jesper"), (0.705, 0.20, "pool-man")],
    "cold_water": [(0.585, 0.40, "jesper"), (0.30, 0.425, "beach-man")],
    "grand_canyon_1": [(0.21, 0.29, "jesper"), (0.455, 0.44, "anne")],
    "grand_canyon_2": [(0.465, 0.47, "jesper")], "jesper": [(0.53, 0.515, "jesper")],
    "jesper_2": [(0.46, 0.52, "jesper")], "new_wave_1": [(0.69, 0.315, OLD_JESPER)],
    "new_wave_2": [(0.50, 0.555, OLD_JESPER), (0.705, 0.275, "poster")], "pool_2": [(0.425, 0.125, "jesper")],
    "qt-logo": [(0.775, 0.205, "vegas-glasses"), (0.52, 0.32, "jesper"), (0.29, 0.27, "vegas-tall")],
    "wayne": [(0.845, 0.39, "vegas-glasses"), (0.315, 0.38, "vegas-tall")],
}


@dataclass
class Photo:
    name: str
    rgb: np.ndarray
    labels: list[tuple[float, float, str]] = field(default_factory=list)
    everyone: bool = False  # every face is a different person (the Solvay group): each detection labelled


def _read(path: Path | io.BytesIO) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def load_photos() -> list[Photo]:
    """Every source that is here; a line for each that is not."""
    photos = []
    if SDIST.is_file():
        with tarfile.open(SDIST) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                name = Path(member.name)
                if name.parent.name == "test_images" and name.suffix == ".jpg" and (data := tar.extractfile(member)):
                    photos.append(Photo(name.stem, _read(io.BytesIO(data.read()))))
    else:
        print(f"missing: {SDIST} (pip download --no-deps --no-binary :all: face_recognition==1.3.0)")
    photos += [Photo(n, _read(skimage_data() / f"{n}.png")) for n in ("astronaut", "camera", "coffee")]
    docs = {"messi5": "examples/data/messi5.jpg", "basketball1": "examples/data/basketball1.png",
            "goatee": "opencv4/html/230501201_1.jpg", "smiling": "opencv4/html/227943776_1.jpg"}
    if OPENCV.is_dir():
        photos += [Photo(n, _read(OPENCV / p)) for n, p in docs.items() if (OPENCV / p).is_file()]
    else:
        print("missing: Debian package opencv-doc")
    if (KPA / "index.xml").is_file():
        for image in ET.parse(KPA / "index.xml").getroot().iter("image"):
            if image.get("file", "").endswith(".jpg"):
                turn = -int(image.get("angle", "0")) // 90  # KPhotoAlbum's angle: clockwise degrees
                upright = np.ascontiguousarray(np.rot90(_read(KPA / image.get("file")), turn))
                photos.append(Photo(image.get("file")[:-4], upright))
    else:
        print(f"missing: KPhotoAlbum's demo album in {KPA} (make bench-deps)")
    if SOLVAY.is_file():
        photos.append(Photo("solvay-1927", _read(SOLVAY), everyone=True))
    else:
        print("missing: Debian package visp-images-data (the Solvay 1927 group photo)")
    for photo in photos:
        photo.labels = LABELS.get(photo.name, [])
    return photos


def labelled(photo: Photo, found: list[faces.Face]) -> list[tuple[str, faces.Face]]:
    """(who, face) for each detection that holds a label's point; the Solvay group: each detection."""
    if photo.everyone:
        return [(f"{photo.name}#{i}", face) for i, face in enumerate(found)]
    out = []
    for x, y, who in photo.labels:
        inside = [f for f in found if f.box[0] <= x <= f.box[0] + f.box[2] and f.box[1] <= y <= f.box[1] + f.box[3]]
        if inside:
            out.append((who, max(inside, key=lambda f: f.score)))
    return out


def detect_ms(rgb: np.ndarray, work_side: int) -> tuple[int, float]:
    """Faces the detector alone finds and its milliseconds (the resize included)."""
    detector = faces._load()[0]
    start = time.perf_counter()
    work = faces._scaled(rgb, faces.working_scale(*rgb.shape[:2], work_side))
    count = len(detector.run(work, 0, faces.MIN_SCORE)[0])
    return count, 1000 * (time.perf_counter() - start)


def to_pixels(rgb: np.ndarray, pixels: float) -> np.ndarray:
    scale = (pixels / (rgb.shape[0] * rgb.shape[1])) ** 0.5
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


def bench_detection(photos: list[Photo], cnn: bool) -> dict:
    """Faces found per working size: labelled ones matched, all detections, the Solvay group, and ms."""
    print("\n1. Detection (HOG): labelled faces found / labels, detections, Solvay's 29, ms on a 4 MP wallpaper")
    wall = to_pixels(_read(wallpaper_files(1, min_pixels=4_000_000)[0]), 4e6)
    out = {}
    for side in (1600, 2048, 2560):
        hits = total = dets = 0
        for photo in photos:
            found = faces.faces_in(photo.rgb, work_side=side)
            dets += len(found)
            if photo.everyone:
                solvay = len(found)
            else:
                hits, total = hits + len(labelled(photo, found)), total + len(photo.labels)
        ms = min(detect_ms(wall, side)[1] for _ in range(3))
        out[side] = {"labelled": hits, "labels": total, "detections": dets, "solvay": solvay, "wall_ms": ms}
        print(f"  work side {side}: {hits}/{total} labelled, {dets} detections, Solvay {solvay}/29, {ms:.0f} ms")
    if cnn:
        out["cnn"] = bench_cnn(photos)
    return out


def bench_cnn(photos: list[Photo]) -> dict:
    """dlib's CNN (mmod) detector on the same working pictures as HOG at 1600 px (upsampling 0)."""
    import dlib

    model = dlib.cnn_face_detection_model_v1(str(faces._model_dir() / "mmod_human_face_detector.dat"))
    hits = total = 0
    spent = {"hog": 0.0, "cnn": 0.0}
    for photo in photos:
        work = faces._scaled(photo.rgb, faces.working_scale(*photo.rgb.shape[:2], 1600))
        start = time.perf_counter()
        rects = [r.rect for r in model(work, 0)]
        spent["cnn"] += time.perf_counter() - start
        spent["hog"] += detect_ms(photo.rgb, 1600)[1] / 1000
        h, w = work.shape[:2]
        boxes = [faces.Face((r.left() / w, r.top() / h, r.width() / w, r.height() / h), 1.0, np.zeros(128))
                 for r in rects]
        if not photo.everyone:
            hits, total = hits + len(labelled(photo, boxes)), total + len(photo.labels)
        else:
            print(f"  CNN on Solvay at 1600: {len(rects)}/29")
    n = len(photos)
    print(f"  CNN at 1600: {hits}/{total} labelled faces; {1000 * spent['cnn'] / n:.0f} ms a photo "
          f"(HOG {1000 * spent['hog'] / n:.0f} ms)")
    return {"labelled": hits, "labels": total, "cnn_ms": 1000 * spent["cnn"] / n, "hog_ms": 1000 * spent["hog"] / n}


def timed(rgb: np.ndarray) -> tuple[int, float, float]:
    """(faces, total ms, detector ms): the best of two runs each."""
    total = min(_clock(faces.faces_in, rgb) for _ in range(2))
    found, detector = min((detect_ms(rgb, faces.WORK_SIDE) for _ in range(2)), key=lambda pair: pair[1])
    return found, total, detector


def _clock(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return 1000 * (time.perf_counter() - start)


def bench_time(photos: list[Photo]) -> dict:
    print(f"\n2. Time per picture (work side {faces.WORK_SIDE}): faces, total ms = detector + vectors")
    walls = wallpaper_files(4, min_pixels=4_000_000)
    by_name = {p.name: p for p in photos}
    groups = {
        "4 MP wallpapers, no face": [to_pixels(_read(p), 4e6) for p in walls],
        "12 MP wallpapers, no face": [to_pixels(_read(p), 12e6) for p in walls[:2]],
        "4 MP photos, 1 face": [to_pixels(by_name[n].rgb, 4e6) for n in ("obama3", "biden", "jesper") if n in by_name],
        "4 MP photos, 3-4 faces": [to_pixels(by_name[n].rgb, 4e6) for n in ("bar55", "qt-logo") if n in by_name],
        "4 MP group photo (Solvay)": [to_pixels(by_name[n].rgb, 4e6) for n in ("solvay-1927",) if n in by_name],
        "the photos as they are (0.2-3.3 MP)": [p.rgb for p in photos],
    }
    out = {}
    for label, pictures in groups.items():
        if not pictures:
            continue
        runs = [timed(rgb) for rgb in pictures]
        n, total, detector = (float(np.mean(column)) for column in zip(*runs, strict=True))
        per_face = (total - detector) / n if n else float("nan")
        out[label] = {"pictures": len(pictures), "faces": n, "ms": total, "detector_ms": detector}
        print(f"  {label:38s} {len(pictures):2d} pictures: {n:4.1f} faces, {total:6.0f} ms = {detector:5.0f} detector"
              f" + {total - detector:5.0f} vectors" + (f" ({per_face:.0f} a face)" if n else ""))
    return out


def bench_pairs(photos: list[Photo]) -> dict:
    """Every pair of labelled faces: distances of same-person and different-people pairs, and thresholds."""
    print("\n3. Distances between labelled faces")
    people = [(photo.name, who, face) for photo in photos for who, face in labelled(photo, faces.faces_in(photo.rgb))]
    same, different, aged, solvay = [], [], [], []
    for (pa, wa, fa), (pb, wb, fb) in itertools.combinations(people, 2):
        row = (faces.distance(fa, fb), f"{pa}:{wa}", f"{pb}:{wb}")
        if {wa, wb} == {"jesper", OLD_JESPER}:
            aged.append(row)
        elif wa.startswith("solvay") and wb.startswith("solvay"):
            solvay.append(row)
        else:
            (same if wa == wb else different).append(row)
    same.sort(reverse=True)
    different.sort()
    print(f"  {len(people)} faces: {len(same)} same-person pairs, {len(different)} different (+ {len(solvay)} "
          f"within Solvay, {len(aged)} Jesper now vs 20 years younger)")
    print("  same person, farthest first:")
    for d, a, b in same:
        print(f"    {d:.3f}  {a} ~ {b}")
    print("  different people, closest first (10):")
    for d, a, b in different[:10]:
        print(f"    {d:.3f}  {a} / {b}")
    if same and different:
        print(f"  margin: farthest same {same[0][0]:.3f}, closest different {different[0][0]:.3f} "
              f"-> {different[0][0] - same[0][0]:+.3f}")
    if aged:
        print(f"  Jesper ~ Jesper 20 years younger: {', '.join(f'{d:.2f}' for d, _, _ in sorted(aged))}")
    print("  threshold: same pairs accepted | different pairs accepted | Solvay pairs accepted (all different)")
    table = {}
    for t in (0.45, 0.5, 0.55, 0.6, 0.65):
        counts = [sum(d < t for d, _, _ in rows) for rows in (same, different, solvay, aged)]
        table[t] = counts
        print(f"    {t:.2f}: {counts[0]:3d}/{len(same)} | {counts[1]:3d}/{len(different)} | "
              f"{counts[2]:3d}/{len(solvay)} | aged {counts[3]}/{len(aged)}")
    return {"same": same, "different": different[:50], "aged": aged, "solvay_min": min(solvay, default=None),
            "thresholds": table,
            "curve": fit_face_curve([d for d, _, _ in same], [d for d, _, _ in different + solvay])}


def fit_face_curve(same: list[float], different: list[float], folds: int = 5) -> dict:
    """The face signal's curve (relevance.FACE): P(same person | distance) by logistic regression over every
    labelled pair (Solvay's 29 strangers as more different pairs), and how well it holds on pairs it was not
    fitted on (``folds``-fold: log loss and, per band of the probability, the share of same-person pairs)."""
    from bench_relevance import irls

    from framefind.search.relevance import Curve

    x = np.array(same + different)[:, None]
    y = np.array([1.0] * len(same) + [0.0] * len(different))
    bias, weights = irls(x, y)
    print(f"\n6. The face signal's curve: FACE = Curve({bias}, {weights}) over {len(same)} same / {len(different)} "
          f"different pairs (relevance.py holds {relevance_face()})")
    order = np.random.default_rng(0).permutation(len(y))
    held = np.zeros(len(y))
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        b, w = irls(x[train], y[train])
        held[test] = Curve(b, w)(x[test])
    loss = -np.mean(y * np.log(np.clip(held, 1e-9, 1)) + (1 - y) * np.log(np.clip(1 - held, 1e-9, 1)))
    print(f"  held-out ({folds}-fold) log loss {loss:.4f} (a constant {y.mean():.3f} would give "
          f"{-(y.mean() * np.log(y.mean()) + (1 - y.mean()) * np.log(1 - y.mean())):.4f})")
    bands = []
    for lo, hi in ((0, 0.01), (0.01, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 1.01)):
        inside = (held >= lo) & (held < hi)
        if inside.any():
            bands.append((lo, hi, int(inside.sum()), float(y[inside].mean())))
            print(f"  p {lo:.2f}-{min(hi, 1):.2f}: {inside.sum():5d} pairs, {y[inside].mean():6.1%} same person")
    for d in (0.4, 0.5, 0.55, 0.6, 0.65, 0.7):
        print(f"  distance {d:.2f} -> p {float(Curve(bias, weights)(np.array([[d]]))[0]):.3f}")
    return {"bias": bias, "weights": weights, "log_loss": float(loss), "bands": bands}


def bench_query_by_face(photos: list[Photo], work: Path) -> dict:
    """A query photo of someone finds their other photos (the face signal): every photo written as a JPEG into one
    library indexed with faces; each photo holding exactly one labelled person seen in other photos is the query
    (itself left out of its results); relevant: the other photos labelled with that person. Pictures alone
    (``--only visual``) against pictures and faces fused."""
    from framefind import Library, Query

    print("\n7. A query photo finds that person's other photos (library: every photo above; itself left out)")
    folder = work / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    holds = {}
    for photo in photos:
        Image.fromarray(photo.rgb).save(folder / f"{photo.name}.jpg", quality=92)
        holds[photo.name] = {who for _, _, who in photo.labels}
    with Library.open(work / "lib") as lib:
        start = time.perf_counter()
        report = lib.index([folder], faces=True)
        print(f"  {report.embedded} photos indexed with faces in {time.perf_counter() - start:.1f} s "
              f"({report.faces.faces} faces, {report.faces.people} people)")
        rows = {"visual": [], "fused": []}
        for name, people in holds.items():
            if len(people) != 1 or not (others := {n for n, p in holds.items() if n != name and people <= p}):
                continue
            for mode, signals in (("visual", ("visual",)), ("fused", None)):
                asked = time.perf_counter()
                page = lib.search(Query.of(image=folder / f"{name}.jpg", k=len(holds), cutoff=False, signals=signals))
                ms = (time.perf_counter() - asked) * 1000
                ranked = [Path(r.path).stem for r in page if Path(r.path).stem != name]
                hits = [n in others for n in ranked]
                precision = [sum(hits[: i + 1]) / (i + 1) for i, hit in enumerate(hits) if hit]
                rows[mode].append({"query": name, "who": next(iter(people)), "relevant": len(others),
                                   "r@5": sum(hits[:5]) / min(5, len(others)), "ap": sum(precision) / len(others),
                                   "first": hits.index(True) + 1 if True in hits else None, "ms": ms})
    out = {}
    for mode, found in rows.items():
        out[mode] = {"queries": len(found), "r@5": float(np.mean([r["r@5"] for r in found])),
                     "map": float(np.mean([r["ap"] for r in found])),
                     "first_hit_at_1": float(np.mean([r["first"] == 1 for r in found])),
                     "ms_median": float(np.median([r["ms"] for r in found]))}
        print(f"  {mode:6s}: {len(found)} queries, R@5 {out[mode]['r@5']:.3f}, mAP {out[mode]['map']:.3f}, "
              f"a same-person photo first {out[mode]['first_hit_at_1']:.0%}, {out[mode]['ms_median']:.0f} ms median")
    for before, after in zip(rows["visual"], rows["fused"], strict=True):
        print(f"    {before['query']:22s} {before['who']:14s} {before['relevant']} others: R@5 {before['r@5']:.2f} "
              f"-> {after['r@5']:.2f}, AP {before['ap']:.2f} -> {after['ap']:.2f}")
    return out


def relevance_face() -> str:
    from framefind.search.relevance import FACE

    return f"Curve({FACE.bias}, {FACE.weights})"


def bench_people(photos: list[Photo]) -> dict:
    """People as framefind groups them (store/people.py), fed in two halves as two index runs would: pairwise
    precision and recall over the labelled faces (Solvay's and the aged Jesper left out), and faces left unplaced."""
    from framefind.store import people as grouping

    print("\n5. People from the labelled faces (store/people.py: join within JOIN, DBSCAN on the rest), two runs")
    found = [(who, face.vector) for photo in photos for who, face in labelled(photo, faces.faces_in(photo.rgb))
             if not who.startswith("solvay") and who != OLD_JESPER]
    who = np.array([w for w, _ in found])
    vectors = np.stack([v for _, v in found]).astype(np.float32)
    person = np.full(len(found), -1)
    half = len(found) // 2
    next_id = 0
    for stop in (half, len(found)):  # run 1 sees the first half, run 2 all of them
        seen = np.arange(stop)
        sub = person[:stop]
        grouping._join_known(vectors[seen], sub)
        loose = np.flatnonzero(sub < 0)
        for group in grouping._groups(vectors[loose]):
            sub[loose[group]] = next_id
            next_id += 1
        person[:stop] = sub
    placed = np.flatnonzero(person >= 0)
    pairs = [(a, b) for a, b in itertools.combinations(placed, 2)]
    same_person = sum(who[a] == who[b] for a, b in pairs)
    same_group = sum(person[a] == person[b] for a, b in pairs)
    both = sum(who[a] == who[b] and person[a] == person[b] for a, b in pairs)
    precision = both / same_group if same_group else 1.0
    recall = both / same_person if same_person else 1.0
    print(f"  {len(found)} faces of {len(set(who))} people -> {next_id} groups; {len(placed)} placed, "
          f"{len(found) - len(placed)} waiting (seen once or not within JOIN={grouping.JOIN})")
    print(f"  pairwise over placed faces: precision {precision:.3f}, recall {recall:.3f}")
    return {"faces": len(found), "people": len(set(who)), "groups": next_id, "placed": len(placed),
            "precision": precision, "recall": recall}


def bench_index_cost(times: dict, rates: tuple[float, ...] = (50.0, 100.0)) -> dict:
    """What faces would do to framefind's indexing rate (img/s, from docs/benchmarks.md), one process."""
    print("\n4. index --faces: framefind's rate with faces added (one process; dlib holds the GIL)")
    out = {}
    for label, row in times.items():
        after = [1000 / (1000 / rate + row["ms"]) for rate in rates]
        out[label] = after
        print(f"  {label:38s} +{row['ms']:5.0f} ms: " + ", ".join(
            f"{rate:.0f} -> {a:.1f} img/s" for rate, a in zip(rates, after, strict=True)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn", action="store_true", help="also time dlib's CNN detector (minutes)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--only", choices=("signal",), help="only the face signal: distances, its curve, queries")
    args = parser.parse_args()
    if (reason := faces.available()) is not None:
        sys.exit(reason)
    start = time.perf_counter()
    faces._load()
    print(f"models loaded in {time.perf_counter() - start:.2f} s")
    photos = load_photos()
    results = {}
    if args.only is None:
        results["detection"] = bench_detection(photos, args.cnn)
        results["time"] = bench_time(photos)
    results["pairs"] = bench_pairs(photos)
    if args.only is None:
        results["index"] = bench_index_cost(results["time"])
        results["people"] = bench_people(photos)
    with tempfile.TemporaryDirectory() as work:
        results["query"] = bench_query_by_face(photos, Path(work))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
