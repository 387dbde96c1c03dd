"""Export a time range of a video as a browser-playable MP4, exactly (re-encode) or fast (stream copy)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path
from framefind.media.video import declared_duration, time_origin

MIN_CLIP_SECONDS = 2.0  # a moment from a flash-short shot still gets a clip worth watching


def moment_span(start: float, end: float, frame_time: float | None) -> tuple[float, float]:
    """The span to cut for a moment: itself, or MIN_CLIP_SECONDS around its best frame ending by its end."""
    if end - start >= MIN_CLIP_SECONDS:
        return start, end
    middle = frame_time if frame_time is not None else (start + end) / 2
    start = max(0.0, min(middle - MIN_CLIP_SECONDS / 2, end - MIN_CLIP_SECONDS))
    return start, start + MIN_CLIP_SECONDS


@dataclass
class VideoCut:
    path: Path
    start: float  # seconds actually covered in the source
    end: float
    duration: float  # of the written file, measured by reopening it


def cut_video(source: Path, start: float, end: float, target: Path, *, fast: bool = False) -> VideoCut:
    """Write source[start:end] (seconds from the first video frame) to target as MP4 with +faststart.

    Exact mode re-encodes H.264/AAC so the clip begins at the first frame at or after start; fast mode
    copies packets from the keyframe at or before start, so it may begin earlier (VideoCut.start says where).
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise FrameFindError(f"{source}: file not found")
    if start < 0:
        raise FrameFindError(f"{source}: negative start time {start:g} s")
    if start >= end:
        raise FrameFindError(f"{source}: start {start:g} s is not before end {end:g} s")
    try:
        inp = av.open(str(source))
    except av.FFmpegError as exc:
        raise FrameFindError(f"{source}: not a readable video ({exc.strerror or exc})") from None
    with inp:
        if not inp.streams.video:
            raise FrameFindError(f"{source}: no video stream")
        video = inp.streams.video[0]
        audio = inp.streams.audio[0] if inp.streams.audio else None
        origin, total = time_origin(video), declared_duration(inp, video)
        if total is not None and start >= total:
            raise FrameFindError(f"{source}: start {start:g} s is beyond the video's duration ({total:.2f} s)")
        end = min(end, total) if total is not None else end  # a too-late end is clamped silently
        try:
            # Seconds count from the video's first timestamp (non-zero in e.g. MPEG-TS or edited MP4s).
            inp.seek(int((origin + start) / video.time_base), stream=video, backward=True, any_frame=False)
            with atomic_path(target) as tmp:
                # +faststart puts the index (moov) first, so browsers can play while loading.
                with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                    copy = _copy if fast else _reencode
                    covered = copy(inp, out, video, audio, origin + start, origin + end)
                if covered is None:
                    raise FrameFindError(f"{source}: no decodable video between {start:g} s and {end:g} s")
                duration = _measure(tmp)
        except av.FFmpegError as exc:  # e.g. a failed seek or encoder; decode errors are handled in the loops
            raise FrameFindError(f"{source}: cannot cut this video ({exc})") from None
    return VideoCut(target, covered[0] - origin, covered[1] - origin, duration)


def _far_past(packet: av.Packet, t_end: float) -> bool:
    """Whether demuxing has gone well past the clip: streams interleave within a second or so, not 3."""
    return packet.pts is not None and float(packet.pts * packet.time_base) > t_end + 3


