"""Issue #19: one calibrated relevance score and a cutoff that holds, fitted and measured on real data.

Three galleries, each indexed once under WORK: the caption set (benchmarks/data/captions150.json, 169 photos,
tune/test split by photo), 1,000 Fashion-MNIST test images (class names as queries) and a hybrid folder of photos and
videos with real speech and on-screen text (benchmarks/hybrid_media.py, queries in data/hybrid_queries.json,
indexed with --transcribe --ocr). Queries about things no picture shows, says or writes (``ABSENT``) are split
tune/test alternately.

1. ``features``: every query's top ``DEPTH`` results, uncut, with each signal's evidence and whether the result is
   relevant (JSON lines);
2. ``fit``: logistic curves (IRLS, numpy) for the visual signal (caption tune split + tune absent concepts) and for
   phrases (hybrid tune split), printed as the constants of framefind/search/relevance.py;
3. ``measure``: with the shipped constants, per gallery and split: AUC of the top score (right first answers
   against absent-concept queries), absent queries answered "nothing matched", R@1/R@5 with and without the cutoff,
   a cutoff sweep, and the score AUC of 0.6.0's rule (RRF in the hybrid library, the cosine elsewhere) for comparison.

Usage: python benchmarks/bench_relevance.py [--work DIR] [--fit] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from bench_captions import materialise  # noqa: E402
from bench_learning import WORDS, machine  # noqa: E402
from conftest import FASHION_CLASSES, write_fashion_pngs  # noqa: E402

from framefind import Library, Query  # noqa: E402
from framefind.search import relevance  # noqa: E402
from framefind.search.cutoff import calibration  # noqa: E402
from framefind.search.engine import query_vector  # noqa: E402

DEPTH = 20
# Things no photo of the caption set shows (checked against every caption), nor any Fashion-MNIST class.
ABSENT = ["a fire truck", "a violin", "a pizza", "a snowboarder", "a wedding cake", "a banana", "a toaster",
          "a tennis racket", "a zebra", "a penguin", "a grand piano", "a laptop computer", "a hamburger",
          "a teddy bear", "a sewing machine", "a shark", "a hot air balloon", "a microwave oven", "a pineapple",
          "a submarine", "a kangaroo", "a helicopter", "a crowded subway train", "a camel in the desert",
          "a dentist's chair", "a skateboard ramp", "an octopus", "a refrigerator", "a windmill", "a scuba diver",
          "a polar bear", "a vacuum cleaner", "a strawberry cake", "a ferris wheel", "a typewriter",
          "an ice hockey game", "a bride in a wedding gown", "a fireworks display"]
SOUP = ["zzqx flurble", "blorp snarfle quux", "xkcdv wqpz", "mmrgl fthagn", "plonk zibber vrask", "qwv jrrk",
        "fnord blixa", "trazzle ump vex"]  # letter soup: names nothing at all
CUTOFFS = (0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.1)


@dataclass
class Judged:
    """One query's uncut results: per result (score shown, relevant?, evidence per signal)."""

    gallery: str
    split: str
    text: str
    present: bool
    scores: list[float] = field(default_factory=list)
    relevant: list[bool] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)  # signal -> (cosine, features...) of each result
    cut: list[bool] = field(default_factory=list)  # the relevance of each result the cut page shows, in order
    nothing: bool = False  # the cut page said "nothing matched"
    support: float | None = None  # the best score without weak keyword hits (what decides "nothing matched")


def galleries(work: Path) -> dict:
    """name -> (Library, [(text, is_relevant(path), split, present)])."""
    spec = json.loads((HERE / "data" / "captions150.json").read_text())
    photos, fashion = work / "captions", work / "fashion"
    materialise({**spec, "by_id": {p["id"]: p for p in spec["photos"]}}, photos)
    if not fashion.exists():
        write_fashion_pngs(fashion, 1000)
    absent = [(text, lambda path: False, ("tune", "test")[i % 2], False) for i, text in enumerate(ABSENT + SOUP)]
    captions = [(q["text"], _in({str((photos / r).resolve()) for r in q["relevant"]}), q["split"], True)
                for q in spec["queries"]]
    classes = [(WORDS[c], lambda path, c=c: Path(path).stem.split("-", 1)[1] == c, "test", True)
               for c in FASHION_CLASSES]
    out = {"captions": (_indexed(work / "lib-captions", photos), captions + absent),
           "fashion": (_indexed(work / "lib-fashion", fashion), classes + absent)}
    hybrid = _hybrid(work)
    if hybrid is not None:
        out["hybrid"] = hybrid
    return out


