"""When a photo or video was taken, from the file's own metadata (EXIF, QuickTime/MP4 tags).

A file's mtime says when it was last copied or edited, not when it was shot: date filters ("beach
2019") need the capture time the camera recorded. This runs for every indexed file, so it reads
headers only (Pillow opens lazily; PyAV reads the container header) and never decodes pixels.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from framefind.media.files import open_image

_EXIF_IFD = 0x8769
# (date tag, its offset tag, in the Exif IFD?): DateTimeOriginal, DateTimeDigitized, then IFD0 DateTime.
_EXIF_DATES = ((36867, 36881, True), (36868, 36882, True), (306, 36880, False))
_EXIF_STAMP = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_VIDEO_KEYS = ("com.apple.quicktime.creationdate", "creation_time")  # Apple's keeps the local offset
_ZERO_DAYS = {"1970-01-01", "1904-01-01"}  # Unix and QuickTime zero epochs: a clock never set


def capture_time(path: str | Path, kind: str) -> float | None:
    """Epoch seconds when the picture or video was taken, from its own metadata; None when it has none.

    ``kind`` is "image" or "video". Never raises: an unreadable or corrupt file, or a bogus date
    (before 1900, a zero epoch, more than a day in the future), gives None and the caller falls back
    to the file's mtime.
    """
    try:
        stamp = _video_time(path) if kind == "video" else _image_time(path)
    except Exception:  # corrupt media raises all sorts (OSError, SyntaxError, av.error.*, ValueError)
        return None
    return stamp if stamp is not None and stamp <= time.time() + 86400 else None


def _image_time(path: str | Path) -> float | None:
    """EXIF DateTimeOriginal, else DateTimeDigitized, else DateTime, with its OffsetTime* when recorded."""
    with open_image(path) as image:  # lazy: only the header is read
        if image.format == "PNG" and "exif" not in image.info:
            return None  # Pillow's getexif() would decode every pixel looking for an eXIf chunk after the data
        exif = image.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
    for tag, offset_tag, in_sub in _EXIF_DATES:
        stamp = _exif_stamp((sub if in_sub else exif).get(tag), sub.get(offset_tag))
        if stamp is not None:
            return stamp
    return None


def _text(value: object) -> str:
    """An EXIF ASCII value as text: some cameras pad with NULs or spaces, some store bytes."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip("\x00 \t") if isinstance(value, str) else ""


def _exif_stamp(value: object, offset: object) -> float | None:
    """ "2019:07:14 12:30:00" (or "2019-07-14 ...") in local time, or at ``offset`` ("+02:00") when given."""
    match = _EXIF_STAMP.match(_text(value))
    if not match:
        return None
    try:
        taken = datetime(*(int(part) for part in match.groups() if part is not None))
    except ValueError:  # "0000:00:00 00:00:00", month 13, ...
        return None
    if taken.year < 1900 or taken.date().isoformat() in _ZERO_DAYS:
        return None
    zone = _OFFSET.fullmatch(_text(offset))
    if zone:
        minutes = int(zone[2]) * 60 + int(zone[3])
        taken = taken.replace(tzinfo=timezone(timedelta(minutes=-minutes if zone[1] == "-" else minutes)))
    return taken.timestamp()  # naive: local time, as the camera's clock showed it


def _video_time(path: str | Path) -> float | None:
    """The container's (else the first video stream's) creation time: ISO 8601, UTC unless it says otherwise."""
    import av  # PyAV is heavy to import: only when a video is met

    with av.open(str(path), metadata_errors="ignore") as container:
        tags = [dict(container.metadata)] + [dict(stream.metadata) for stream in container.streams.video[:1]]
    for key in _VIDEO_KEYS:
        for meta in tags:
            stamp = _iso_stamp(meta.get(key), local=key.startswith("com.apple"))
            if stamp is not None:
                return stamp
    return None


def _iso_stamp(value: str | None, local: bool) -> float | None:
    """ "2019-07-14T12:30:00.000000Z" -> epoch seconds; no zone means UTC (MP4's creation_time) unless ``local``."""
    if not value:
        return None
    try:
        taken = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if taken.year < 1900 or taken.date().isoformat() in _ZERO_DAYS:
        return None
    if taken.tzinfo is None and not local:
        taken = taken.replace(tzinfo=UTC)
    return taken.timestamp()
