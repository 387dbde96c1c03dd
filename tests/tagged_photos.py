"""Real photos with the metadata cameras, phones and photo editors write: EXIF caption, Windows keywords, GPS,
an embedded XMP packet (and its text, for sidecars). Used by the tests of issue #20 and by ``make demo``."""

from __future__ import annotations

from pathlib import Path

from conftest import skimage_data
from PIL import Image

LISBON, ALFAMA, PORTO, BARCELONA = (38.7223, -9.1393), (38.7118, -9.1300), (41.1579, -8.6291), (41.3874, 2.1686)
SINTRA = (38.8029, -9.3817)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees, rest = int(value), (abs(value) - int(value)) * 60
    return float(degrees), float(int(rest)), round((rest - int(rest)) * 60, 4)


def photo(target: Path, source: str, *, gps: tuple[float, float] | None = None, caption: str = "",
          keywords: str = "", xmp: bytes | None = None) -> Path:
    """A real photo with the EXIF (caption, XP keywords, GPS) and XMP packet a camera or an editor writes."""
    image = Image.open(skimage_data() / source).convert("RGB")
    exif = Image.Exif()
    if caption:
        exif[0x010E] = caption
    if keywords:
        exif[0x9C9E] = keywords.encode("utf-16-le") + b"\0\0"
    if gps is not None:
        exif.get_ifd(0x8825).update({1: "N" if gps[0] >= 0 else "S", 2: _dms(gps[0]),
                                     3: "E" if gps[1] >= 0 else "W", 4: _dms(gps[1])})
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, exif=exif, **({"xmp": xmp} if xmp else {}))
    return target


def xmp_packet(description: str = "", subjects: tuple[str, ...] = ()) -> bytes:
    bag = "".join(f"<rdf:li>{s}</rdf:li>" for s in subjects)
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>'
            f'<dc:subject><rdf:Bag>{bag}</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
