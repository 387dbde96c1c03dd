"""Search that learns, on real data: the "no good match" cutoff and relevance feedback.

1. Cutoff, on the 32 captions over scikit-image photos + Debian wallpapers and on 1,000 Fashion-MNIST
   images (class names as queries), plus 25 concepts in neither and 5 letter soups: correct results
   cut and "nothing matched" for absent concepts at the shipped cutoff (its sweep and the choice:
   benchmarks/bench_relevance.py).
2. Feedback, on Fashion-MNIST: a simulated user likes the first 3 correct and dislikes the first 3
   wrong of a class query's top 20; P@10 and AP@20 of that query and of a paraphrase, before and
   after; search latency with 0 and 200 feedback rows stored. Usage: [--keep DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_eval import assemble_photos  # noqa: E402
from conftest import FASHION_CLASSES, write_fashion_pngs  # noqa: E402

from framefind import Library, Query  # noqa: E402
from framefind.eval.metrics import average_precision, precision_at_k  # noqa: E402
from framefind.search import relevance  # noqa: E402

K, DEPTH, VOTES, ROUNDS = 10, 20, 3, 10
WORDS = {"t-shirt": "t-shirt", "trouser": "trousers", "pullover": "pullover", "dress": "dress", "coat": "coat",
         "sandal": "sandal", "shirt": "shirt", "sneaker": "sneaker", "bag": "bag", "boot": "ankle boot"}
PARAPHRASES = {"t-shirt": "a t-shirt top", "trouser": "a pair of trousers", "pullover": "a pullover sweater",
               "dress": "a dress", "coat": "a winter coat", "sandal": "summer sandals", "shirt": "a shirt with buttons",
               "sneaker": "running sneakers", "bag": "a handbag", "boot": "ankle boots"}
ABSENT = ["a giraffe", "a fire truck", "a violin", "a pizza", "a traffic light", "a snowboarder", "a wedding cake",
          "an elephant", "a banana", "a toaster", "a tennis racket", "a zebra", "a penguin", "a grand piano",
          "a laptop computer", "a hamburger", "a teddy bear", "a sewing machine", "a shark", "a hot air balloon",
          "a microwave oven", "a chess board", "a school bus", "a pineapple", "a lion"]
SHIPPED = ("gallery | present queries | correct results in the uncut top 10 | of them cut | correct top-1 kept | "
           "present queries answered \"nothing matched\" | shown per present query, cutoff off / on | absent: "
           "\"nothing matched\" | absent: mean shown | letter soup: \"nothing matched\" | letter soup: mean shown")
MEANS = (" | query, as shown | query, without the 3 liked | query, without all 6 voted | paraphrase, as shown | "
         "paraphrase, without the 3 liked | paraphrase, without all 6 voted")
SOUP = ["zzqx flurble", "blorp snarfle quux", "xkcdv wqpz", "mmrgl fthagn", "plonk zibber vrask"]


def page(lib: Library, text: str, k: int = K, cut: bool = True, learn: bool = True):
    """One search as the app runs it (a SearchPage), with the cutoff and learning switchable."""
    return lib.search_page(Query.of(text, k=k, cutoff=cut, learn=learn))


def clear_feedback(lib: Library) -> None:
    """Forget every thumbs up and down (the catalog's connection commits each statement)."""
    lib.catalog.db.execute("DELETE FROM feedback")


def galleries(work: Path) -> dict:
    """name -> (library, {query: is-relevant(path)})."""
    photos, fashion = work / "photos", work / "fashion"
    if not photos.exists():
        assemble_photos(photos)
    if not fashion.exists():
        write_fashion_pngs(fashion, 1000)
    captions = json.loads((HERE / "data" / "captions.json").read_text())["queries"]
    judged = {c["text"]: {str((photos / rel).resolve()) for rel in c["relevant"]} for c in captions}
    assert all(sum(p.stem.endswith(f"-{c}") for p in fashion.iterdir()) > 2 * DEPTH for c in FASHION_CLASSES)
    libs = {name: Library.open(work / f"lib-{name}") for name in ("captions", "fashion")}
    for lib, folder in zip(libs.values(), (photos, fashion), strict=True):
        lib.index([folder])
        clear_feedback(lib)  # a kept library may hold an earlier run's
    return {"captions": (libs["captions"], {q: (lambda path, s=paths: str(Path(path).resolve()) in s)
                                            for q, paths in judged.items()}),
            "fashion": (libs["fashion"], {WORDS[c]: (lambda path, c=c: Path(path).stem.split("-", 1)[1] == c)
                                          for c in FASHION_CLASSES})}


def judge_cutoff(lib: Library, queries: dict, uncut: dict) -> dict:
    """The cut search against the uncut one (``uncut``: query -> its uncut results)."""
    r = {"queries": len(queries), "correct": 0, "dropped": 0, "top1": 0, "kept": 0, "gated": 0, "lost": [], "on": []}
    for text, relevant in queries.items():
        found = page(lib, text, learn=False)
        keys = [x.key for x in found.results]
        r["on"].append(len(keys))
        good = [x.key for x in uncut[text] if relevant(x.path)]
        r["correct"] += len(good)
        r["dropped"] += sum(key not in keys for key in good)
        r["gated"] += found.nothing_matched
        if relevant(uncut[text][0].path):
            r["top1"] += 1
            r["kept"] += bool(keys) and keys[0] == uncut[text][0].key
        if any(key not in keys for key in good):
            r["lost"].append(f"{text!r} ({'nothing matched' if found.nothing_matched else f'{len(keys)} shown'})")
    absent, soup = [page(lib, t, learn=False) for t in ABSENT], [page(lib, t, learn=False) for t in SOUP]
    return {**r, "cut": f"{100 * r['dropped'] / max(r['correct'], 1):.1f} %", "shown_on": statistics.mean(r["on"]),
            "shown_off": statistics.mean(len(x) for x in uncut.values()), "top1_kept": f"{r['kept']}/{r['top1']}",
            "absent": f"{sum(p.nothing_matched for p in absent)}/{len(ABSENT)}",
            "absent_shown": statistics.mean(len(p.results) for p in absent),
            "soup": f"{sum(p.nothing_matched for p in soup)}/{len(SOUP)}",
            "soup_shown": statistics.mean(len(p.results) for p in soup),
            "answered": [f"{t!r} ({len(p.results)})" for t, p in zip(ABSENT, absent, strict=True) if p.results]}


def cutoff_results(gallery: dict) -> dict:
    """gallery -> judge_cutoff at the shipped cutoff (the uncut searches first)."""
    uncut = {name: {q: page(lib, q, cut=False, learn=False).results for q in queries}
             for name, (lib, queries) in gallery.items()}
    return {name: judge_cutoff(lib, queries, uncut[name]) for name, (lib, queries) in gallery.items()}


def cutoff_tables(shipped: dict) -> str:
    """The shipped cutoff per gallery and the queries behind its failures."""
    lines = [f"At the shipped cutoff (nothing matched under {relevance.CUTOFF}, results under {relevance.FLOOR} "
             f"left out; k = {K}; {len(ABSENT)} absent concepts, {len(SOUP)} letter soups):",
             *table(SHIPPED, [[name, r["queries"], r["correct"], f"{r['dropped']} ({r['cut']})", r["top1_kept"],
                              r["gated"], f"{r['shown_off']:.1f} / {r['shown_on']:.1f}", r["absent"],
                              f"{r['absent_shown']:.1f}", r["soup"], f"{r['soup_shown']:.1f}"]
                             for name, r in shipped.items()]), ""]
    for name, r in shipped.items():
        lines += [f"- {name}: queries that lost a correct result: {', '.join(r['lost']) or 'none'}.",
                  f"- {name}: absent concepts answered (results shown): {', '.join(r['answered']) or 'none'}."]
    return "\n".join(lines)


def table(head: str, rows: list[list]) -> list[str]:
    """A markdown table after a blank line; ``head``: the header cells joined by " | "."""
    return ["", f"| {head} |", "|" + "---|" * (head.count(" | ") + 1),
            *(f"| {' | '.join(map(str, row))} |" for row in rows)]


def scores(ranked: list[tuple[str, bool]], leave_out: tuple[str, ...] = ()) -> tuple[float, float]:
    """(precision@10, AP@20) of a ranking without ``leave_out`` (each class has > 40 images: AP@20 / 20)."""
    rel = [ok for key, ok in ranked if key not in leave_out][:DEPTH]
    return precision_at_k(rel, K), average_precision(rel, DEPTH, DEPTH)


def vote(lib: Library, text: str, relevant) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The simulated user: thumbs up on the first 3 correct, down on the first 3 wrong of the top 20."""
    top = page(lib, text, k=DEPTH, cut=False).results
    ups, downs = (tuple([r.key for r in top if relevant(r.path) == good][:VOTES]) for good in (True, False))
    for key, thumb in [(key, 1) for key in ups] + [(key, -1) for key in downs]:
        lib.feedback(text, key, thumb)
    return ups, downs


def rankings(lib: Library, name: str, relevant: dict) -> tuple[list, list]:
    """(key, correct) of the top DEPTH + 2 VOTES results of a class query and of its paraphrase (cutoff off)."""
    ok = relevant[WORDS[name]]
    return tuple([(r.key, ok(r.path)) for r in page(lib, text, k=DEPTH + 2 * VOTES, cut=False).results]
                 for text in (WORDS[name], PARAPHRASES[name]))


def measure(ranked: tuple[list, list], votes: tuple[tuple, tuple], when: str) -> dict:
    """P@10 / AP@20 of the class query and its paraphrase: as shown, without the liked, without all voted."""
    out = {}
    for prefix, ranking in zip(("", "para_"), ranked, strict=True):
        out.update({f"{prefix}{when}": scores(ranking), f"{prefix}{when}_x": scores(ranking, votes[0]),
                    f"{prefix}{when}_v": scores(ranking, votes[0] + votes[1])})
    return out


def feedback_rows(lib: Library, relevant: dict) -> tuple[list[dict], list[dict]]:
    """Per class alone (feedback rows deleted between classes), then all 10 classes' feedback stored."""
    rows = []
    for name in FASHION_CLASSES:
        clear_feedback(lib)
        text, para = WORDS[name], PARAPHRASES[name]
        before = rankings(lib, name, relevant)
        votes = vote(lib, text, relevant[text])
        vectors = lib.model.embed_texts([text, para])
        rows.append({"class": name, "query": text, "para": para, "cos": f"{float(vectors[0] @ vectors[1]):.2f}",
                     "learned": page(lib, para, cut=False).learned, **measure(before, votes, "before"),
                     **measure(rankings(lib, name, relevant), votes, "after")})
    clear_feedback(lib)
    votes = {name: vote(lib, WORDS[name], relevant[WORDS[name]]) for name in FASHION_CLASSES}
    together = [measure(rankings(lib, name, relevant), votes[name], "after") for name in FASHION_CLASSES]
    clear_feedback(lib)
    return rows, together


def feedback_tables(rows: list[dict], together: list[dict]) -> str:
    """Per class before -> after, then the means of each scenario."""
    def arrow(row: dict, key: str, i: int) -> str:
        return f"{row[key.replace('@', 'before')][i]:.2f} → {row[key.replace('@', 'after')][i]:.2f}"

    mean = {key: _mean(rows, key) for key in rows[0] if isinstance(rows[0][key], tuple)}
    mean.update({"class": "**mean**", "query": "", "para": "", "cos": "", "learned": ""})
    lines = table("class | query | P@10 before → after | P@10 without the 3 liked | AP@20 before → after | AP@20 "
                  "without the 3 liked | paraphrase | text cosine | votes it uses | paraphrase P@10 | paraphrase AP@20",
                  [[row["class"], row["query"], arrow(row, "@", 0), arrow(row, "@_x", 0), arrow(row, "@", 1),
                    arrow(row, "@_x", 1), row["para"], row["cos"], row["learned"],
                    arrow(row, "para_@", 0), arrow(row, "para_@", 1)] for row in [*rows, mean]])
    both = {key: _mean(together, key) for key in together[0]}
    changed = [f"{n} ({_pair(r['after'])} → {_pair(t['after'])})" for n, r, t in
               zip(FASHION_CLASSES, rows, together, strict=True) if r["after"] != t["after"]]
    scenarios = (("before any feedback", mean, "before"), ("its own class's feedback only", mean, "after"),
                 ("all 10 classes' feedback stored", both, "after"))
    lines += ["", "Means (P@10 / AP@20), each class's feedback alone against all 10 classes' feedback stored:",
              *table(MEANS, [[label, *(_pair(src[f"{p}{when}{x}"]) for p in ("", "para_") for x in ("", "_x", "_v"))]
                             for label, src, when in scenarios]), "",
              f"Moved when all classes' feedback was stored: {', '.join(changed) or 'no query'}."]
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> tuple[float, float]:
    return tuple(statistics.mean(r[key][i] for r in rows) for i in (0, 1))


def _pair(values: tuple[float, float]) -> str:
    return f"{values[0]:.3f} / {values[1]:.3f}"


def latency(lib: Library, relevant: dict, rounds: int = ROUNDS) -> dict:
    """ms of a default search (cutoff and learning on) over 20 text queries, with 0 and with 200 feedback
    rows stored (20 queries x 10 votes: up on the correct, down on the wrong of their top 10), interleaved."""
    rel = {text: relevant[WORDS[c]] for c in FASHION_CLASSES for text in (WORDS[c], PARAPHRASES[c])}
    times: dict[int, list[float]] = {}
    for _ in range(rounds):
        for with_rows in (False, True):
            clear_feedback(lib)
            for text in rel if with_rows else ():
                for r in page(lib, text, cut=False, learn=False).results:
                    lib.feedback(text, r.key, 1 if rel[text](r.path) else -1)
            timed = times.setdefault(len(lib.catalog.feedback()), [])
            for i, text in enumerate([*rel, *rel]):  # the first pass warms up: stored queries get embedded
                start = time.perf_counter()
                page(lib, text)
                timed += [1000 * (time.perf_counter() - start)] if i >= len(rel) else []
    clear_feedback(lib)
    return {n: (statistics.median(t), sorted(t)[int(0.9 * len(t))]) for n, t in times.items()}


def machine() -> str:
    """`lscpu`'s model name, `nproc` and `date -u`."""
    out = subprocess.run("lscpu | grep 'Model name'; nproc; date -u", shell=True, capture_output=True, text=True)
    cpu, cores, when = out.stdout.strip().splitlines()[-3:]
    return f"{when}, {cpu.split(':', 1)[-1].strip()}, {cores} cores (nproc)"


def report(work: Path) -> str:
    """Build (or reuse) the galleries under ``work``, measure everything: the markdown section."""
    started = time.perf_counter()
    gallery = galleries(work)
    indexed = time.perf_counter() - started
    cut = cutoff_results(gallery)
    lib, relevant = gallery["fashion"]
    rows, together = feedback_rows(lib, relevant)
    timed = latency(lib, relevant)
    for each, _ in gallery.values():
        each.close()
    return f"""## Search that learns (`benchmarks/bench_learning.py`)

{machine()}; {time.perf_counter() - started:.0f} s wall time in all ({indexed:.0f} s of it writing and
indexing the two galleries: the {len(gallery['captions'][1])}-caption photos and 1,000 Fashion-MNIST test images).

### The "no good match" cutoff

{cutoff_tables(cut)}

### Relevance feedback (Fashion-MNIST, 1,000 images, class-name queries)

A simulated user likes the first {VOTES} correct and dislikes the first {VOTES} wrong of a class query's top {DEPTH}
(cutoff off); rows are deleted between classes unless said. "Without the 3 liked": removed from both rankings.
{feedback_tables(rows, together)}

Search latency (default search: cutoff and learning on, k = {K}; 20 text queries x {ROUNDS} rounds, the two states
interleaved; median / p90): {'; '.join(f'{n} feedback rows: {m:.1f} / {p:.1f} ms' for n, (m, p) in timed.items())}.
"""


def main() -> None:
    """Print the report (and write it with --out); the galleries live in a temporary folder unless --keep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the galleries and libraries here (and keep them)")
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as scratch:
        md = report(args.keep or Path(scratch))
    print(md)
    if args.out:
        args.out.write_text(md, encoding="utf-8")


if __name__ == "__main__":
    main()
