"""What a photo or video says about itself: title, caption, comment, keywords and GPS, from headers only.

People have often typed words into their files already: a caption in Lightroom or Windows Explorer,
keywords in digiKam, a title on a phone video, a folder called "2019-07_Barcelona beach". Those words
are the most precise search terms a library has. Like capture.py this runs for every indexed file, so it
reads headers only (Pillow opens lazily, PyAV reads the container header) and never decodes pixels. It
never raises either: garbage EXIF, broken XMP or an impossible GPS fix become a one-line note next to
whatever else could be read, because one bad tag must not cost the file its other words.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from pathlib import Path

from framefind.media.described import PLACEHOLDERS, Described, _checked_gps, _clean, _unique
from framefind.media.files import open_image
from framefind.media.xmp import _parse_xmp

__all__ = ["GENERIC_FOLDERS", "PLACEHOLDERS", "Described", "path_words", "read_embedded", "read_sidecars",
           "sidecar_paths"]

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DESCRIPTION, _USER_COMMENT = 0x010E, 0x9286
_XP_TITLE, _XP_COMMENT, _XP_KEYWORDS, _XP_SUBJECT = 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F
_IPTC_TITLE, _IPTC_KEYWORDS, _IPTC_CAPTION = (2, 5), (2, 25), (2, 120)
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_LIMIT = 16 << 20  # a sidecar or packet larger than this is not a description: refuse rather than parse
_ISO6709 = re.compile(r"([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)")
# Video tags by field, in order of preference (MKV writes them upper case: keys are compared lower-cased)
_VIDEO_TITLE = ("title", "com.apple.quicktime.title")
_VIDEO_DESCRIPTION = ("description", "synopsis", "com.apple.quicktime.description")
_VIDEO_COMMENT = ("comment", "com.apple.quicktime.comment")
_VIDEO_KEYWORDS = ("keywords", "com.apple.quicktime.keywords")
_VIDEO_LOCATION = ("location", "com.apple.quicktime.location.iso6709", "location-eng")
# Names that cameras and phones make up: IMG_2041, DSC01234, DSCF0001, P1010001, PA140001, PXL_20190714_123456789,
# VID_..., MVI_..., GOPR0001, GH010001, DJI_0001, IMG-20190714-WA0001 (WhatsApp), IMG_E2041 (an iPhone edit)
_CAMERA_NAME = re.compile(
    r"(?<![^\W_])(?:IMG|VID|PXL|MVI|MOV|DSC[FNI]?|SAM|GOPR|G[HXP]|DJI|PICT|CIMG|IMGP|WA|WP|PANO|P[0-9A-C])"
    r"[_-]?E?\d{3,}(?:[_-]\d+)*(?:\.MP)?(?![^\W_])", re.I)
_NOT_WORDS = re.compile(r"\d+|\d+T\d+|T\d{4,6}|\d{1,2}h\d{2}|\d{1,2}(?:am|pm)", re.I)  # numbers, dates, times
_CAMERA_FOLDER = re.compile(r"(?i:DCIM)|[1-9]\d\d[A-Z_][A-Z0-9_]{4}")  # DCF folders: 100CANON, 101MSDCF, 100_PANA
# Folders named for what they hold, not for what is in it: a library rooted at ~/Photos would otherwise match
# "photos of a cat" with every file in it.
GENERIC_FOLDERS = frozenset({
    "pictures", "picture", "photos", "photo", "images", "image", "img", "imgs", "pics", "pix", "camera",
    "camera roll", "camera uploads", "dcim", "videos", "video", "movies", "movie", "media", "downloads", "download",
    "desktop", "documents", "home", "users", "library", "gallery", "albums", "album", "backup", "backups", "export",
    "exports", "import", "imports", "upload", "uploads", "new folder", "misc", "other", "sorted", "unsorted", "tmp",
    "temp", "files", "data", "shared", "mobile", "phone", "iphone", "android", "whatsapp images", "whatsapp video",
    "screenshots", "screen recordings", "all photos", "recents", "raw", "jpg", "jpeg", "originals", "edited"})


def read_embedded(path: str | Path, kind: str) -> Described:
    """The words and GPS fix stored inside the file; ``kind`` is "image" or "video". Never raises."""
    try:
        return _read_video(path) if kind == "video" else _read_image(path)
    except Exception as exc:  # the last guard: the readers below already note what they cannot read
        return Described(notes=(f"{kind}: unreadable ({_why(exc)})",))


def sidecar_paths(path: str | Path) -> list[Path]:
    """The XMP sidecars that exist: NAME.xmp (darktable, Lightroom) then NAME.EXT.xmp (digiKam), .XMP too."""
    path = Path(path)
    if not path.name:
        return []
    found: list[Path] = []
    for base in dict.fromkeys((path.with_suffix(""), path)):
        for suffix in (".xmp", ".XMP"):  # one per naming: on a case-insensitive disk both name the same file
            candidate = base.with_name(base.name + suffix)
            if os.path.isfile(candidate):  # False, not an error, for a folder we may not read
                found.append(candidate)
                break
    return found


def read_sidecars(path: str | Path) -> Described:
    """The sidecars of ``path`` merged, NAME.EXT.xmp over NAME.xmp (the more specific name wins)."""
    result = Described()
    for sidecar in sidecar_paths(path):
        result = _read_sidecar(sidecar).merged(result)
    return result


def path_words(path: str | Path, root: str | Path | None) -> tuple[str, str]:
    """(folder words, file-name words): what a person wrote in the names, numbers and camera names left out.

    Folders run from the root's own name down to the file's folder (with no root: the parent folder
    only), each split on anything but letters and digits, dates, times and numbers dropped
    ("2019-07_Barcelona beach" -> "Barcelona beach"). The file name's camera-made tokens (IMG_2041,
    DSC01234, PXL_20190714_123456789, ...) are dropped entirely; "" when nothing is left.
    """
    folder, name = os.path.split(os.fspath(path))
    return _folder_words(folder, None if root is None else os.fspath(root)), \
        _words(_CAMERA_NAME.sub(" ", os.path.splitext(name)[0]))


@functools.lru_cache(maxsize=4096)
def _folder_words(folder: str, root: str | None) -> str:
    """The words of a folder's names from the root down: the same for every file in it, so made once."""
    folders = [os.path.basename(folder)]
    if root:  # as written, symlinks not resolved: no disk access
        relative = Path(os.path.relpath(folder, root)).parts
        if ".." not in relative:
            folders = [Path(os.path.abspath(root)).name, *relative]
    folder_words = [_words(name) for name in folders
                    if not _CAMERA_FOLDER.fullmatch(name) and _words(name).casefold() not in GENERIC_FOLDERS]
    return " ".join(words for words in folder_words if words)


