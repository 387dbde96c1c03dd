"""Issue #20: what the files already say (folders, captions, XMP sidecars) and where they were taken (GPS), measured.

A camera roll made from the caption set's real photos (benchmarks/data/captions150.json, 169 photos), re-encoded
as JPEG under neutral camera names (Pictures/DCIM/100CANON/IMG_0001.jpg ...), each carrying its own first caption
(half as EXIF ImageDescription, half in an XMP sidecar: NAME.xmp and NAME.EXT.xmp alternately), 65 with EXIF GPS
at famous sights of 13 cities in 7 countries (a few hundred metres of jitter), 30 in six trip folders without GPS
("2019-07 Lisbon trip", "Grandma's 80th birthday", ...), the rest without GPS in the camera folder. A second
library holds 10,000 Fashion-MNIST test images as PNGs under neutral names in 100 dated event folders (a fifth
with an XMP caption sidecar, 30 % with GPS in an eXIf chunk).

1. ``index``: a full ``Library.index`` of the camera roll with ``describe`` (the pass that reads the headers,
   builds the texts and places) timed inside it, and beside it the same index with the pass replaced by a no-op;
   a re-index with nothing changed; at 10k, the first index's describe per file and the no-change re-index.
2. ``search``: a text query's latency at 10k with and without the ``metadata`` signal (same library, interleaved),
   numpy's BLAS as installed and limited to one thread (threadpoolctl), the parts of those searches, and the
   metadata signal's rankings alone (``semantic_hits``, ``keyword_hits``): re-run it with ``--only search``.
3. ``quality``: (a) the 2 / 3 rarest words of each caption (document frequency across the 169 captions, ties by
   position; caption order kept, lower case) find that photo: R@1 / R@5, with the metadata signal and pictures
   only, and pages that say nothing matched; (b) each city and country name typed alone: precision and recall of
   the returned set against the photos given GPS there; (c) a trip folder's distinctive word: recall@5 / @10 and
   the page as shown.

Usage: python benchmarks/bench_file_words.py [--work DIR] [--only index|search|quality] [--big 10000]
       [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import product
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from bench_captions import materialise  # noqa: E402
from bench_learning import machine  # noqa: E402
from conftest import FASHION_CLASSES, FASHION_MNIST, fashion_mnist  # noqa: E402
from PIL import Image  # noqa: E402

import framefind.library  # noqa: E402
import framefind.media.places  # noqa: E402
import framefind.search.hybrid as hybrid  # noqa: E402
import framefind.search.searcher  # noqa: E402
import framefind.store.describe as describing  # noqa: E402
from framefind import Library, Query  # noqa: E402
from framefind.search.hybrid import CANDIDATES, SEMANTIC_FLOOR  # noqa: E402
from framefind.store.texts import METADATA, STOPWORDS, keyword_hits, semantic_hits  # noqa: E402

SEED = 20
# Famous sights (lat, lon) per city; a photo "taken in" a city stands at one of them, a few hundred metres off.
CITIES = {
    ("Paris", "France"): [(48.8530, 2.3499), (48.8584, 2.2945), (48.8867, 2.3431), (48.8606, 2.3376)],
    ("Lyon", "France"): [(45.7623, 4.8226), (45.7578, 4.8320)],
    ("Marseille", "France"): [(43.2951, 5.3745), (43.2840, 5.3712)],
    ("Rome", "Italy"): [(41.8902, 12.4922), (41.9009, 12.4833), (41.9022, 12.4539)],
    ("Florence", "Italy"): [(43.7731, 11.2560), (43.7680, 11.2531)],
    ("Venice", "Italy"): [(45.4343, 12.3388), (45.4380, 12.3359)],
    ("Berlin", "Germany"): [(52.5163, 13.3777), (52.5219, 13.4132)],
    ("Munich", "Germany"): [(48.1374, 11.5755), (48.1642, 11.6056)],
    ("Barcelona", "Spain"): [(41.4036, 2.1744), (41.4145, 2.1527), (41.3809, 2.1735)],
    ("Tokyo", "Japan"): [(35.6595, 139.7005), (35.7148, 139.7967)],
    ("Kyoto", "Japan"): [(34.9949, 135.7850), (34.9671, 135.7727)],
    ("New York", "United States"): [(40.7580, -73.9855), (40.7812, -73.9665), (40.7061, -73.9969)],
    ("San Francisco", "United States"): [(37.8199, -122.4783), (37.8080, -122.4177)],
}
PER_CITY = 5
JITTER = 0.003  # degrees (~300 m): where in the square the photo was taken
TRIPS = {"2019-07 Lisbon trip": "lisbon", "Grandma's 80th birthday": "grandma", "2021-08 Iceland road trip": "iceland",
         "Camping at Yosemite 2018": "yosemite", "Jake's graduation": "graduation", "Anna and Tom's wedding": "anna"}
PER_TRIP = 5
EVENTS = ["beach holiday", "ski week", "garden party", "school play", "road trip", "family visit", "hiking weekend",
          "city break", "camping", "birthday", "wedding", "new house", "Christmas", "summer fair", "museum day"]
SEARCH_QUERIES = 30
WITHOUT = ("visual", "speech", "text")  # every signal but the files' words
BLAS = ("BLAS as installed", "BLAS 1 thread")


@dataclass
class Photo:
    path: Path
    caption: str
    stored: str  # "exif", "NAME.xmp" or "NAME.EXT.xmp"; "none": no caption
    city: tuple[str, str] | None = None  # (city, country) of its GPS
    trip: str | None = None


@dataclass
class Timings:
    """Seconds spent in the describe pass and its steps during one index run."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    minutes = (value - int(value)) * 60
    return float(int(value)), float(int(minutes)), round((minutes - int(minutes)) * 60, 4)


