"""Test videos with real speech: espeak-ng (Debian) says known lines at known times over a slideshow of
real photos. The sound track is assembled sample by sample, so the speech starts exactly where asked."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
from videos import need, slideshow

RATE = 22050  # espeak-ng's output rate


def speak(text: str, target: Path, voice: str = "en-us") -> np.ndarray:
    """``text`` spoken by espeak-ng as int16 samples at :data:`RATE` (the wav is kept in ``target``)."""
    espeak = need("espeak-ng", "espeak-ng")
    subprocess.run([espeak, "-v", voice, "-w", str(target), text], check=True, capture_output=True)
    with wave.open(str(target)) as wav:
        assert wav.getframerate() == RATE and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), np.int16)


def sound_track(target: Path, lines: list[tuple[float, str]], duration: float, voice: str = "en-us") -> Path:
    """A mono wav of ``duration`` s: each (start, text) spoken from ``start`` s, digital silence elsewhere."""
    samples = np.zeros(round(duration * RATE), np.int16)
    for i, (start, text) in enumerate(lines):
        said = speak(text, target.with_name(f"{target.stem}-line{i}.wav"), voice)
        at = round(start * RATE)
        assert at + len(said) <= len(samples), f"line {i} ({text!r}) runs past the end of the video"
        samples[at : at + len(said)] = said
    with wave.open(str(target), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())
    return target


def with_sound(video: Path, sound: Path, target: Path, delay: float = 0.0) -> Path:
    """``video``'s pictures (copied, not re-encoded) with ``sound`` as an AAC track that starts ``delay`` s
    after the pictures (its first timestamp moves, as in a camera whose sound starts late)."""
    ffmpeg = need("ffmpeg", "ffmpeg")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-itsoffset", str(delay), "-i", str(sound),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", str(target)],
                   check=True)
    return target


def _pictures(target: Path, duration: float, photos: list[Path]) -> Path:
    each = duration / len(photos)
    return slideshow(target.with_name(f"{target.stem}-pictures.mp4"), [(photo, each) for photo in photos],
                     size=(320, 180), fps=10)


def spoken_video(target: Path, lines: list[tuple[float, str]], duration: float, photos: list[Path],
                 voice: str = "en-us") -> Path:
    """An mp4 (H.264 + AAC) of ``photos`` whose sound says each (start s, text) line, silence elsewhere."""
    sound = sound_track(target.with_suffix(".wav"), lines, duration, voice)
    return with_sound(_pictures(target, duration, photos), sound, target)


def silent_video(target: Path, duration: float, photos: list[Path]) -> Path:
    """An mp4 (H.264 + AAC) of ``photos`` with a sound track of pure digital silence."""
    sound = sound_track(target.with_suffix(".wav"), [], duration)
    return with_sound(_pictures(target, duration, photos), sound, target)


def mute_video(target: Path, duration: float, photos: list[Path]) -> Path:
    """An mp4 of ``photos`` with no sound track at all."""
    return _pictures(target, duration, photos).rename(target)