def _in(paths: set[str]):
    return lambda path: str(Path(path).resolve()) in paths


def _indexed(directory: Path, folder: Path, **options) -> Library:
    library = Library.open(directory)
    report = library.index([folder], **options)
    if report.failed:
        raise SystemExit(f"{folder}: {report.failed} files failed to index")
    return library


def _hybrid(work: Path):
    """The hybrid gallery and its queries, or None when its media cannot be made here (named on stderr)."""
    try:
        from hybrid_media import build_hybrid
    except ImportError as exc:
        print(f"bench_relevance: no hybrid gallery ({exc})", file=sys.stderr)
        return None
    media = build_hybrid(work / "hybrid")
    spec = json.loads((HERE / "data" / "hybrid_queries.json").read_text())
    queries = [(q["text"], _in({str((media / r).resolve()) for r in q["relevant"]}), q["split"],
                q["kind"] == "present") for q in spec["queries"]]
    return _indexed(work / "lib-hybrid", media, transcribe=True, ocr=True), queries


def judge(name: str, library: Library, text: str, relevant, split: str, present: bool) -> Judged:
    """One query, uncut and without feedback: each result's score, relevance and per-signal evidence
    (visual: cosine, then the features of the curve that scored it and of the no-vocabulary curve)."""
    query = Query.of(text, k=DEPTH, cutoff=False, learn=False).checked()
    page = library.search_page(query)
    judged = Judged(name, split, text, present)
    cut = library.search_page(Query.of(text, k=DEPTH, learn=False))
    judged.cut, judged.nothing = [bool(relevant(r.path)) for r in cut.results], cut.nothing_matched
    context, plain = _contexts(library, query)
    for result in page.results:
        evidence = {}
        for match in result.matches:
            if match.signal == "visual":
                cosine = np.array([match.score])
                evidence["visual"] = [match.score, *context.features(cosine)[0].tolist()]
                evidence["plain"] = plain.features(cosine)[0].tolist()
            else:
                evidence[match.signal] = max(evidence.get(match.signal, [0.0]), [match.score])
        judged.scores.append(result.score)
        judged.relevant.append(bool(relevant(result.path)))
        judged.evidence.append(evidence)
    judged.support = max((r.score if r.support is None else r.support for r in page.results), default=0.0)
    return judged


def _contexts(library: Library, query: Query) -> tuple[relevance.VisualContext, relevance.VisualContext]:
    """The query's visual context as searches judge it, and the one a model without vocabulary would get."""
    searcher = library._searcher
    space, vector = query_vector(library.model, query, searcher.item_vector)
    found = calibration(library.catalog, library.model_id, space, searcher.calibrations)
    spread = found.spread(library.catalog, library.model_id, vector)
    return (searcher.visual_context(space, vector, query.words),
            relevance.VisualContext(True, None, True, *spread))


def fashion_train(work: Path) -> tuple[Library, Path]:
    """1,000 Fashion-MNIST *train* images (none of the t10k images the checks use), indexed."""
    from conftest import fashion_mnist
    from PIL import Image

    folder = work / "fashion-train"
    if not folder.exists():
        folder.mkdir(parents=True)
        images, labels = fashion_mnist(1000, "train")
        for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(pixels).save(folder / f"{i:05d}-{FASHION_CLASSES[label]}.png")
    return _indexed(work / "lib-fashion-train", folder), folder


def judge_examples(name: str, library: Library, folder: Path, split: str, every: int = 25) -> list[Judged]:
    """Example-image queries ("more like this" on every ``every``-th item): relevant = the same class."""
    out, searcher = [], library._searcher
    space = library.model.image_space
    for path in sorted(folder.iterdir())[::every]:
        kind = path.stem.split("-", 1)[1]
        key = library.search(image=path, k=1, cutoff=False)[0].key
        context = searcher.visual_context(space, searcher.item_vector(key, space)[None], None)
        judged = Judged(name, split, path.name, True)
        for result in library.similar(key, k=DEPTH, cutoff=False).results:
            cosine = next(m.score for m in result.matches if m.signal == "visual")
            judged.scores.append(result.score)
            judged.relevant.append(Path(result.path).stem.split("-", 1)[1] == kind)
            judged.evidence.append({"visual": [cosine, *context.features(np.array([cosine]))[0].tolist()]})
        out.append(judged)
    return out