def camera_exif(shot: int) -> Image.Exif:
    """What every camera writes: its model and the time of the shot (so copies of one picture differ in bytes)."""
    exif = Image.Exif()
    exif[0x0110] = "Canon EOS 80D"
    month, day = 1 + shot // 1000 % 12, 1 + shot // 40 % 28
    exif[0x0132] = f"2019:{month:02d}:{day:02d} 10:{shot // 60 % 60:02d}:{shot % 60:02d}"
    return exif


def gps_exif(exif: Image.Exif, lat: float, lon: float) -> None:
    exif.get_ifd(0x8825).update({1: "N" if lat >= 0 else "S", 2: _dms(lat), 3: "E" if lon >= 0 else "W",
                                 4: _dms(lon)})


def xmp_sidecar(caption: str) -> bytes:
    """An XMP sidecar as darktable / digiKam write one: dc:description."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
            f'<rdf:li xml:lang="x-default">{escape(caption)}</rdf:li></rdf:Alt></dc:description>'
            '</rdf:Description></rdf:RDF></x:xmpmeta>').encode()


def caption_roll(work: Path) -> list[Photo]:
    """The caption set as a camera roll (see the module docstring): each photo with its own first caption."""
    spec = json.loads((HERE / "data" / "captions150.json").read_text())
    sources = work / "caption-photos"
    materialise({**spec, "by_id": {p["id"]: p for p in spec["photos"]}}, sources)
    chosen = sorted(spec["photos"], key=lambda p: p["id"])
    random.Random(SEED).shuffle(chosen)
    return camera_roll(work / "captions" / "Pictures", [(sources / p["file"], p["captions"][0]) for p in chosen])


def wallpaper_roll(work: Path, copies: int, captioned: bool = True) -> list[Photo]:
    """Debian's 2-5 MP wallpapers (as bench_index.py finds them), ``copies`` byte-distinct copies each (their
    captions and GPS differ), with the caption set's captions in turn: the cost of camera-sized photos. Not
    ``captioned``: as a phone or camera leaves them (trip folders, camera names and times, GPS; no caption)."""
    from bench_index import source_jpegs

    spec = json.loads((HERE / "data" / "captions150.json").read_text())
    captions = [q["text"] for q in spec["queries"]] if captioned else [""]
    sources = [path for _ in range(copies) for path in source_jpegs()]
    name = "wallpapers" if captioned else "wallpapers-plain"
    return camera_roll(work / name / "Pictures", [(path, captions[i % len(captions)])
                                                  for i, path in enumerate(sources)])


def camera_roll(root: Path, sources: list[tuple[Path, str]]) -> list[Photo]:
    """Photos as a camera and an editor leave them: neutral names, a caption each (EXIF or XMP sidecar), the first
    30 in trip folders, the next 65 with GPS at a city's sights, the rest in the camera folder; written once."""
    jitter = random.Random(SEED + 1)
    slots = [(None, trip) for trip in TRIPS for _ in range(PER_TRIP)]
    slots += [(city, None) for city in CITIES for _ in range(PER_CITY)]
    photos = []
    for i, (source, caption) in enumerate(sources):
        city, trip = slots[i] if i < len(slots) else (None, None)
        folder = root / trip if trip else root / "DCIM" / "100CANON"
        stored = ("exif", "NAME.xmp", "exif", "NAME.EXT.xmp")[i % 4] if caption else "none"
        photos.append(Photo(folder / f"IMG_{i + 1:04d}.jpg", caption, stored, city, trip))
        sight = CITIES[city][i % len(CITIES[city])] if city else None
        if sight is not None:
            sight = (sight[0] + jitter.uniform(-JITTER, JITTER), sight[1] + jitter.uniform(-JITTER, JITTER))
        _write(photos[-1], source, sight, i)
    return photos


