"""Regenerate tests/data/legacy/: libraries written by old framefind releases (run by hand; the output is committed).

Why: the storage format is about to get schema upgrades. An upgrade test must open a library that an old
release really wrote, not one the current code writes and then "ages" by hand, so this script runs the OLD code:

- each release's ``framefind/`` package is extracted with ``git archive <commit> framefind | tar -x`` into a
  temporary directory (no worktree) and run in a child process of this same Python, with ``PYTHONPATH`` set to
  that directory and ``-P`` so neither the current working directory nor the venv's editable install of the
  working tree can win (the child checks that every ``framefind`` module it imported comes from the old copy);
- each release gets its own temporary model cache (``FRAMEFIND_CACHE``), so it converts its own ONNX models;
- the child indexes ``tests/data/legacy/media/`` with the old Python API, reopens the library, runs a few
  searches, records the results, the catalog's ``meta`` rows, schema and row counts, then checkpoints the WAL
  (``PRAGMA wal_checkpoint(TRUNCATE)``) so ``catalog.sqlite`` alone holds everything;
- this script copies ``catalog.sqlite`` and ``index/*.faiss`` into ``tests/data/legacy/library-<name>/`` and
  writes ``tests/data/legacy/expected-<name>.json``.

The catalog stores absolute paths (``files.path``, ``roots.path``): ``expected-*.json`` records the media root
used when indexing, so a test rewrites that one prefix to wherever it copies the fixture.

Usage: .venv/bin/python scripts/make_legacy_fixtures.py [--only RELEASE]
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LEGACY = REPO / "tests" / "data" / "legacy"
MEDIA = LEGACY / "media"

# scikit-image sample photos, copied byte for byte. coffee.png (467 KB) is left out: with it the photos alone
# would pass 1 MB, and these fixtures are committed.
PHOTOS = ["chelsea.png", "rocket.jpg", "horse.png", "camera.png", "coins.png"]
VIDEO = "clip.mp4"  # 3 s of chelsea.png, then 3 s of rocket.jpg: two shots
MEDIA_BUDGET = 1_000_000  # bytes
LEGACY_BUDGET = 3_000_000  # bytes, the whole tests/data/legacy (~0.3 MB a release; 2.51 MB with 0.6.0)


@dataclass(frozen=True)
class Release:
    name: str  # fixture suffix: library-<name>/, expected-<name>.json
    commit: str
    video: bool  # can it index video? (the first release scans images only)


RELEASES = [
    Release("0.1.0", "a718a63", video=True),  # release 0.1.0: frames + thumbnails tables, videos
    Release("first", "5a964de", video=False),  # the very first release: images only
    Release("0.2.0", "3d9888d", video=True),  # release 0.2.0: library format 3 (models, feedback)
    Release("0.3.0", "02f7a62", video=True),  # release 0.3.0: library format 5 (dates, labels, texts)
    Release("0.4.0", "60ea543", video=True),  # release 0.4.0: format 5; new libraries chose int8 (top-20 mix)
    Release("0.5.0", "d9c3c74", video=True),  # release 0.5.0: format 5; new libraries chose the top-40 mix
    Release("0.6.0", "4bcf364", video=True),  # release 0.6.0: format 5; phrasings, draft_fill 0.75, int8 recipe 1
]

TEXT_QUERIES = ["a cat", "a rocket", "a horse", "a coin"]


def queries(video: bool) -> list[dict[str, Any]]:
    """The searches recorded for a release: ``text`` or ``image`` (relative to the media root) and ``k``."""
    out: list[dict[str, Any]] = [{"text": text, "k": 5} for text in TEXT_QUERIES]
    out.append({"image": "horse.png", "k": 3})
    if video:
        out.append({"text": "a rocket", "k": 8})  # 5 photos + the video's moments: the video is in the results
    return out


# -- media -----------------------------------------------------------------------------------------------------
def build_media() -> None:
    """tests/data/legacy/media/: the photos (byte copies) and a small two-shot H.264 clip made from two of them."""
    import skimage

    source = Path(skimage.__file__).parent / "data"
    if MEDIA.exists():
        shutil.rmtree(MEDIA)
    MEDIA.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copyfile(source / name, MEDIA / name)
        if not filecmp.cmp(source / name, MEDIA / name, shallow=False):
            raise SystemExit(f"{name}: copy differs from {source / name}")
    fit = "scale=160:90:force_original_aspect_ratio=increase,crop=160:90,setsar=1,fps=25,format=yuv420p"
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-loop", "1", "-framerate", "25", "-t", "3", "-i", str(MEDIA / "chelsea.png"),
        "-loop", "1", "-framerate", "25", "-t", "3", "-i", str(MEDIA / "rocket.jpg"),
        "-filter_complex", f"[0:v]{fit}[a];[1:v]{fit}[b];[a][b]concat=n=2:v=1:a=0[v]", "-map", "[v]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-r", "25", "-threads", "1",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-movflags", "+faststart",
        str(MEDIA / VIDEO),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height,r_frame_rate,nb_frames,codec_name,pix_fmt:format=duration", "-of", "json",
         str(MEDIA / VIDEO)], check=True, capture_output=True, text=True).stdout)
    stream = probe["streams"][0]
    got = (stream["codec_name"], stream["width"], stream["height"], stream["r_frame_rate"], stream["pix_fmt"])
    if got != ("h264", 160, 90, "25/1", "yuv420p") or abs(float(probe["format"]["duration"]) - 6.0) > 0.1:
        raise SystemExit(f"{VIDEO}: unexpected stream {stream} / {probe['format']}")
    total = sum(p.stat().st_size for p in MEDIA.iterdir())
    if total > MEDIA_BUDGET:
        raise SystemExit(f"media is {total} bytes, over the {MEDIA_BUDGET} budget")
    print(f"media: {len(PHOTOS)} photos + {VIDEO} ({(MEDIA / VIDEO).stat().st_size} bytes), {total} bytes in all")


# -- parent: one release -----------------------------------------------------------------------------------------
def full_commit(commit: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{commit}^{{commit}}"], check=True,
                          capture_output=True, text=True).stdout.strip()


def make_fixture(release: Release) -> None:
    commit = full_commit(release.commit)
    with tempfile.TemporaryDirectory(prefix=f"framefind-legacy-{release.name}-") as tmp:
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        archive = subprocess.Popen(["git", "-C", str(REPO), "archive", commit, "framefind"], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(src)], stdin=archive.stdout, check=True)
        archive.stdout.close()  # type: ignore[union-attr]
        if archive.wait() != 0:
            raise SystemExit(f"git archive {commit} framefind failed")
        roots = ["."] if release.video else PHOTOS  # the first release gets the photo files, not the folder
        spec = {
            "src": str(src), "library": str(work / "library"), "media": str(MEDIA.resolve()), "roots": roots,
            "queries": queries(release.video), "out": str(work / "expected.json"),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FRAMEFIND_", "PYTHON"))}
        env.update(PYTHONPATH=str(src), PYTHONSAFEPATH="1", PYTHONDONTWRITEBYTECODE="1",
                   FRAMEFIND_CACHE=str(work / "cache"))
        print(f"{release.name}: running framefind {commit[:7]} from {src}", flush=True)
        subprocess.run([sys.executable, "-P", str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                       env=env, cwd=work, check=True)
        expected = json.loads((work / "expected.json").read_text())
        copy_library(work / "library", LEGACY / f"library-{release.name}")
    expected = {"release": release.name, "commit": commit, **expected}
    (LEGACY / f"expected-{release.name}.json").write_text(json.dumps(expected, indent=2) + "\n")


def copy_library(library: Path, target: Path) -> None:
    """catalog.sqlite (checkpointed: no -wal/-shm) and index/**.faiss; anything else but the (empty) writer
    lock of 0.2.0 on is an error."""
    found = sorted(str(p.relative_to(library)) for p in library.rglob("*") if p.is_file() and p.name != "writer.lock")
    wanted = [f for f in found if f == "catalog.sqlite" or (f.startswith("index/") and f.endswith(".faiss"))]
    if "catalog.sqlite" not in wanted or found != wanted:
        raise SystemExit(f"{library}: unexpected files {sorted(set(found) - set(wanted)) or found}")
    if target.exists():
        shutil.rmtree(target)
    for name in wanted:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library / name, target / name)


# -- child: runs inside the old release ---------------------------------------------------------------------------
def child(spec: dict[str, Any]) -> None:
    """Index, search and describe a library with the ``framefind`` found on PYTHONPATH (the old release)."""
    import inspect
    import sqlite3

    import framefind
    from framefind import Library

    src = Path(spec["src"]).resolve()
    media = Path(spec["media"])
    library_dir = Path(spec["library"])

    errors: list[tuple[str, str]] = []
    with Library.open(library_dir) as lib:
        report = lib.index([str(media / root) for root in spec["roots"]],
                           on_error=lambda path, reason: errors.append((path, reason)))
        warnings = getattr(report, "warnings", [])
        if errors or report.failed or warnings or report.interrupted:
            raise SystemExit(f"indexing failed: {errors or report.errors} {warnings}")
        indexed = {"embedded": report.embedded, "linked": report.linked, "failed": report.failed}

    def relative(path: str) -> str:
        return Path(path).relative_to(media).as_posix()

    recorded = []
    with Library.open(library_dir, create=False) as lib:  # a fresh open, as a later process would do
        for query in spec["queries"]:
            # 0.3.0 on cut weak results by default: record whole pages, as the releases before it gave them
            whole = {"cutoff": False} if "cutoff" in inspect.signature(lib.search).parameters else {}
            if "image" in query:
                results = lib.search(image=str(media / query["image"]), k=query["k"], **whole)
            else:
                results = lib.search(query["text"], k=query["k"], **whole)
            rows = []
            for result in results:
                row = result.to_dict()  # start / end / frame_time only for video moments, as the release gives them
                row["path"] = relative(row["path"])
                row["duplicates"] = [relative(p) for p in row["duplicates"]]
                rows.append(row)
            recorded.append({**query, "results": rows})
        info = lib.info()

    catalog = library_dir / "catalog.sqlite"
    db = sqlite3.connect(catalog)
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise SystemExit("WAL checkpoint could not finish")
        schema = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")]
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        meta = dict(db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())
        journal_mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()
    leftovers = [p.name for p in library_dir.iterdir() if p.name.startswith("catalog.sqlite-")]
    if leftovers:
        raise SystemExit(f"{library_dir}: {leftovers} left after the checkpoint")

    # Every framefind module this process ran must come from the extracted old release.
    foreign = [name for name, module in sys.modules.items() if name.split(".")[0] == "framefind"
               and getattr(module, "__file__", None) and src not in Path(module.__file__).resolve().parents]
    if foreign or src not in Path(framefind.__file__).resolve().parents:
        raise SystemExit(f"imported framefind from {framefind.__file__} ({foreign}), not from {src}")

    out = {
        "framefind_version": framefind.__version__,
        "media_root": str(media),
        "indexed_paths": spec["roots"],
        "index_report": indexed,
        "catalog": {
            "journal_mode": journal_mode,
            "meta": meta,
            "row_counts": counts,
            "schema": schema,
            "index_files": sorted(p.name for p in (library_dir / "index").glob("*.faiss")),
        },
        "stats": {k: info[k] for k in info if k not in ("library", "roots", "disk_bytes", "recent_failures")},
        "queries": recorded,
    }
    Path(spec["out"]).write_text(json.dumps(out))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
        return
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise SystemExit("needs ffmpeg and ffprobe (Debian package ffmpeg)")
    LEGACY.mkdir(parents=True, exist_ok=True)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if only is None:  # --only NAME: one release's fixture, over the media the others were made from
        build_media()
    for release in RELEASES:
        if only in (None, release.name):
            make_fixture(release)
    total = sum(p.stat().st_size for p in LEGACY.rglob("*") if p.is_file())
    print(f"{LEGACY.relative_to(REPO)}: {total} bytes")
    if total > LEGACY_BUDGET:
        raise SystemExit(f"fixtures are {total} bytes, over the {LEGACY_BUDGET} budget")


if __name__ == "__main__":
    main()