def judge_all(gallery: dict) -> list[Judged]:
    return [judge(name, library, *q) for name, (library, queries) in gallery.items() for q in queries]


def irls(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3, rounds: int = 50) -> tuple[float, tuple[float, ...]]:
    """Logistic regression by iteratively reweighted least squares (a little ridge keeps it finite)."""
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-a @ w))
        h = a.T @ (a * (p * (1 - p))[:, None]) + ridge * np.eye(a.shape[1])
        step = np.linalg.solve(h, a.T @ (y - p) - ridge * w)
        w += step
        if np.abs(step).max() < 1e-8:
            break
    return round(float(w[0]), 4), tuple(round(float(v), 4) for v in w[1:])


def _rows(judged: list[Judged], gallery: str, signals: tuple[str, ...], column=lambda e: e) -> tuple:
    rows = [(column(e[s]), ok) for j in judged if j.gallery == gallery and j.split == "tune"
            for e, ok in zip(j.evidence, j.relevant, strict=True) for s in signals if s in e]
    return np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float)


def fit(judged: list[Judged], examples: list[Judged]) -> dict:  # noqa: D103
    """The curves, from tune splits only: words (caption tune), phrases (hybrid tune), example images
    (Fashion-MNIST *train* images, same class relevant)."""
    curves = {}
    x, y = _rows(judged, "captions", ("visual",), lambda e: e[1:2])
    curves["WORDS_VOCABULARY"] = irls(x, y)
    x, y = _rows(judged, "captions", ("plain",))
    curves["WORDS_PLAIN"], curves["WORDS_SMALL"] = irls(x, y), irls(x[:, :1], y)
    x, y = _rows(judged, "hybrid", ("speech", "text"))
    if len(x):
        curves["PHRASE"] = irls(x, y)
    x, y = _rows(examples, "fashion-examples", ("visual",), lambda e: e[1:])
    curves["EXAMPLE"], curves["EXAMPLE_SMALL"] = irls(x, y), irls(x[:, :1], y)
    return curves


BEFORE = """
import json, sys
from framefind import Library, Query
out = []
for gallery, directory, texts in json.load(sys.stdin):
    with Library.open(directory) as library:
        for text in texts:
            uncut = library.search_page(Query.of(text, k=20, cutoff=False, learn=False)).results
            cut = library.search_page(Query.of(text, k=20, learn=False))
            out.append({"gallery": gallery, "text": text, "scores": [r.score for r in uncut],
                        "paths": [r.path for r in uncut], "shown": [r.path for r in cut.results],
                        "nothing": cut.nothing_matched})
print(json.dumps(out))
"""


