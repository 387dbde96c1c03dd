"""XMP packets (embedded or sidecar) -> Described: dc:title, dc:description, keywords and GPS.

Parsed with the standard library's ElementTree, DOCTYPE and entities refused; malformed XML or an unreadable
GPS value becomes a note, never an exception, like everything else that reads a file's own words.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from framefind.media.described import Described, _checked_gps, _clean

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_LR_HIERARCHY = "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject"
_HEADLINE = "{http://ns.adobe.com/photoshop/1.0/}Headline"
_XMP_GPS = ("{http://ns.adobe.com/exif/1.0/}GPSLatitude", "{http://ns.adobe.com/exif/1.0/}GPSLongitude")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XMP_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:,\s*(\d+(?:\.\d+)?))?\s*(?:,\s*(\d+(?:\.\d+)?))?\s*([NSEW])", re.I)


def _parse_xmp(data: bytes | str) -> Described:
    """dc:title, dc:description, dc:subject, lr:hierarchicalSubject, photoshop:Headline and exif:GPS* of a packet."""
    text = _xml_text(data) if isinstance(data, bytes) else data
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # entities are no part of XMP: refuse them (entity expansion)
        return Described(notes=("XMP: DOCTYPE refused",))
    try:
        root = ElementTree.fromstring(text.strip("\x00 \t\r\n"))
    except ElementTree.ParseError:
        return Described(notes=("XMP: not well-formed XML",))
    hierarchy = [level for path in _bag(root, _LR_HIERARCHY) for level in path.split("|")]
    keywords = tuple(_clean(word) for word in [*_bag(root, _DC + "subject"), *hierarchy])
    try:
        lat, lon = (_xmp_degrees(_simple(root, tag)) for tag in _XMP_GPS)
        gps, notes = _checked_gps(lat, lon, "XMP")
    except ValueError:
        gps, notes = None, ("XMP: GPS unreadable",)
    return Described(title=_alt(root, _DC + "title") or _clean(_simple(root, _HEADLINE)),
                     description=_alt(root, _DC + "description"), keywords=keywords, gps=gps, notes=notes)


def _xml_text(data: bytes) -> str:
    """XMP bytes as text: UTF-8 unless a byte-order mark or zero bytes say UTF-16; bad bytes replaced."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    if data[:2] in (b"<\x00", b"\x00<"):
        return data.decode("utf-16-le" if data[0] else "utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def _alt(root, tag: str) -> str:
    """A language alternative (rdf:Alt): the x-default item, else the first; a plain value too."""
    for element in root.iter(tag):
        items = list(element.iter(_RDF + "li"))
        chosen = next((li for li in items if li.get(_XML_LANG) == "x-default"), items[0] if items else element)
        if text := _clean(chosen.text):
            return text
    return _clean(_attribute(root, tag))


def _bag(root, tag: str) -> list[str]:
    """The items of an rdf:Bag or rdf:Seq (or a single plain value)."""
    values = []
    for element in root.iter(tag):
        items = list(element.iter(_RDF + "li")) or [element]
        values += [item.text for item in items if item.text]
    attribute = _attribute(root, tag)
    return values + ([attribute] if attribute else [])


def _simple(root, tag: str) -> str:
    """A simple property: written as an element or, in XMP's short form, as an attribute of rdf:Description."""
    element = root.find(f".//{tag}")
    return _clean(element.text if element is not None else _attribute(root, tag))


def _attribute(root, tag: str) -> str:
    return next((element.get(tag) for element in root.iter(_RDF + "Description") if element.get(tag)), "")


def _xmp_degrees(text: str) -> float | None:
    """ "38,43.5054N" (degrees, decimal minutes), "38,43,30.3N", or a plain "-9.1393"; ValueError when neither."""
    if not text:
        return None
    match = _XMP_DEGREES.fullmatch(text.strip())
    if not match:
        return float(text)
    degrees, minutes, seconds, ref = match.groups()
    value = float(degrees) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    return -value if ref.upper() in ("S", "W") else value