def _aac_layout(layout: av.AudioLayout, rate: int) -> str:
    """The source channel layout when the AAC encoder accepts it, else stereo (a downmix)."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.layout, ctx.sample_rate, ctx.format = layout.name, rate, "fltp"
    try:
        ctx.open()
    except (av.FFmpegError, ValueError):
        return "stereo"
    return layout.name


def _reencode(inp, out, video, audio, t_start: float, t_end: float) -> tuple[float, float] | None:
    """Decode from the keyframe before t_start, keep frames with t_start <= t < t_end, encode H.264 + AAC."""
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    vout = out.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
    vout.width, vout.height = video.width - video.width % 2, video.height - video.height % 2  # yuv420p needs even
    vout.pix_fmt = "yuv420p"
    # Keep the source time base so variable-rate timestamps survive unchanged.
    vout.codec_context.time_base = vout.time_base = video.time_base
    cut = _AudioCut(out, audio, t_end) if audio is not None else None
    first: int | None = None  # source pts of the first kept frame: output time 0
    last_end = t_start
    video_done, audio_done = False, cut is None
    try:
        for packet in inp.demux([s for s in (video, audio) if s is not None]):
            if _far_past(packet, t_end):
                break  # e.g. audio that ends before the video: don't read the rest of a long file
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                t = float(frame.time)
                if cut is not None and packet.stream is audio:
                    audio_done = audio_done or t >= t_end
                    cut.add(frame)
                    continue
                video_done = video_done or t >= t_end
                if not t_start <= t < t_end:
                    continue
                if first is None:
                    first = frame.pts
                    if cut is not None:
                        cut.t0 = t  # audio starts with the first kept frame, to stay in sync
                    if frame.rotation:  # keep the orientation as metadata, as the source has it
                        vout.set_display_rotation(frame.rotation)
                dur = float(frame.duration * frame.time_base) if frame.duration else float(1 / rate)
                last_end = max(last_end, min(t + dur, t_end))
                img = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                img.pts, img.time_base = frame.pts - first, video.time_base
                out.mux(vout.encode(img))
            if video_done and audio_done:
                break
    except av.FFmpegError:
        pass  # corrupt partway: keep what was decoded (nothing at all is reported by the caller)
    if first is None:
        return None
    out.mux(vout.encode(None))
    if cut is not None:
        cut.close()
    return float(first * video.time_base), last_end


class _AudioCut:
    """Trims decoded audio to [t0, t_end) and encodes it as AAC; holds frames back until t0 is known."""

    def __init__(self, out: av.container.OutputContainer, audio: av.AudioStream, t_end: float) -> None:
        layout = _aac_layout(audio.layout, audio.rate)
        self.out, self.rate, self.t_end = out, audio.rate, t_end
        self.stream = out.add_stream("aac", rate=audio.rate, layout=layout)
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=audio.rate)
        self.t0: float | None = None  # time of the first kept video frame
        self.pending: list[av.AudioFrame] = []
        self.samples = 0

    def add(self, frame: av.AudioFrame | None = None) -> None:
        """Queue a decoded frame; once t0 is known, trim and encode everything queued."""
        if frame is not None:
            self.pending.append(frame)
        if self.t0 is None:
            return
        for frame in self.pending:
            t = float(frame.time)
            for part in self.resampler.resample(frame):
                data = part.to_ndarray()  # (channels, samples), planar float
                lo = max(0, round((self.t0 - t) * self.rate))
                hi = min(data.shape[1], round((self.t_end - t) * self.rate))
                t += data.shape[1] / self.rate
                if hi <= lo:
                    continue
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, lo:hi]), format="fltp",
                                                   layout=part.layout)
                chunk.sample_rate, chunk.pts, chunk.time_base = self.rate, self.samples, Fraction(1, self.rate)
                self.samples += hi - lo
                self.out.mux(self.stream.encode(chunk))
        self.pending.clear()

    def close(self) -> None:
        self.add()
        self.out.mux(self.stream.encode(None))


def _copy(inp, out, video, audio, t_start: float, t_end: float) -> tuple[float, float] | None:
    """Remux packets from the keyframe at or before t_start up to t_end, rebased to start at 0."""
    streams = [s for s in (video, audio) if s is not None]
    outs = {s.index: out.add_stream_from_template(s) for s in streams}
    key: float | None = None  # source time of the first kept keyframe: output time 0
    last_end = t_start
    video_done, audio_done = False, audio is None
    try:
        for packet in inp.demux(streams):
            if _far_past(packet, t_end):
                break
            if packet.dts is None or packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base)
            if packet.stream is video:
                if key is None and not packet.is_keyframe:
                    continue  # undecodable without the keyframe before it
                key = t if key is None else key
                # dts, not pts: B-frames shown before the end may reference a P-frame shown after it.
                video_done = video_done or packet.dts * packet.time_base >= t_end
                keep = not video_done
                if keep:
                    last_end = max(last_end, t + float((packet.duration or 0) * packet.time_base))
            else:
                audio_done = audio_done or t >= t_end
                keep = key is not None and key <= t < t_end
            if keep:
                shift = round(key / packet.time_base)
                packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
                packet.stream = outs[packet.stream.index]
                out.mux(packet)
            if video_done and audio_done:
                break
    except av.FFmpegError:
        pass  # corrupt partway: keep what was copied (nothing at all is reported by the caller)
    return None if key is None else (key, last_end)


def _measure(path: Path) -> float:
    """Duration of a written clip: its longest stream, as the MP4 index states it."""
    with av.open(str(path)) as clip:
        return max((float(s.duration * s.time_base) for s in clip.streams if s.duration), default=0.0)