def judge_before(tree: Path, gallery: dict) -> list[Judged]:
    """The same queries through another framefind tree (``PYTHONPATH``), e.g. the commit before #19: its
    displayed scores uncut, and what its cutoff shows (``Judged.old`` = 1.0 for each result the cut page kept)."""
    import subprocess

    ask = [(name, str(library.directory), [q[0] for q in queries]) for name, (library, queries) in gallery.items()]
    proc = subprocess.run([sys.executable, "-c", BEFORE], input=json.dumps(ask), capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, cwd=tree, check=True)
    rows = {(r["gallery"], r["text"]): r for r in json.loads(proc.stdout)}
    out = []
    for name, (_, queries) in gallery.items():
        for text, relevant, split, present in queries:
            row = rows[(name, text)]
            judged = Judged(name, split, text, present, row["scores"], [bool(relevant(p)) for p in row["paths"]])
            judged.cut, judged.nothing = [bool(relevant(p)) for p in row["shown"]], row["nothing"]
            out.append(judged)
    return out


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half."""
    if not positive or not negative:
        return float("nan")
    pos, neg = np.array(positive)[:, None], np.array(negative)[None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def summary(judged: list[Judged]) -> dict:
    """AUC of the top score (right first answers against absent-concept queries), absent queries answered
    "nothing matched", R@1 / R@5 without the cutoff (--all) and with it, and the share of R@5 the cutoff costs."""
    present = [j for j in judged if j.present]
    absent = [j for j in judged if not j.present]
    right = [j.scores[0] for j in present if j.relevant[:1] == [True]]
    tops = [j.scores[0] if j.scores else 0.0 for j in absent]
    r5, r5_cut = _mean([any(j.relevant[:5]) for j in present]), _mean([any(j.cut[:5]) for j in present])
    return {"present": len(present), "absent": len(absent), "auc": auc(right, tops),
            "nothing": sum(j.nothing for j in absent), "r1": _mean([any(j.relevant[:1]) for j in present]),
            "r1_cut": _mean([any(j.cut[:1]) for j in present]), "r5": r5, "r5_cut": r5_cut,
            "r5_loss": (r5 - r5_cut) / r5 if r5 else float("nan"),
            "short": sum(len(j.cut) < 5 for j in present)}


def _mean(values: list) -> float:
    return float(np.mean(values)) if values else float("nan")


def _best(judged: Judged) -> float:
    """What the cutoff compares with: the best score, weak keyword hits aside (settle.py)."""
    return judged.support if judged.support is not None else (judged.scores or [0.0])[0]


def sweep(judged: list[Judged], cutoffs=CUTOFFS, floor: float = relevance.FLOOR) -> list[dict]:
    """The cutoff rule replayed on the uncut scores: nothing matched when the best (weak keyword hits
    aside) is under ``cutoff``; else results under ``floor`` left out. Absent queries caught and the
    R@5 it costs, per cutoff."""
    rows = []
    for cutoff in cutoffs:
        present = [j for j in judged if j.present]
        caught = [_best(j) < cutoff for j in judged if not j.present]
        kept = [bool(j.scores) and _best(j) >= cutoff and any(ok for score, ok in zip(
            j.scores[:5], j.relevant[:5], strict=True) if score >= floor) for j in present]
        r5 = _mean([any(j.relevant[:5]) for j in present])
        rows.append({"cutoff": cutoff, "caught": _mean(caught), "r5_loss": (r5 - _mean(kept)) / r5 if r5 else 0.0})
    return rows


SPLITS = (("captions", "tune"), ("captions", "test"), ("fashion", "test"), ("hybrid", "tune"), ("hybrid", "test"))
BINS = (0.0, 0.01, 0.03, 0.1, 0.3, 0.7, 1.01)


def table(head: list[str], rows: list[list]) -> str:
    return "\n".join([f"| {' | '.join(head)} |", "|" + "---|" * len(head),
                      *(f"| {' | '.join(map(str, row))} |" for row in rows)])


def _pick(judged: list[Judged], gallery: str, split: str) -> list[Judged]:
    return [j for j in judged if j.gallery == gallery and j.split == split]


def outcome_table(judged: list[Judged], before: list[Judged] | None) -> str:
    """Per gallery and split: the shipped score and cutoff (and the tree compared against, if any)."""
    rows = []
    for gallery, split in SPLITS:
        for label, source in (("before", before), ("now", judged)):
            subset = _pick(source or [], gallery, split)
            if not subset:
                continue
            r = summary(subset)
            rows.append([f"{gallery} {split}", label, f"{r['present']} / {r['absent']}", f"{r['auc']:.3f}",
                         f"{r['nothing']}/{r['absent']} ({100 * r['nothing'] / max(r['absent'], 1):.0f} %)",
                         f"{r['r1']:.3f} → {r['r1_cut']:.3f}", f"{r['r5']:.3f} → {r['r5_cut']:.3f}",
                         f"{100 * r['r5_loss']:.1f} %", r["short"]])
    return table(["gallery", "code", "present / absent queries", "AUC of the top score", "absent: nothing matched",
                  "R@1 --all → cut", "R@5 --all → cut", "R@5 lost to the cutoff", "present queries shown < 5"], rows)


def sweep_table(judged: list[Judged]) -> str:
    sweeps = {f"{g} {s}": sweep(_pick(judged, g, s)) for g, s in SPLITS if _pick(judged, g, s)}
    rows = [[f"{cutoff}{' (shipped)' if cutoff == relevance.CUTOFF else ''}",
             *(f"{100 * rs[i]['caught']:.0f} % / {100 * rs[i]['r5_loss']:.1f} %" for rs in sweeps.values())]
            for i, cutoff in enumerate(CUTOFFS)]
    return table(["CUTOFF", *sweeps], rows)


def reliability_table(judged: list[Judged]) -> str:
    """On the test splits: the score shown against how often such results were right (top 20 of every query)."""
    pairs = [(score, ok) for j in judged if j.split == "test" and j.gallery in ("captions", "hybrid", "fashion")
             for score, ok in zip(j.scores, j.relevant, strict=True)]
    rows = []
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = [(score, ok) for score, ok in pairs if low <= score < high]
        if inside:
            rows.append([f"{low:g}-{min(high, 1):g}", len(inside), f"{np.mean([s for s, _ in inside]):.3f}",
                         f"{np.mean([ok for _, ok in inside]):.3f}"])
    return table(["score shown", "results", "mean score", "share right"], rows)


def _absent_hybrid(judged: list[Judged]) -> str:
    """How many absent hybrid queries of each kind, and how many of each the cutoff caught."""
    spec = {q["text"]: q for q in json.loads((HERE / "data" / "hybrid_queries.json").read_text())["queries"]}
    kinds: dict[str, list[int]] = {}
    for j in judged:
        if j.gallery == "hybrid" and not j.present:
            counts = kinds.setdefault(spec[j.text]["via"], [0, 0])
            counts[0] += j.nothing
            counts[1] += 1
    names = {"visual": "picture-like", "speech": "talk-like", "keyword": "sharing one word with a phrase"}
    return ", ".join(f"{n} {names.get(via, via)} (caught: {caught})" for via, (caught, n) in kinds.items())


def report(judged: list[Judged], before: list[Judged] | None, curves: dict, took: float,
           before_label: str = "") -> str:
    return f"""## One relevance score and a cutoff that holds (issue #19, `benchmarks/bench_relevance.py`)

