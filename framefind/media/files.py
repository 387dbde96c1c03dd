"""Media files on disk: which files are ours, finding them, and hashing their content."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import stat as stat_mode
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from framefind.errors import FrameFindError, MediaError

# HEIC/HEIF photos (iPhone) when the optional plugin is installed (registered with Pillow on first use)
HEIF_EXTENSIONS = {".heic", ".heif"} if importlib.util.find_spec("pillow_heif") else set()

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} | HEIF_EXTENSIONS
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}

_HASH_CHUNK = 1 << 20


@functools.cache
def _teach_pillow_heif() -> None:
    if HEIF_EXTENSIONS:
        from pillow_heif import register_heif_opener

        register_heif_opener()


def open_image(path):
    """``PIL.Image.open``, HEIC/HEIF included: the plugin is registered on the first picture opened, not at
    import (14 ms that a search process, which opens no picture, would pay for nothing)."""
    from PIL import Image

    _teach_pillow_heif()
    return Image.open(path)


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int
    kind: str


def media_kind(path: str | Path) -> str | None:
    """``"image"`` or ``"video"`` by extension, else None (not ours to index)."""
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_EXTENSIONS else "video" if suffix in VIDEO_EXTENSIONS else None


def scan(roots: Iterable[str | Path]) -> Iterator[FileStat]:
    """Yield every supported media file below the roots (a root may also be a single file).

    Hidden files and directories are skipped; directory symlinks are not followed (no loops).
    """
    for root in roots:
        root = Path(root).expanduser()
        if not root.exists():
            raise FrameFindError(f"{root}: no such file or directory")
        root = root.resolve()
        if not root.is_dir():
            if media_kind(root) and (found := _stat(root)):
                yield found
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and media_kind(name) and (found := _stat(Path(dirpath) / name)):
                    yield found


def _stat(path: Path) -> FileStat | None:
    """Stat a regular file; None for FIFOs, sockets, devices (opening those could block) or vanished files."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat_mode.S_ISREG(st.st_mode):
        return None
    return FileStat(str(path), st.st_size, st.st_mtime_ns, media_kind(path) or "")


def content_hash(path: str | Path) -> str:
    """BLAKE2b-128 of the file's bytes: identical content shares one embedding, whatever its name."""
    return content_digests(path, pictures=False)[0]


def content_digests(path: str | Path, pictures: bool = True) -> tuple[str, str | None]:
    """(``content_hash``, the picture's scan digest or None), from one read of the file.

    The scan digest covers what defines a JPEG's or PNG's pixels and nothing its metadata editors rewrite (a
    caption, keywords, GPS, a thumbnail), so a caption written into a photo later gives a new content hash but
    the same scan digest, and its vectors are reused (store/reuse.py). Other formats, videos (``pictures``
    False) and malformed files get None: they are embedded as before. Never raises for what the file holds.
    """
    digest = hashlib.blake2b(digest_size=16)
    picture: _JpegScan | _PngScan | None = None
    try:
        with open(path, "rb") as fh:
            chunk = fh.read(len(_PNG_SIGNATURE))  # enough to tell the format
            if pictures:
                picture = _JpegScan() if chunk[:3] == b"\xff\xd8\xff" else _PngScan() \
                    if chunk == _PNG_SIGNATURE else None
            while chunk:
                digest.update(chunk)
                if picture is not None:
                    picture.take(chunk)
                chunk = fh.read(_HASH_CHUNK)
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest(), picture.result() if picture is not None else None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow's own test for an orientation in XMP (Image.getexif), used when EXIF has none.
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([0-9])')


class _PictureScan:
    """A streaming digest of a picture's pixel-defining bytes. Orientation tags live in the metadata but turn
    the decoded picture (``ImageOps.exif_transpose``): every one found is added to the digest, EXIF's and
    XMP's alike (Pillow reads XMP's only without EXIF's: counting both can only miss a reuse, never make a
    wrong one). Any surprise in the structure makes ``result`` None."""

    def __init__(self, kind: bytes) -> None:
        self.digest = hashlib.blake2b(kind + b"\0", digest_size=16)
        self.turns: list[bytes] = []
        self.failed = self.complete = False

    def take(self, chunk: bytes) -> None:
        if self.failed:
            return
        try:
            self.feed(chunk)
        except Exception:  # noqa: BLE001 - a structure this parser did not foresee: no scan digest, never an error
            self.failed = True

    def feed(self, chunk: bytes) -> None:
        raise NotImplementedError

    def result(self) -> str | None:
        if self.failed or not self.complete:
            return None
        self.digest.update(b"\0orientation\0" + b";".join(self.turns))
        return self.digest.hexdigest()