def _write(photo: Photo, source: Path, gps: tuple[float, float] | None, shot: int) -> None:
    if photo.path.exists():
        return
    exif = camera_exif(shot)
    if photo.stored == "exif":
        exif[0x010E] = photo.caption
    if gps is not None:
        gps_exif(exif, *gps)
    photo.path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").save(photo.path, "JPEG", quality=90, exif=exif)
    if photo.stored in ("NAME.xmp", "NAME.EXT.xmp"):
        name = photo.path.with_suffix(".xmp") if photo.stored == "NAME.xmp" else Path(f"{photo.path}.xmp")
        name.write_bytes(xmp_sidecar(photo.caption))


def big_roll(work: Path, n: int) -> Path:
    """``n`` Fashion-MNIST PNGs in 100 dated event folders, neutral names, a fifth captioned, 30 % with GPS."""
    root = work / f"big{n}" / "Pictures"
    if root.exists():
        return root
    if not FASHION_MNIST.is_dir():
        raise SystemExit(f"bench_file_words: {FASHION_MNIST} missing: apt-get install dataset-fashion-mnist "
                         "(make system-deps)")
    spec = json.loads((HERE / "data" / "captions150.json").read_text())
    captions = [q["text"] for q in spec["queries"]]
    sights = [sight for places in CITIES.values() for sight in places]
    images, labels = fashion_mnist(n)
    for i, pixels in enumerate(images):
        event = EVENTS[(i % 100) % len(EVENTS)]
        folder = root / f"{2010 + (i % 100) // 10}-{(i % 100) % 12 + 1:02d} {event} {i % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        exif = camera_exif(i)
        if i % 10 < 3:
            gps_exif(exif, *sights[i % len(sights)])
        path = folder / f"IMG_{i:05d}.png"
        Image.fromarray(pixels).save(path, exif=exif)
        if i % 5 == 0:
            path.with_suffix(".xmp").write_bytes(xmp_sidecar(f"{captions[i % len(captions)]} "
                                                             f"({FASHION_CLASSES[labels[i]]})"))
    return root


DESCRIBE = {(framefind.library, "describe"): "describe", (describing, "_read_headers"): "read headers",
            (describing, "_stale"): "signatures", (describing, "_build"): "build",
            (describing, "_embed_missing"): "embed texts", (framefind.media.places, "locate"): "geocode"}