def _words(name: str) -> str:
    words = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", name)  # "Mom's" stays one word
    return " ".join(word for word in words if not _NOT_WORDS.fullmatch(word))


# ---- images -------------------------------------------------------------------------------------------


def _read_image(path: str | Path) -> Described:
    """EXIF, IPTC and XMP of one picture, each guarded on its own so one broken block spares the others."""
    from PIL import UnidentifiedImageError

    try:
        image = open_image(path)  # lazy: only the header is read
    except UnidentifiedImageError:  # its message names the whole path
        return Described(notes=("not a readable image (unknown format)",))
    except Exception as exc:
        return Described(notes=(f"not a readable image ({_why(exc)})",))
    with image:
        exif, iptc, xmp = (_guarded(label, reader, image) for label, reader in
                           (("EXIF", _from_exif), ("IPTC", _from_iptc), ("XMP", _from_xmp)))
    # Per field, the order in which tools are trusted: Lightroom/digiKam write dc:title, Windows XPTitle,
    # newsroom tools IPTC; a caption is most often the EXIF ImageDescription that all of them keep in sync.
    first = Described(title=xmp.title or exif.title or iptc.title,
                      description=exif.description or iptc.description or xmp.description)
    return first.merged(exif).merged(iptc).merged(xmp)


def _guarded(label: str, reader, image) -> Described:
    try:
        return reader(image)
    except Exception as exc:
        return Described(notes=(f"{label}: unreadable ({_why(exc)})",))


