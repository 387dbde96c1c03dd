"""Example files sent to the server: size- and type-checked, kept in a private temp folder (never
inside the library's roots), deleted after the search. Fetching by URL is off unless the server was
started with it, and then refuses private, loopback, link-local and other non-public addresses."""

from __future__ import annotations

import ipaddress
import re
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from framefind.errors import ClientError, FrameFindError
from framefind.media.files import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, open_image

CHUNK = 1 << 20
LIMITS_MB = {"image": 50, "video": 500}


@contextmanager
def saved_upload(upload: UploadFile, kind: str, folder: Path, limit_mb: int | None = None) -> Iterator[Path]:
    """The upload as a temporary file of the right suffix; 413 past the size limit, 415 for other types."""
    suffix = Path(upload.filename or "").suffix.lower()
    allowed = IMAGE_EXTENSIONS if kind == "image" else VIDEO_EXTENSIONS
    if suffix not in allowed:
        raise ClientError(f"{upload.filename or 'upload'}: not an {kind} file this server takes "
                          f"({', '.join(sorted(allowed))})", 415)
    limit = (limit_mb or LIMITS_MB[kind]) << 20
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix) as out:
        size = 0
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise ClientError(f"{upload.filename}: larger than the {limit >> 20} MB upload limit", 413)
            out.write(chunk)
        out.flush()
        if size == 0:
            raise ClientError(f"{upload.filename}: empty file")
        try:
            yield Path(out.name)
        except FrameFindError as exc:  # name the client's file, never the server's temporary path
            raise ClientError(re.sub(rf"{re.escape(str(folder))}/\S+?(?=:|\s|$)", upload.filename or "upload",
                                     str(exc)), getattr(exc, "status", 400)) from None


@contextmanager
def region(image: Path, box: str | None) -> Iterator[Path]:
    """``image`` cropped to ``box`` ("x,y,w,h", fractions of its width and height), or as it is."""
    if not box:
        yield image
        return
    try:
        x, y, w, h = (float(v) for v in box.split(","))
    except ValueError:
        raise ClientError(f"box {box!r}: give x,y,w,h as fractions of the image (e.g. 0.1,0.2,0.5,0.5)") from None
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-6 and 0 < h <= 1 - y + 1e-6):
        raise ClientError(f"box {box!r}: must lie inside the image (fractions from 0 to 1)")
    try:
        with open_image(image) as im:
            width, height = im.size
            crop = im.convert("RGB").crop((round(x * width), round(y * height),
                                           max(round((x + w) * width), round(x * width) + 1),
                                           max(round((y + h) * height), round(y * height) + 1)))
    except (OSError, ValueError) as exc:
        raise ClientError(f"{image.name}: not a readable image ({exc})") from None
    with tempfile.NamedTemporaryFile(dir=image.parent, suffix=".png") as out:
        crop.save(out, "PNG")
        out.flush()
        yield Path(out.name)


def check_public_url(url: str) -> None:
    """Refuse URLs that are not http(s) or that resolve to a non-public address (SSRF guard)."""
    parsed = urllib.request.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ClientError(f"{url}: only http and https URLs can be fetched")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, parsed.port or 443)}
    except OSError as exc:
        raise ClientError(f"{url}: cannot resolve {parsed.hostname} ({exc.strerror or exc})") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise ClientError(f"{url}: refused, {parsed.hostname} is a private, loopback or link-local address", 403)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could lead to an address we refused
        return None


def fetch_url(url: str, folder: Path, limit_mb: int = LIMITS_MB["image"]) -> Path:
    """Download an example image (no redirects, size-limited) into ``folder``; the caller deletes it."""
    check_public_url(url)
    suffix = Path(urllib.request.urlparse(url).path).suffix.lower()
    suffix = suffix if suffix in IMAGE_EXTENSIONS else ".jpg"
    opener = urllib.request.build_opener(_NoRedirect)
    fd, name = tempfile.mkstemp(dir=folder, suffix=suffix)
    try:
        with opener.open(url, timeout=10) as response, open(fd, "wb") as out:
            size = 0
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > limit_mb << 20:
                    raise ClientError(f"{url}: larger than the {limit_mb} MB limit", 413)
                out.write(chunk)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise ClientError(f"{url}: cannot fetch ({exc})") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
