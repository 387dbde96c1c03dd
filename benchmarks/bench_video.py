"""Video indexing speed, memory, and reverse video search quality.

Test videos are made from real photos (Debian plasma wallpapers) with ffmpeg: 10 s shots that pan
slowly, H.264 ``veryfast`` with B-frames and a 250-frame GOP, like a camera or a download.

1. Speed, side by side in one run: ``ffmpeg -f null`` decode-only vs ``framefind`` indexing, for a
   120 s 720p and a 120 s 1080p video (x real time, and the ratio of the two).
2. Memory: peak RSS of ``framefind index`` on a 2-minute and a 1-hour video (same resolution).
3. Reverse video search: pairs of videos with the same shots in opposite orders; queries are
   re-encoded / downscaled / trimmed copies; hit@1 and MRR of the order-aware alignment vs the
   whole-video average vector.

Usage: python benchmarks/bench_video.py [--json out.json] [--skip-hour]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_index import machine, peak_rss_mb  # noqa: E402

from framefind import Library  # noqa: E402

WALLPAPERS = Path("/usr/share/wallpapers")


def photos() -> list[Path]:
    found = sorted(WALLPAPERS.glob("*/contents/images/1920x1080.jpg"))
    if not found:
        sys.exit("benchmark needs Debian's plasma-workspace-wallpapers (make system-deps)")
    return found


def make_video(target: Path, shots: list[Path], size: tuple[int, int], shot_seconds: float = 10.0,
               fps: int = 25, preset: str = "veryfast") -> Path:
    w, h = size
    args, filters = ["ffmpeg", "-v", "error", "-y"], []
    for i, image in enumerate(shots):
        args += ["-loop", "1", "-framerate", str(fps), "-t", str(shot_seconds), "-i", str(image)]
        filters.append(f"[{i}:v]scale={w * 5 // 4}:{h * 5 // 4},crop={w}:{h}:'t*{w // 40}':'t*{h // 80}',"
                       f"setsar=1[v{i}]")
    joined = "".join(f"[v{i}]" for i in range(len(shots)))
    graph = ";".join(filters) + f";{joined}concat=n={len(shots)}:v=1:a=0,format=yuv420p[out]"
    subprocess.run([*args, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", preset,
                    "-g", "250", "-r", str(fps), str(target)], check=True)
    return target


def loop_video(source: Path, target: Path, times: int) -> Path:
    """``times`` back-to-back copies of ``source`` without re-encoding (a long video, cheaply)."""
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{source}'\n" for _ in range(times)))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    str(target)], check=True)
    return target


def speed(video: Path, seconds: float, workdir: Path) -> dict:
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-threads", "0", "-i", str(video), "-f", "null", "-"], check=True)
    decode = time.perf_counter() - start
    with Library.open(workdir / f"lib-{video.stem}") as library:
        library.model.embed_images(__import__("numpy").zeros((1, 224, 224, 3), "uint8"))  # sessions loaded
        start = time.perf_counter()
        report = library.index([video])
        index = time.perf_counter() - start
        items = library.catalog.stats(library.model_id)["items"]
    assert report.embedded == 1, report
    return {"video_s": seconds, "ffmpeg_decode_x_realtime": round(seconds / decode, 1),
            "framefind_index_x_realtime": round(seconds / index, 1),
            "index_over_decode": round(decode / index, 2), "segments": items}


def reverse_search_quality(workdir: Path, pairs: int = 5, shots_per_video: int = 4) -> dict:
    """Each pair holds the same shots in two orders (forward and reversed): only an order-aware
    score can rank a copy of one above the other; the average vector sees the same set of shots."""
    rng = random.Random(7)
    pool = photos()[:10]
    media = workdir / "rvs-media"
    media.mkdir()
    videos = []
    for p in range(pairs):
        shots = rng.sample(pool, shots_per_video)
        for tag, order in (("a", shots), ("b", shots[::-1])):
            videos.append(make_video(media / f"p{p}{tag}.mp4", order, (320, 180), shot_seconds=3.0,
                                     preset="ultrafast"))
    variants = {"recompressed": ["-crf", "36"], "downscaled": ["-vf", "scale=192:108"],
                "trimmed": ["-ss", "1.5", "-t", "8"]}
    queries = workdir / "rvs-queries"
    queries.mkdir()
    out: dict = {"videos": len(videos), "queries": len(videos) * len(variants)}
    ranks: dict[str, list[int]] = {"aligned": [], "average": []}
    with Library.open(workdir / "rvs-lib") as library:
        library.index([media])
        for video in videos:
            for name, args in variants.items():
                query = queries / f"{video.stem}-{name}.mp4"
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), *args, "-c:v", "libx264",
                                "-preset", "ultrafast", str(query)], check=True)
                for method, values in ranks.items():
                    ranked = [r.path for r in library.similar_videos(query, k=len(videos), method=method)]
                    values.append(ranked.index(str(video)) + 1 if str(video) in ranked else len(videos) + 1)
    for method, values in ranks.items():
        out[method] = {"hit@1": round(sum(r == 1 for r in values) / len(values), 3),
                       "mrr": round(sum(1 / r for r in values) / len(values), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-hour", action="store_true")
    parser.add_argument("--only-reverse", action="store_true", help="just the reverse-search quality part")
    args = parser.parse_args()
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only_reverse:
            results["reverse_video_search"] = reverse_search_quality(work)
            print(json.dumps(results, indent=2))
            return
        shots = photos()[:12]
        v720 = make_video(work / "v720.mp4", shots, (1280, 720))
        v1080 = make_video(work / "v1080.mp4", shots, (1920, 1080))
        results["720p"] = speed(v720, 120.0, work)
        results["1080p"] = speed(v1080, 120.0, work)
        if not args.skip_hour:
            hour = loop_video(v720, work / "hour.mp4", 30)
            two_min = work / "two"
            two_min.mkdir()
            (two_min / "v.mp4").symlink_to(v720)
            one_hour = work / "hour-dir"
            one_hour.mkdir()
            (one_hour / "v.mp4").symlink_to(hour)
            results["peak_rss_mb"] = {"2 min 720p": round(peak_rss_mb(two_min, work / "rss-2")),
                                      "60 min 720p": round(peak_rss_mb(one_hour, work / "rss-60"))}
        results["reverse_video_search"] = reverse_search_quality(work)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
