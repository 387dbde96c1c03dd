"""The legacy libraries of tests/data/legacy searched natively and under QEMU's AVX2 (bench_int8_portability.py
--fixtures): how far their scores move between ONNX Runtime's kernels, which is the tolerance
tests/test_migrations.py allows the scores the old releases recorded on another CPU.

Each library is searched as its test searches it: query texts through MiniLM's float graph for the releases
before 0.4.0, through today's int8 query graph for 0.4.0 and 0.5.0 (theirs is gone); example images through
the library's model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RELEASES = ("first", "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0")


def search_fixture(release: str, out: Path) -> None:
    """Install ``release``'s library in a temporary folder, run its recorded queries, write their scores."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_migrations import install

    from framefind import Library
    from framefind.models.conse import ConseModel

    if release not in ("0.4.0", "0.5.0"):  # as tests/test_migrations.py: the float query graph before 0.4.0
        ConseModel.embed_texts = lambda self, texts: self.text_encoder.embed(texts)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lib, media, expected = install(release, Path(tmp))
        with Library.open(lib, create=False) as library:
            for query in expected["queries"]:
                if "text" in query:
                    found = library.search(query["text"], k=query["k"], cutoff=False)
                else:
                    found = library.search(image=media / query["image"], k=query["k"], cutoff=False)
                rows.append({"query": query.get("text") or query["image"],
                             "results": [[str(Path(r.path).relative_to(media)), r.start, r.score] for r in found],
                             "recorded": [r["score"] for r in query["results"]]})
    out.write_text(json.dumps(rows))


def measure_fixtures(work: Path, qemu: list[str]) -> dict:
    """Per release: the largest score difference between native and emulated AVX2, and between native and
    what the release recorded; whether the rankings are the same."""
    report = {}
    for release in RELEASES:
        runs = {}
        for where, prefix in (("native", []), ("emulated", qemu)):
            out = work / f"fixture-{release}-{where}.json"
            command = [*prefix, sys.executable, __file__, release, str(out)]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if done.returncode:
                raise SystemExit(f"{release} ({where}) failed: {done.stderr.strip().splitlines()[-1:]}")
            runs[where] = json.loads(out.read_text())
        native, emulated = runs["native"], runs["emulated"]
        report[release] = {
            "queries": len(native),
            "emulated - native, max": max(_score_gap(n["results"], e["results"]) for n, e in zip(native, emulated,
                                                                                                strict=True)),
            "same ranking emulated": all(_keys(n["results"]) == _keys(e["results"])
                                         for n, e in zip(native, emulated, strict=True)),
            "native - recorded, max (by rank)": max(abs(a[2] - b) for n in native
                                                    for a, b in zip(n["results"], n["recorded"], strict=False)),
        }
        print(f"fixture {release}: {json.dumps(report[release])}", file=sys.stderr)
    return report


def _keys(results: list) -> list:
    return [tuple(r[:2]) for r in results]


def _score_gap(a: list, b: list) -> float:
    """The largest score difference of a result both lists hold (a near-tie may swap places)."""
    scores = {tuple(r[:2]): r[2] for r in b}
    return max((abs(r[2] - scores[tuple(r[:2])]) for r in a if tuple(r[:2]) in scores), default=0.0)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    search_fixture(sys.argv[1], Path(sys.argv[2]))