def _from_exif(image) -> Described:
    if image.format == "PNG" and "exif" not in image.info:
        return Described()  # Pillow's getexif() would decode every pixel looking for an eXIf chunk after the data
    exif = image.getexif()
    raw = image.info.get("exif")
    if not exif and isinstance(raw, bytes) and _exif_broken(raw):  # Pillow drops what it cannot read silently
        return Described(notes=("EXIF: unreadable (no valid directory)",))
    (sub, sub_note), (gps_ifd, gps_note) = _ifd(exif, _EXIF_IFD), _ifd(exif, _GPS_IFD)
    title, description = _xp(exif.get(_XP_TITLE)), _clean(exif.get(_DESCRIPTION))
    comments = (_user_comment(sub.get(_USER_COMMENT)), _xp(exif.get(_XP_COMMENT)), _xp(exif.get(_XP_SUBJECT)))
    comments = [text for text in _unique(comments) if text.casefold() not in (title.casefold(), description.casefold())]
    gps, notes = _exif_gps(gps_ifd)
    return Described(title=title, description=description, comment="; ".join(comments),
                     keywords=_split(_xp(exif.get(_XP_KEYWORDS)), ";"), gps=gps, notes=sub_note + gps_note + notes)


def _exif_broken(raw: bytes) -> bool:
    """Whether EXIF that Pillow read as empty is damaged, rather than an IFD0 with no entries (seen in the wild)."""
    tiff = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return True
    magic, offset = struct.unpack(order + "HI", tiff[2:8])
    return magic != 42 or len(tiff) < offset + 2 or struct.unpack(order + "H", tiff[offset:offset + 2])[0] > 0


def _ifd(exif, tag: int) -> tuple[dict, tuple[str, ...]]:
    """A sub-directory (Exif, GPS) on its own: a bad pointer there must not cost IFD0's caption."""
    try:
        return dict(exif.get_ifd(tag)), ()
    except Exception as exc:
        return {}, (f"EXIF: {'GPS' if tag == _GPS_IFD else 'Exif'} directory unreadable ({_why(exc)})",)


def _exif_gps(gps_ifd) -> tuple[tuple[float, float] | None, tuple[str, ...]]:
    """GPSLatitude/Ref and GPSLongitude/Ref (degrees, minutes, seconds as rationals) -> signed degrees."""
    try:
        lat = _exif_degrees(gps_ifd.get(2), gps_ifd.get(1))
        lon = _exif_degrees(gps_ifd.get(4), gps_ifd.get(3))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None, ("EXIF: GPS unreadable",)
    return _checked_gps(lat, lon, "EXIF")


def _exif_degrees(value, ref) -> float | None:
    if value is None:
        return None
    parts = tuple(value) if isinstance(value, tuple | list) else (value,)
    degrees = sum(float(part) / 60**i for i, part in enumerate(parts[:3]))
    return -degrees if _clean(ref).upper()[:1] in ("S", "W") else degrees


def _from_iptc(image) -> Described:
    from PIL import IptcImagePlugin

    info = IptcImagePlugin.getiptcinfo(image) or {}  # JPEG APP13 / TIFF tag 33723; None for other formats
    return Described(title=_clean(next(iter(_listed(info.get(_IPTC_TITLE))), None)),
                     description=_clean(next(iter(_listed(info.get(_IPTC_CAPTION))), None)),
                     keywords=tuple(_clean(value) for value in _listed(info.get(_IPTC_KEYWORDS))))


def _from_xmp(image) -> Described:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")  # Pillow >= 10 / PNG iTXt
    if raw is None and image.format in ("JPEG", "MPO"):  # an older Pillow: the APP1 segment itself
        raw = next((data[len(_XMP_APP1):] for marker, data in getattr(image, "applist", ())
                    if marker == "APP1" and data.startswith(_XMP_APP1)), None)
    if raw is None and hasattr(image, "tag_v2"):
        raw = image.tag_v2.get(700)  # TIFF's XMP tag
    if isinstance(raw, tuple | list):
        raw = raw[0] if len(raw) == 1 and isinstance(raw[0], bytes | str) else bytes(raw)
    return _parse_xmp(raw) if raw else Described()


# ---- XMP sidecars -------------------------------------------------------------------------------------


def _read_sidecar(sidecar: Path) -> Described:
    try:
        if sidecar.stat().st_size > _XMP_LIMIT:
            return Described(notes=(f"{sidecar.name}: XMP: too large",))
        found = _parse_xmp(sidecar.read_bytes())
    except Exception as exc:  # OSError mostly; never let one sidecar cost the file its other words
        return Described(notes=(f"{sidecar.name}: cannot read ({_why(exc)})",))
    return Described(found.title, found.description, found.comment, found.keywords, found.gps,
                     tuple(f"{sidecar.name}: {note}" for note in found.notes))


# ---- videos -------------------------------------------------------------------------------------------