SEARCH = {(framefind.search.searcher, "with_texts"): "with_texts", (hybrid, "text_rankings"): "text_rankings",
          (hybrid, "complete_prefixes"): "complete_prefixes", (hybrid, "fuse"): "fuse"}


@contextmanager
def timed(patches: dict, timings: Timings, noop: dict | None = None):
    """Each ``(module, function)`` of ``patches`` timed into ``timings`` under its name, or replaced by the
    function given in ``noop``; restored afterwards."""
    saved = {key: getattr(*key) for key in patches}

    def timer(name, function):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings.add(name, time.perf_counter() - start)
        return run

    for key, name in patches.items():
        setattr(*key, (noop or {}).get(key) or timer(name, saved[key]))
    try:
        yield timings
    finally:
        for key, function in saved.items():
            setattr(*key, function)


def timed_index(library_dir: Path, folder: Path, skip: bool = False) -> tuple[float, Timings, object]:
    timings = Timings()
    noop = {(framefind.library, "describe"): lambda *args, **kwargs: describing.DescribeReport()} if skip else None
    with Library.open(library_dir) as library, timed(DESCRIBE, timings, noop):
        start = time.perf_counter()
        report = library.index([folder])
        total = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"{folder}: {report.failed} files failed to index")
    return total, timings, report.described


