"""What a file says about itself (the Described record) and the text and GPS checks every reader shares.

A module of its own so that the header readers (metadata.py) and the XMP parser (xmp.py) can both build
Described records without importing each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# What cameras write when nobody wrote anything: words that would match every photo of that camera
PLACEHOLDERS = frozenset(text.casefold() for text in (
    "OLYMPUS DIGITAL CAMERA", "SONY DSC", "default", "DIGITAL CAMERA", "KODAK Digital Still Camera",
    "MINOLTA DIGITAL CAMERA", "Minolta DSC", "LEICA DIGITAL CAMERA", "SAMSUNG", "SAMSUNG CAMERA PICTURES",
    "Exif_JPEG_PICTURE", "Exif_JPEG_420", "Exif_JPEG_422", "JPEG", "Untitled", "<Untitled>", "ASCII", "DCIM",
    "x-default",  # GIMP and Capture One have written the language tag itself as the caption
))


@dataclass(frozen=True)
class Described:
    """What a file says about itself."""

    title: str = ""
    description: str = ""
    comment: str = ""
    keywords: tuple[str, ...] = ()
    gps: tuple[float, float] | None = None  # (lat, lon) decimal degrees
    notes: tuple[str, ...] = ()  # one short line each for what was unreadable

    def __post_init__(self) -> None:
        """Keywords deduplicated case-insensitively (first spelling kept); a comment that only repeats the
        title or caption dropped (digiKam writes its caption into UserComment too): words count once."""
        object.__setattr__(self, "keywords", _unique(self.keywords))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.comment.casefold() in (self.title.casefold(), self.description.casefold()):
            object.__setattr__(self, "comment", "")

    def merged(self, other: Described) -> Described:
        """Self's fields where set, else other's; keywords united; notes of both."""
        return Described(self.title or other.title, self.description or other.description,
                         self.comment or other.comment, self.keywords + tuple(other.keywords),
                         self.gps if self.gps is not None else other.gps, self.notes + tuple(other.notes))

    def fields(self) -> list[tuple[str, str]]:
        """The non-empty text fields as (name, text), for indexing and display."""
        pairs = [("title", self.title), ("caption", self.description), ("comment", self.comment),
                 ("keywords", ", ".join(self.keywords))]
        return [(name, text) for name, text in pairs if text]


def _checked_gps(lat: float | None, lon: float | None, source: str) -> tuple[tuple[float, float] | None,
                                                                             tuple[str, ...]]:
    """(lat, lon) when it is a place on Earth; else None and a note (0,0 is a GPS that had no fix)."""
    if lat is None and lon is None:
        return None, ()
    if lat is None or lon is None:
        return None, (f"{source}: GPS incomplete",)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None, (f"{source}: GPS unreadable",)
    if lat == 0 and lon == 0:
        return None, (f"{source}: GPS 0,0 ignored",)
    if abs(lat) > 90 or abs(lon) > 180:
        return None, (f"{source}: GPS {lat:g},{lon:g} out of range",)
    return (lat, lon), ()


def _clean(value: object) -> str:
    """Text without NULs and runs of blanks; "" for camera placeholders and for what is not text."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        return ""
    text = " ".join(value.replace("\x00", " ").split())
    return "" if text.casefold() in PLACEHOLDERS else text


def _unique(values) -> tuple[str, ...]:
    """Non-empty strings, deduplicated case-insensitively, first spelling and order kept."""
    seen: set[str] = set()
    kept = []
    for value in values:
        if isinstance(value, str) and value and value.casefold() not in seen:
            seen.add(value.casefold())
            kept.append(value)
    return tuple(kept)