def _read_video(path: str | Path) -> Described:
    """Container tags, else the first video stream's: title, description, comment, keywords, ISO 6709 location."""
    try:
        import av  # PyAV is heavy to import: only when a video is met

        with av.open(str(path), metadata_errors="ignore") as container:
            tags: dict[str, str] = {}
            for meta in [*(stream.metadata for stream in container.streams.video[:1]), container.metadata]:
                tags.update((str(key).lower(), value) for key, value in meta.items())  # the container's win
    except Exception as exc:  # av.error.*, OSError, ImportError
        return Described(notes=(f"video: unreadable ({_why(exc)})",))

    def first(keys: tuple[str, ...]) -> str:
        return next((text for key in keys if (text := _clean(tags.get(key)))), "")

    location = first(_VIDEO_LOCATION)
    try:
        gps, notes = _checked_gps(*_iso6709(location), "video") if location else (None, ())
    except ValueError:
        gps, notes = None, (f"video: location {location[:40]!r} unreadable",)
    return Described(title=first(_VIDEO_TITLE), description=first(_VIDEO_DESCRIPTION),
                     comment=first(_VIDEO_COMMENT), keywords=_split(first(_VIDEO_KEYWORDS), ",;"),
                     gps=gps, notes=notes)


def _iso6709(text: str) -> tuple[float, float]:
    """ "+38.7223-009.1393/" or "+38.7223-009.1393+012.345/" (also ±DDMM.M and ±DDMMSS forms) -> (lat, lon)."""
    match = _ISO6709.match(text.strip())
    if not match:
        raise ValueError(text)
    return _iso6709_part(match[1], 2), _iso6709_part(match[2], 3)


def _iso6709_part(number: str, digits: int) -> float:
    sign = -1.0 if number[0] == "-" else 1.0
    whole, _, fraction = number[1:].partition(".")
    extra, fraction = len(whole) - digits, "." + (fraction or "0")
    if extra <= 0:  # ±DD.DDD (some writers drop the zero padding)
        return sign * float(number[1:])
    if extra == 2:  # ±DDMM.MMM
        return sign * (int(whole[:digits]) + float(whole[digits:] + fraction) / 60)
    if extra == 4:  # ±DDMMSS.SS
        return sign * (int(whole[:digits]) + int(whole[digits:digits + 2]) / 60
                       + float(whole[digits + 2:] + fraction) / 3600)
    raise ValueError(number)


# ---- small helpers ------------------------------------------------------------------------------------


def _xp(value: object) -> str:
    """A Windows XP* tag: UTF-16LE bytes (Pillow gives bytes, or a tuple of ints from some writers)."""
    if isinstance(value, tuple | list) and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        value = bytes(value)
    return _clean(value.decode("utf-16-le", "ignore")) if isinstance(value, bytes) else _clean(value)


def _user_comment(value: object) -> str:
    """EXIF UserComment: an 8-byte charset header (ASCII, UNICODE, JIS or undefined) then the text."""
    if not isinstance(value, bytes):
        return _clean(value)
    head, body = value[:8], value[8:]
    if head.startswith(b"UNICODE"):
        return _clean(_utf16(body))
    if head.startswith(b"JIS"):
        try:
            return _clean(body.decode("iso2022_jp" if b"\x1b" in body else "shift_jis"))
        except UnicodeDecodeError:
            return _clean(body.decode("latin-1"))
    if head.startswith(b"ASCII") or head == b"\x00" * 8:
        return _clean(body)
    return _clean(value)  # no header: some writers omit it


def _utf16(data: bytes) -> str:
    """UTF-16 of either byte order: the BOM says, else where the zero bytes of Latin text fall."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "ignore")
    big = data[0::2].count(0) > data[1::2].count(0)
    return data.decode("utf-16-be" if big else "utf-16-le", "ignore")


def _listed(value: object) -> list:
    return list(value) if isinstance(value, list | tuple) else [] if value is None else [value]


def _split(text: str, separators: str) -> tuple[str, ...]:
    return tuple(part for part in (_clean(p) for p in re.split(f"[{re.escape(separators)}]", text)) if part)


def _why(exc: BaseException) -> str:
    """One short line for a failure: an OSError's reason without the path, else the first line of the message."""
    if isinstance(getattr(exc, "strerror", None), str) and exc.strerror:  # OSError, PyAV's errors
        return exc.strerror
    line = (str(exc).splitlines() or [""])[0].strip()
    return line[:80] or type(exc).__name__