class _JpegScan(_PictureScan):
    """JPEG: every segment before the first scan (SOS) but APPn and COM (quantisation and Huffman tables, the
    frame header), Adobe's APP14 (it says how colours are coded), whether a JFIF APP0 is there (the same), and
    everything from the SOS marker to the end of the file (the entropy-coded data, later scans included)."""

    def __init__(self) -> None:
        super().__init__(b"jpeg")
        self.pending = bytearray()  # header bytes not parsed yet: at most one segment (< 64 KiB) and a chunk
        self.position = 2  # after SOI

    def feed(self, chunk: bytes) -> None:
        if self.complete:  # in the scan data: hashed as it comes, nothing kept
            self.digest.update(chunk)
            return
        self.pending += chunk
        buf, pos = self.pending, self.position
        while pos + 2 <= len(buf):
            if buf[pos] != 0xFF:
                raise ValueError("not a marker")
            marker = buf[pos + 1]
            if marker == 0xFF:  # a fill byte before a marker
                pos += 1
                continue
            if marker == 0xDA:  # SOS: the rest of the file is image data
                self.complete = True
                self.digest.update(memoryview(buf)[pos:])
                self.pending = bytearray()
                return
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                pos += 2
                continue
            if marker in (0x00, 0xD9):  # EOI (or nonsense) before any scan: no picture
                raise ValueError("no scan")
            if pos + 4 > len(buf):
                break
            end = pos + 2 + ((buf[pos + 2] << 8) | buf[pos + 3])
            if end < pos + 4:
                raise ValueError("bad length")
            if end > len(buf):
                break
            self._segment(marker, bytes(buf[pos:end]))
            pos = end
        del self.pending[:pos]
        self.position = 0

    def _segment(self, marker: int, segment: bytes) -> None:
        body = segment[4:]
        if marker == 0xE1 and body.startswith(b"Exif\0\0"):
            self.turns += [b"exif=" + turn for turn in [exif_orientation(body[6:])] if turn]
        elif marker == 0xE1:
            self.turns += [b"xmp=" + turn for turn in _XMP_ORIENTATION.findall(body)]
        elif marker == 0xE0 and body.startswith(b"JFIF\0"):
            self.turns.append(b"jfif")
        elif marker == 0xEE or not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            self.digest.update(segment)


class _PngScan(_PictureScan):
    """PNG: the chunks that define the pixels (IHDR, PLTE, IDAT, tRNS, and APNG's frame chunks), streamed;
    text and EXIF chunks are read only for orientations; every other chunk is skipped."""

    PIXELS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"tRNS", b"acTL", b"fcTL", b"fdAT"})
    READ = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})
    READ_LIMIT = 16 << 20  # a bigger text chunk is hashed whole instead of read (no reuse if it changes)

    def __init__(self) -> None:
        super().__init__(b"png")
        self.head = bytearray()  # the signature, then each chunk's length and type
        self.signed = False
        self.kind, self.left, self.mode = b"", 0, "skip"
        self.body = bytearray()
        self.seen: set[bytes] = set()

    def feed(self, chunk: bytes) -> None:
        view, i = memoryview(chunk), 0
        while i < len(view) and not self.failed:
            if self.kind == b"IEND":
                return  # what follows IEND is no part of the picture
            if self.left == 0:
                taken = view[i: i + 8 - len(self.head)]
                self.head += taken
                i += len(taken)
                if len(self.head) == 8:
                    self._header(bytes(self.head))
                    self.head.clear()
                continue
            part = view[i: i + self.left]
            i += len(part)
            self.left -= len(part)
            if self.mode == "hash":
                self.digest.update(part)
            elif self.mode == "read":
                self.body += part
                if self.left == 0:
                    self._read(self.kind, bytes(self.body[:-4]))  # less the CRC
                    self.body.clear()

    def _header(self, head: bytes) -> None:
        if not self.signed:
            if head != _PNG_SIGNATURE:
                raise ValueError("not a PNG")
            self.signed = True
            return
        length, self.kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or (not self.seen and self.kind != b"IHDR"):
            raise ValueError("bad chunk")
        self.seen.add(self.kind)
        if self.kind == b"IEND":
            self.complete = b"IDAT" in self.seen
            return
        self.left = length + 4  # the data and its CRC
        if self.kind in self.PIXELS or (self.kind in self.READ and length > self.READ_LIMIT):
            self.mode = "hash"
            self.digest.update(head)
        else:
            self.mode = "read" if self.kind in self.READ else "skip"

    def _read(self, kind: bytes, data: bytes) -> None:
        if kind == b"eXIf":
            turn = exif_orientation(data[6:] if data.startswith(b"Exif\0\0") else data)
            self.turns += [b"exif=" + turn] if turn else []
            return
        keyword, _, text = data.partition(b"\0")
        if keyword == b"Raw profile type exif":  # ImageMagick's EXIF, which Pillow reads too: kept whole
            self.turns.append(b"raw=" + hashlib.blake2b(data, digest_size=8).hexdigest().encode())
        elif keyword == b"XML:com.adobe.xmp":
            self.turns += [b"xmp=" + turn for turn in _XMP_ORIENTATION.findall(_png_text(kind, text))]


def _png_text(kind: bytes, rest: bytes) -> bytes:
    """The text of a tEXt, zTXt or iTXt chunk after its keyword, inflated (at most READ_LIMIT) when compressed."""
    if kind == b"iTXt":
        compressed, rest = rest[:1] == b"\1", rest[2:]
        rest = rest.split(b"\0", 2)[-1]  # past the language tag and the translated keyword
    else:
        compressed, rest = kind == b"zTXt", rest[1:] if kind == b"zTXt" else rest
    return zlib.decompressobj().decompress(rest, _PngScan.READ_LIMIT) if compressed else rest


def exif_orientation(tiff: bytes) -> bytes | None:
    """IFD0's Orientation (tag 0x0112) of a TIFF-structured EXIF block, as digits; None when absent (as if there
    were no EXIF); a digest of the whole block when it cannot be parsed (any change to it then counts)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for n in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", tiff, ifd + 2 + 12 * n)
            if tag == 0x0112:
                return str(struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]).encode()
        return None
    except (KeyError, struct.error):
        return b"?" + hashlib.blake2b(tiff, digest_size=8).hexdigest().encode()