{machine()}; {took:.0f} s in all. Galleries: the caption set (169 photos, tune/test split by photo), 1,000 Fashion-MNIST
test images (10 class names), and a hybrid folder (24 photos and 16 videos with espeak-ng speech and burned-in signs,
`benchmarks/hybrid_media.py`, indexed with `--transcribe --ocr`). Absent queries: {len(ABSENT)} things no photo shows
and {len(SOUP)} letter soups, alternately tune/test; the hybrid folder's own {_absent_hybrid(judged)}.
"before": the same queries through {before_label or '(not run)'}.

{outcome_table(judged, before)}

Cutoff sweep on the shipped scores (absent queries answered "nothing matched" / R@5 lost; FLOOR = {relevance.FLOOR}):

{sweep_table(judged)}

Is the score a probability? Test splits, every result of the top {DEPTH}, grouped by the score shown:

{reliability_table(judged)}

Curves fitted on the tune splits (`--fit`; the pages they are fitted on depend on the shipped curves, so a refit
can differ from the constants in relevance.py in the third digit): {json.dumps(curves)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="build the galleries here (and keep them)")
    parser.add_argument("--fit", action="store_true", help="print the fitted curves (constants for relevance.py)")
    parser.add_argument("--dump", type=Path, help="write every judged query as JSON lines")
    parser.add_argument("--against", type=Path, help="another framefind tree to run the same queries through")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-relevance-") as scratch:
        work = args.work or Path(scratch)
        gallery = galleries(work)
        judged = judge_all(gallery)
        examples = judge_examples("fashion-examples", *fashion_train(work), "tune")
        before = judge_before(args.against, gallery) if args.against else None
    if args.dump:
        args.dump.write_text("".join(json.dumps(j.__dict__) + "\n" for j in judged + examples))
    curves = fit(judged, examples)
    if args.fit:
        print(json.dumps(curves, indent=1))
    label = ""
    if args.against:
        import subprocess

        commit = subprocess.run(["git", "-C", str(args.against), "log", "-1", "--format=%h (%s)"],
                                capture_output=True, text=True).stdout.strip()
        label = f"framefind at {commit[:60]}" if commit else str(args.against)
    md = report(judged, before, curves, time.perf_counter() - started, label)
    print(md)
    if args.out:
        args.out.write_text(md, encoding="utf-8")


if __name__ == "__main__":
    main()