def warm_files(folder: Path) -> None:
    """Read every file once, so the first index does not pay for the disk alone."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.read_bytes()


def index_cost(name: str, photos: list[Photo], work: Path, rounds: int) -> dict:
    """Fresh indexes of one roll, with the describe pass (timed inside) and with it a no-op, alternating;
    then a re-index with nothing changed. Medians over ``rounds``."""
    root = work / name / "Pictures"  # where caption_roll / wallpaper_roll wrote it
    warm_files(root)
    timed_index(work / f"lib-{name}-warm", root)  # models loaded, files read: the rounds start alike
    shutil.rmtree(work / f"lib-{name}-warm")
    runs: dict[str, list] = {"with": [], "without": []}
    for r in range(rounds):
        for mode in ("with", "without") if r % 2 == 0 else ("without", "with"):
            directory = work / f"lib-{name}-{mode}"
            shutil.rmtree(directory, ignore_errors=True)
            runs[mode].append(timed_index(directory, root, skip=mode == "without"))
    again = [timed_index(work / f"lib-{name}-with", root) for _ in range(3)]
    steps = defaultdict(list)
    for _, timings, _ in runs["with"]:
        for step, seconds in timings.seconds.items():
            steps[step].append(seconds)
    described = runs["with"][-1][2]
    return {"files": len(photos), "megapixels": _megapixels(photos), "rounds": rounds,
            "total": statistics.median(t for t, _, _ in runs["with"]),
            "noop": statistics.median(t for t, _, _ in runs["without"]),
            "steps": {step: statistics.median(values) for step, values in steps.items()},
            "described": (described.read, described.built, described.located),
            "again": statistics.median(t for t, _, _ in again),
            "again_describe": statistics.median(timings.seconds["describe"] for _, timings, _ in again),
            "library": work / f"lib-{name}-with"}


def _megapixels(photos: list[Photo]) -> float:
    sizes = []
    for photo in photos:
        with Image.open(photo.path) as image:
            sizes.append(image.size[0] * image.size[1] / 1e6)
    return statistics.median(sizes)


def big_cost(work: Path, n: int) -> dict:
    """The 10k library: its first index (describe per file) and a re-index with nothing changed."""
    root = big_roll(work, n)
    warm_files(root)
    directory = work / f"lib-big{n}"
    shutil.rmtree(directory, ignore_errors=True)
    total, timings, described = timed_index(directory, root)
    again = [timed_index(directory, root) for _ in range(3)]
    texts = metadata_texts(directory)
    return {"files": n, "total": total, "steps": dict(timings.seconds),
            "described": (described.read, described.built, described.located), "texts": texts,
            "again": statistics.median(t for t, _, _ in again),
            "again_describe": statistics.median(timings.seconds["describe"] for _, timings, _ in again),
            "again_steps": {step: statistics.median(t.seconds[step] for _, t, _ in again)
                            for step in again[0][1].seconds},
            "library": directory}


def search_cost(directory: Path, rounds: int = 5) -> dict:
    """Text queries (the caption set's first ``SEARCH_QUERIES`` captions) with and without the metadata signal,
    interleaved, warm: as typed anew (the query-vector cache emptied first: every search embeds its words) and
    repeated (that cache holds them), each with numpy's BLAS as it comes and limited to one thread; then the
    metadata signal's two rankings alone. Median and p90 in ms; the parts of the searches in mean ms."""
    spec = json.loads((HERE / "data" / "captions150.json").read_text())
    texts = [q["text"] for q in spec["queries"][:SEARCH_QUERIES]]
    times: dict[str, list[float]] = defaultdict(list)
    parts: dict[str, Timings] = defaultdict(Timings)
    with Library.open(directory, create=False) as library:
        encoder, catalog, cache = library.text_encoder, library.catalog, library._searcher.cache
        vectors = {text: encoder.embed_query([text])[0] for text in texts}
        for text in texts:  # warm: graphs, scans, the OS's pages
            library.search_page(Query.of(text))
        for _ in range(rounds):
            for text in texts:
                for blas, mode in product(BLAS, ("with", "without")):
                    for regime in ("new", "repeated"):
                        if regime == "new":
                            cache._queries.clear()  # the LRU of typed words' vectors (search/cache.py)
                        key = f"{blas}|{mode} {regime}"
                        with blas_threads(blas), timed(SEARCH, parts[key]):
                            start = time.perf_counter()
                            library.search_page(Query.of(text, signals=None if mode == "with" else WITHOUT))
                            times[key].append(time.perf_counter() - start)
                alone = (("semantic_hits", partial(semantic_hits, catalog, vectors[text], (METADATA,), SEMANTIC_FLOOR,
                                                   CANDIDATES)),
                         ("keyword_hits", partial(keyword_hits, catalog, text, (METADATA,), CANDIDATES, vectors[text])),
                         ("embed_query", partial(encoder.embed_query, [text])))
                for (name, call), blas in product(alone, BLAS):
                    with blas_threads(blas):
                        start = time.perf_counter()
                        call()
                        times[f"{blas}|{name}"].append(time.perf_counter() - start)
    searches = rounds * len(texts)
    return {name: (_ms(values, 0.5), _ms(values, 0.9)) for name, values in times.items()} | {
        "queries": len(texts), "rounds": rounds,
        "parts": {key: {part: 1000 * seconds / searches for part, seconds in timings.seconds.items()}
                  for key, timings in parts.items() if "without" not in key}}


@contextmanager
def blas_threads(blas: str):
    """numpy's BLAS as it comes, or limited to one thread (threadpoolctl, where installed)."""
    if blas == BLAS[0]:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rarest_words(photos: list[Photo], n: int) -> list[str]:
    """Each caption's ``n`` rarest words by document frequency across the captions (stopwords, words under 3
    letters and numbers left out; ties: the earlier word), in the caption's order, lower case."""
    words = [list(dict.fromkeys(w for w in re.findall(r"[a-z]+", p.caption.lower())
                                if w not in STOPWORDS and len(w) > 2)) for p in photos]
    df = Counter(w for ws in words for w in ws)
    out = []
    for ws in words:
        chosen = set(sorted(ws, key=lambda w: (df[w], ws.index(w)))[:n])
        out.append(" ".join(w for w in ws if w in chosen))
    return out


def caption_quality(library: Library, photos: list[Photo]) -> list[dict]:
    """(a): per query length and signals, R@1 / R@5 (uncut ranking), pages that said nothing matched, and
    R@1 of the page as shown (cutoff on)."""
    rows = []
    for n in (2, 3):
        queries = rarest_words(photos, n)
        for label, signals in (("pictures + the files' words", None), ("pictures only", ("visual",))):
            ranks, nothing, shown, read = [], 0, 0, 0
            for text, photo in zip(queries, photos, strict=True):
                page = library.search_page(Query.of(text, k=5, cutoff=False, learn=False, signals=signals))
                found = [Path(r.path) for r in page.results]
                ranks.append(found.index(photo.path) + 1 if photo.path in found else None)
                cut = library.search_page(Query.of(text, k=5, learn=False, signals=signals))
                nothing += cut.nothing_matched
                shown += bool(cut.results) and Path(cut.results[0].path) == photo.path
                read += page.places is not None or page.dates is not None
            rows.append({"words": n, "signals": label, "queries": len(queries),
                         "R@1": sum(r == 1 for r in ranks) / len(ranks),
                         "R@5": sum(r is not None for r in ranks) / len(ranks),
                         "nothing": nothing, "shown_first": shown, "filters_read": read,
                         "examples": queries[:3]})
    return rows


def place_quality(library: Library, photos: list[Photo]) -> list[dict]:
    """(b): each city and country name typed alone; the returned set against the photos given GPS there."""
    where = {Path(path): ", ".join(x for x in (city, region, county, country) if x) for path, city, region, county,
             country in library.catalog.db.execute("SELECT f.path, p.city, p.region, p.county, p.country FROM files f "
                                                   "JOIN places p ON p.hash = f.hash WHERE f.status = 'ok'")}
    names = [(city, lambda p, c=city: p.city is not None and p.city[0] == c) for city, _ in CITIES]
    names += [(country, lambda p, c=country: p.city is not None and p.city[1] == c)
              for country in dict.fromkeys(country for _, country in CITIES)]
    rows = []
    for name, taken in names:
        truth = {p.path for p in photos if taken(p)}
        page = library.search_page(Query.of(name, k=len(photos), learn=False))
        returned = {Path(r.path) for r in page.results}
        hit = returned & truth
        rows.append({"query": name, "read": page.places, "truth": len(truth), "returned": len(returned),
                     "precision": len(hit) / len(returned) if returned else 0.0, "recall": len(hit) / len(truth),
                     "missed": sorted(f"{p.name} ({where.get(p, 'no place')})" for p in truth - returned),
                     "extra": sorted(f"{p.name} ({where.get(p, 'no GPS')})" for p in returned - truth)})
    return rows


def folder_quality(library: Library, photos: list[Photo]) -> list[dict]:
    """(c): a trip folder's distinctive word, as typed: recall@5 / @10 (uncut), and the page as shown."""
    rows = []
    for trip, word in TRIPS.items():
        typed = word.capitalize() if word in ("lisbon", "grandma", "iceland", "yosemite", "anna") else word
        truth = {p.path for p in photos if p.trip == trip}
        ranked = [Path(r.path) for r in library.search(Query.of(typed, k=10, cutoff=False, learn=False))]
        page = library.search_page(Query.of(typed, k=10, learn=False))
        shown = [Path(r.path) for r in page.results]
        rows.append({"folder": trip, "query": typed, "photos": len(truth), "read": page.places,
                     "R@5": len(truth & set(ranked[:5])) / len(truth), "R@10": len(truth & set(ranked)) / len(truth),
                     "shown": len(shown), "shown_right": len(truth & set(shown))})
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown_index(costs: dict[str, dict], big: dict | None) -> list[str]:
    out = ["| roll | files (median MP) | index with describe, s | of it describe, s (share) | read headers | "
           "signatures | build (embed texts / geocode) | index with describe a no-op, s | difference (share) | "
           "re-index, nothing changed: total / describe, ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in costs.items():
        st = c["steps"]
        out.append(f"| {name} | {c['files']} ({c['megapixels']:.1f}) | {c['total']:.2f} | {st['describe']:.2f} "
                   f"({_pct(st['describe'] / c['total'])}) | {st.get('read headers', 0):.3f} | "
                   f"{st.get('signatures', 0):.3f} | {st.get('build', 0):.2f} ({st.get('embed texts', 0):.2f} / "
                   f"{st.get('geocode', 0):.3f}) | {c['noop']:.2f} | {c['total'] - c['noop']:.2f} "
                   f"({_pct((c['total'] - c['noop']) / c['total'])}) | {1000 * c['again']:.0f} / "
                   f"{1000 * c['again_describe']:.1f} |")
    if big:
        st, n = big["steps"], big["files"]
        out.append(f"| {n:,} Fashion-MNIST PNGs | {n} (0.0) | {big['total']:.1f} | {st['describe']:.2f} "
                   f"({_pct(st['describe'] / big['total'])}) | {st.get('read headers', 0):.2f} | "
                   f"{st.get('signatures', 0):.2f} | {st.get('build', 0):.2f} ({st.get('embed texts', 0):.2f} / "
                   f"{st.get('geocode', 0):.3f}) | - | - | {1000 * big['again']:.0f} / "
                   f"{1000 * big['again_describe']:.0f} |")
        out += ["", f"At {n:,}: describe {1000 * st['describe'] / n:.2f} ms per file on the first index "
                f"({1000 * (st['describe'] - st.get('embed texts', 0)) / n:.2f} ms without embedding the "
                f"{big['texts'][1]:,} distinct texts of {big['texts'][0]:,} stored); contents read / built / located: "
                f"{big['described']}; the no-change re-index's describe: "
                + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in big["again_steps"].items()) + "."]
    return out


def markdown_search(s: dict, texts: tuple[int, int] | None) -> list[str]:
    held = f" ({texts[0]:,} metadata texts, {texts[1]:,} distinct)" if texts else ""
    out = [f"{s['queries']} caption queries x {s['rounds']} rounds, interleaved, warm{held}; median / p90 ms:", "",
           "| numpy's BLAS | words | with the metadata signal | without it (visual, speech, text) |",
           "|---|---|---|---|"]
    for blas, (regime, label) in product(BLAS, (("new", "typed anew (query-vector cache emptied)"),
                                                ("repeated", "repeated"))):
        with_, without = s[f"{blas}|with {regime}"], s[f"{blas}|without {regime}"]
        out.append(f"| {blas} | {label} | {with_[0]:.1f} / {with_[1]:.1f} | {without[0]:.1f} / {without[1]:.1f} |")
    out += ["", "Inside the searches with the metadata signal, mean ms per search:"]
    for key, found in s["parts"].items():
        rest = found.get("with_texts", 0) - sum(v for k, v in found.items() if k != "with_texts")
        out.append(f"- {key.replace('|', ', ')}: `with_texts` {found.get('with_texts', 0):.2f} = " + " + ".join(
            f"`{k}` {v:.2f}" for k, v in found.items() if k != "with_texts") + f" + the rest {rest:.2f} (embedding "
            "the words again, the filter's contents)")
    for blas in BLAS:
        out.append(f"- alone, {blas} (median / p90): " + ", ".join(
            f"`{k}` {s[f'{blas}|{k}'][0]:.2f} / {s[f'{blas}|{k}'][1]:.2f}"
            for k in ("semantic_hits", "keyword_hits", "embed_query")))
    return out


def markdown_quality(captions: list[dict], places: list[dict], folders: list[dict]) -> list[str]:
    out = ["| caption words | signals | queries | R@1 | R@5 | right photo first on the page as shown | "
           "\"nothing matched\" | date or place filters read |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['words']} rarest | {r['signals']} | {r['queries']} | {r['R@1']:.3f} | {r['R@5']:.3f} | "
            f"{r['shown_first']} | {r['nothing']} | {r['filters_read']} |" for r in captions]
    pairs = zip(captions[0]["examples"], captions[2]["examples"], strict=True)
    out += ["", "Examples (2 / 3 words): " + "; ".join(f"'{a}' / '{b}'" for a, b in pairs) + ".", "",
            "| typed | read as | photos taken there | returned | precision | recall | missed (where it was placed) |",
            "|---|---|---|---|---|---|---|"]
    for r in places:
        extra = f"; extra: {', '.join(r['extra'])}" if r["extra"] else ""
        out.append(f"| {r['query']} | {r['read'] or 'no place: words'} | {r['truth']} | {r['returned']} | "
                   f"{r['precision']:.2f} | {r['recall']:.2f} | {'; '.join(r['missed']) or '-'}{extra} |")
    for kind, rows in (("cities", places[:len(CITIES)]), ("countries", places[len(CITIES):])):
        truth, hit = sum(r["truth"] for r in rows), sum(round(r["recall"] * r["truth"]) for r in rows)
        returned = sum(r["returned"] for r in rows)
        out.append(f"| **{kind}** |  | {truth} | {returned} | {hit / max(returned, 1):.2f} | {hit / truth:.2f} |  |")
    out += ["", "| trip folder (no GPS) | typed | photos | R@5 | R@10 | page as shown: results / of them right |",
            "|---|---|---|---|---|---|"]
    out += [f"| {r['folder']} | {r['query']} | {r['photos']} | {r['R@5']:.2f} | {r['R@10']:.2f} | "
            f"{r['shown']} / {r['shown_right']} |" for r in folders]
    return out


def source_line() -> str:
    """The commit measured, and whether framefind/ differs from it in the tree that ran."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True).stdout.strip()
    dirty = " (framefind/ modified)" if git("status", "--porcelain", "--", "framefind") else ""
    return f"{git('rev-parse', '--short', 'HEAD') or 'no git'}{dirty}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="where the rolls and libraries go (kept; default: a temp dir)")
    parser.add_argument("--only", choices=("index", "search", "quality"), help="one part (search: the 10k library)")
    parser.add_argument("--big", type=int, default=10000, help="files in the large library (Fashion-MNIST test set)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh indexes per roll and mode")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args()
    if not 100 <= args.big <= 10000:
        raise SystemExit("--big: 100 to 10000 (the Fashion-MNIST test set's size)")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-file-words-"))
    work.mkdir(parents=True, exist_ok=True)
    started, load = time.perf_counter(), _load()
    lines = [f"{machine()}; framefind {source_line()}; `python benchmarks/bench_file_words.py"
             f"{' --only ' + args.only if args.only else ''}`.", ""]
    captions = caption_roll(work) if args.only != "search" else []
    big_library = work / f"lib-big{args.big}"
    if args.only in (None, "index"):
        costs = {"caption set": index_cost("captions", captions, work, args.rounds),
                 "wallpapers (2-5 MP)": index_cost("wallpapers", wallpaper_roll(work, 6), work, args.rounds),
                 "wallpapers, no captions": index_cost("wallpapers-plain", wallpaper_roll(work, 6, False), work,
                                                       args.rounds)}
        lines += ["### Indexing cost", ""] + markdown_index(costs, big_cost(work, args.big)) + [""]
    if args.only in (None, "search"):
        if not (big_library / "catalog.sqlite").exists():
            big_cost(work, args.big)
        lines += [f"### Search cost at {args.big:,} files", ""]
        lines += markdown_search(search_cost(big_library), metadata_texts(big_library)) + [""]
    if args.only in (None, "quality"):
        if args.only == "quality":
            shutil.rmtree(work / "lib-captions-with", ignore_errors=True)
            timed_index(work / "lib-captions-with", work / "captions" / "Pictures")
        with Library.open(work / "lib-captions-with", create=False) as library:
            lines += ["### Quality", ""] + markdown_quality(caption_quality(library, captions),
                                                            place_quality(library, captions),
                                                            folder_quality(library, captions)) + [""]
    lines.append(f"Wall time {time.perf_counter() - started:.0f} s; load average {load} at the start, "
                 f"{_load()} at the end.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def metadata_texts(directory: Path) -> tuple[int, int]:
    """(metadata texts stored, distinct ones) in a library."""
    with Library.open(directory, create=False) as library:
        return library.catalog.db.execute("SELECT COUNT(*), COUNT(DISTINCT text) FROM texts WHERE source = ?",
                                          (METADATA,)).fetchone()


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
