"""A caption or keyword written into a photo after it was indexed (issue #20): the file's bytes change, its picture
data does not, so the next ``index`` reads the new words without decoding or embedding it again (store/reuse.py,
media.files.content_digests).

Real photos (scikit-image's, with the EXIF and XMP Pillow writes, tests/tagged_photos.py); metadata rewritten as
editors do it (exiftool, digiKam, Lightroom): a JPEG's APP segments or a PNG's text chunks spliced into the original
bytes, the compressed picture data left byte for byte as it was.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from conftest import run_cli, skimage_data
from PIL import Image
from tagged_photos import photo, xmp_packet

from framefind import Library, Query
from framefind.media import files
from framefind.media.files import content_digests, content_hash

OLD_CAPTION, NEW_CAPTION = "Grandmother's quilt workshop", "Marmalade the ginger tabby"
SOS = 0xDA


# ---- rewriting metadata as editors do -------------------------------------------------------------------------
def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(marker, whole segment) of every segment before the first scan, and where that scan (SOS) starts."""
    out, pos = [], 2
    while data[pos + 1] != SOS:
        end = pos + 2 + struct.unpack(">H", data[pos + 2: pos + 4])[0]
        out.append((data[pos + 1], data[pos:end]))
        pos = end
    return out, pos


def app_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def exif_block(caption: str = "", orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if caption:
        exif[0x010E] = caption
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()  # b"Exif\0\0" + the TIFF structure


def rewrite_jpeg(path: Path, *segments: bytes, drop_exif: bool = True) -> None:
    """Replace the Exif APP1 (or keep it) and add ``segments`` after the APP0, leaving tables and scans as they were."""
    data = path.read_bytes()
    found, sos = jpeg_segments(data)
    kept = [seg for marker, seg in found if not (drop_exif and marker == 0xE1 and seg[4:10] == b"Exif\0\0")]
    head = [seg for seg in kept if seg[1] == 0xE0]
    rest = [seg for seg in kept if seg[1] != 0xE0]
    path.write_bytes(data[:2] + b"".join(head) + b"".join(segments) + b"".join(rest) + data[sos:])


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        out.append((kind, data[pos: pos + 12 + length]))
        pos += 12 + length
    return out


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def rewrite_png(path: Path, *chunks: bytes, drop: tuple[bytes, ...] = ()) -> None:
    """Insert ``chunks`` before the first IDAT (where exiftool puts XMP), dropping chunks of the kinds ``drop``."""
    data = path.read_bytes()
    out, placed = [data[:8]], False
    for kind, chunk in png_chunks(data):
        if kind == b"IDAT" and not placed:
            out += chunks
            placed = True
        if kind not in drop:
            out.append(chunk)
    path.write_bytes(b"".join(out))


def xmp_itxt(description: str) -> bytes:
    return png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp_packet(description))


# ---- the digest ----------------------------------------------------------------------------------------------
@pytest.fixture
def jpeg(tmp_path) -> Path:
    return photo(tmp_path / "IMG_0001.jpg", "chelsea.png", caption=OLD_CAPTION)


@pytest.fixture
def png(tmp_path) -> Path:
    return photo(tmp_path / "IMG_0002.png", "coffee.png", caption=OLD_CAPTION)


def test_a_jpeg_keeps_its_scan_digest_whatever_its_app_segments_and_comments_say(jpeg):
    full, scan = content_digests(jpeg)
    assert full == content_hash(jpeg) and scan is not None and scan != full
    rewrite_jpeg(jpeg, app_segment(0xE1, exif_block(NEW_CAPTION)),
                 app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp_packet("tabby", ("cat",))),
                 app_segment(0xED, b"Photoshop 3.0\0" + b"8BIM" + bytes(20)), app_segment(0xFE, b"a comment"))
    edited = content_digests(jpeg)
    assert edited[0] != full and edited[1] == scan
    rewrite_jpeg(jpeg)  # every Exif block gone (XMP, IPTC and the comment stay)
    assert content_digests(jpeg)[1] == scan


def test_a_jpeg_with_other_tables_another_scan_or_another_orientation_is_another_picture(jpeg):
    data, (_, scan) = jpeg.read_bytes(), content_digests(jpeg)
    found, sos = jpeg_segments(data)
    dqt = data.index(next(seg for marker, seg in found if marker == 0xDB))
    for at in (dqt + 6, sos + 40, len(data) - 10):  # a quantisation value, the scan's header, the entropy-coded data
        changed = bytearray(data)
        changed[at] ^= 0x01
        jpeg.write_bytes(bytes(changed))
        assert content_digests(jpeg)[1] not in (scan, None), at
    jpeg.write_bytes(data)
    rewrite_jpeg(jpeg, app_segment(0xE1, exif_block(OLD_CAPTION, orientation=6)))  # turned by its EXIF alone
    turned = content_digests(jpeg)[1]
    assert turned not in (scan, None)
    rewrite_jpeg(jpeg, app_segment(0xE1, exif_block(NEW_CAPTION, orientation=6)))
    assert content_digests(jpeg)[1] == turned  # the caption still does not count
    jpeg.write_bytes(data)
    rewrite_jpeg(jpeg, app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x tiff:Orientation=\"8\"/>"),
                 drop_exif=True)  # Pillow turns by XMP's orientation when EXIF has none
    assert content_digests(jpeg)[1] not in (scan, None)


def test_a_png_keeps_its_scan_digest_whatever_its_text_chunks_say(png):
    full, scan = content_digests(png)
    assert scan is not None
    rewrite_png(png, png_chunk(b"tEXt", b"Comment\0" + NEW_CAPTION.encode()), xmp_itxt(NEW_CAPTION),
                png_chunk(b"zTXt", b"Title\0\0" + zlib.compress(b"Marmalade")), png_chunk(b"tIME", bytes(7)),
                png_chunk(b"eXIf", exif_block(NEW_CAPTION)[6:]), drop=(b"eXIf",))
    edited = content_digests(png)
    assert edited[0] != full and edited[1] == scan
    rewrite_png(png, png_chunk(b"eXIf", exif_block(orientation=3)[6:]), drop=(b"eXIf",))
    assert content_digests(png)[1] not in (scan, None)  # upside down: another picture
    rewrite_png(png, drop=(b"eXIf",))
    assert content_digests(png)[1] == scan  # no orientation at all is the same as none said
    data = png.read_bytes()
    idat = data.index(b"IDAT") + 10  # a byte of the compressed pixels
    png.write_bytes(data[:idat] + bytes([data[idat] ^ 1]) + data[idat + 1:])
    assert content_digests(png)[1] not in (scan, None)


def test_the_digest_does_not_depend_on_how_the_file_is_read(jpeg, png, monkeypatch):
    """The file is streamed (a JPEG's scans or a PNG's IDAT are never held whole): chunk borders anywhere,
    even inside a marker or a chunk header, give the same digests."""
    rewrite_png(png, xmp_itxt(NEW_CAPTION))
    whole = {path: content_digests(path) for path in (jpeg, png)}
    for size in (1, 2, 7, 4096):
        monkeypatch.setattr(files, "_HASH_CHUNK", size)
        assert {path: content_digests(path) for path in (jpeg, png)} == whole, size


def test_no_scan_digest_for_other_formats_videos_and_broken_pictures(jpeg, png, tmp_path):
    data = jpeg.read_bytes()
    found, sos = jpeg_segments(data)
    first = 2 + len(found[0][1])
    cases = {
        "no-scan.jpg": data[:sos] + b"\xff\xd9",  # tables, then the end: no picture
        "cut-in-header.jpg": data[:sos - 3],
        "bad-marker.jpg": data[:first] + b"\x00\x00" + data[first:],
        "no-iend.png": png.read_bytes()[:-12],
        "no-idat.png": b"".join(c for k, c in [(b"", png.read_bytes()[:8]), *png_chunks(png.read_bytes())]
                                if k != b"IDAT"),
        "empty.jpg": b"",
    }
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
        assert content_digests(tmp_path / name) == (content_hash(tmp_path / name), None), name
    Image.open(skimage_data() / "chelsea.png").save(tmp_path / "cat.gif")
    Image.open(skimage_data() / "chelsea.png").save(tmp_path / "cat.webp")
    for name in ("cat.gif", "cat.webp"):
        assert content_digests(tmp_path / name)[1] is None
    assert content_digests(jpeg, pictures=False) == (content_hash(jpeg), None)  # what the indexer asks for videos


# ---- indexing ------------------------------------------------------------------------------------------------
def content_rows(library: Library, content: str) -> dict:
    """What a content has from its pixels: vectors per space, thumbnails, labels; and its metadata-derived state."""
    db = library.catalog.db
    vectors = db.execute("SELECT v.space, v.vec FROM items i JOIN vectors v ON v.item_id = i.id WHERE i.hash = ? "
                         "AND i.model = ? ORDER BY v.space", (content, library.model_id)).fetchall()
    labels = db.execute("SELECT l.label, l.score FROM items i JOIN labels l ON l.item_id = i.id WHERE i.hash = ? "
                        "ORDER BY l.label", (content,)).fetchall()
    thumbnails = db.execute("SELECT at, jpeg FROM thumbnails WHERE hash = ?", (content,)).fetchall()
    contents = db.execute("SELECT kind, width, height, scan, dated FROM contents WHERE hash = ?", (content,)).fetchall()
    described = db.execute("SELECT fields FROM described WHERE hash = ?", (content,)).fetchall()
    embedded = db.execute("SELECT model FROM embedded WHERE hash = ?", (content,)).fetchall()
    return {"vectors": vectors, "labels": labels, "thumbnails": thumbnails, "contents": contents,
            "described": described, "embedded": embedded}


def names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def by_words(library: Library, words: str) -> list[str]:
    """What the files' own words alone find (the ``metadata`` signal)."""
    return names(library.search(Query.of(words, signals=("metadata",), k=5)))


@pytest.fixture
def album(tmp_path) -> Path:
    media = tmp_path / "photos"
    photo(media / "IMG_0001.jpg", "chelsea.png", caption=OLD_CAPTION)
    photo(media / "IMG_0002.jpg", "rocket.jpg", keywords="launch;spaceflight")
    photo(media / "IMG_0003.png", "coffee.png")
    return media


def test_a_caption_written_into_a_jpeg_is_read_without_embedding_it_again(album, tmp_path):
    cat = album / "IMG_0001.jpg"
    with Library.open(tmp_path / "lib") as lib:
        first = lib.index([album])
        assert (first.embedded, first.reused, first.failed) == (3, 0, 0)
        old = lib.catalog.content_of(str(cat))
        before, generation = content_rows(lib, old), lib.catalog.generation(lib.model_id)
        assert before["contents"][0][3] == content_digests(cat)[1] and before["labels"] and before["thumbnails"]
        assert by_words(lib, "quilt workshop") == ["IMG_0001.jpg"]

        scans_before = jpeg_segments(cat.read_bytes())[1]
        data = cat.read_bytes()
        rewrite_jpeg(cat, app_segment(0xE1, exif_block(NEW_CAPTION)))  # what exiftool -ImageDescription=... does
        assert cat.read_bytes()[jpeg_segments(cat.read_bytes())[1]:] == data[scans_before:]  # the same scans
        again = lib.index([album])
        assert (again.embedded, again.reused, again.linked, again.unchanged, again.failed) == (0, 1, 0, 2, 0)
        new = lib.catalog.content_of(str(cat))
        after = content_rows(lib, new)
        assert new != old and content_rows(lib, old) == {key: [] for key in before}  # the old content is gone
        for key in ("vectors", "labels", "thumbnails", "embedded"):  # what the pixels gave: the same
            assert after[key] == before[key], key
        assert after["contents"][0][:4] == before["contents"][0][:4] and after["contents"][0][4] == 1  # dated again
        assert NEW_CAPTION in after["described"][0][0] and OLD_CAPTION not in after["described"][0][0]
        assert lib.catalog.generation(lib.model_id) > generation  # the index files take the copied vectors
        assert by_words(lib, "ginger tabby")[:1] == ["IMG_0001.jpg"]
        assert by_words(lib, "quilt workshop") == []
        assert names(lib.search(image=cat, k=1, cutoff=False)) == ["IMG_0001.jpg"]  # by its vector, in the index
        assert lib.index([album]).unchanged == 3


def test_a_text_chunk_written_into_a_png_is_read_without_embedding_it_again(album, tmp_path):
    coffee = album / "IMG_0003.png"
    with Library.open(tmp_path / "lib") as lib:
        lib.index([album])
        old = lib.catalog.content_of(str(coffee))
        before = content_rows(lib, old)
        rewrite_png(coffee, xmp_itxt("Espresso at the harbour cafe"))  # digiKam and exiftool write XMP in an iTXt
        again = lib.index([album])
        assert (again.embedded, again.reused) == (0, 1)
        after = content_rows(lib, lib.catalog.content_of(str(coffee)))
        assert after["vectors"] == before["vectors"] and after["thumbnails"] == before["thumbnails"]
        assert by_words(lib, "harbour cafe")[:1] == ["IMG_0003.png"]
        assert content_rows(lib, old)["contents"] == []


def test_a_picture_whose_pixels_changed_is_embedded_again(album, tmp_path):
    cat, rocket = album / "IMG_0001.jpg", album / "IMG_0002.jpg"
    with Library.open(tmp_path / "lib") as lib:
        lib.index([album])
        before = content_rows(lib, lib.catalog.content_of(str(cat)))
        with Image.open(cat) as im:  # an editor's "save": decoded, re-encoded, the caption kept
            im.load()
            im.save(cat, quality=60, exif=im.getexif())
        rewrite_jpeg(rocket, app_segment(0xE1, exif_block(orientation=6)))  # turned by its EXIF: another picture
        report = lib.index([album])
        assert (report.embedded, report.reused, report.failed) == (2, 0, 0)
        after = content_rows(lib, lib.catalog.content_of(str(cat)))
        assert after["vectors"] != before["vectors"] and after["contents"][0][3] not in (None, before["contents"][0][3])
        width, height = content_rows(lib, lib.catalog.content_of(str(rocket)))["contents"][0][1:3]
        assert height > width  # stored upright: the turn was not copied from the old content


def test_a_jpeg_without_a_scan_fails_as_before_and_a_copy_of_a_reused_picture_is_linked(album, tmp_path):
    data = (album / "IMG_0001.jpg").read_bytes()
    (album / "tables-only.jpg").write_bytes(data[: jpeg_segments(data)[1]] + b"\xff\xd9")
    with Library.open(tmp_path / "lib") as lib:
        first = lib.index([album])
        assert (first.embedded, first.failed) == (3, 1) and first.errors[0][0].endswith("tables-only.jpg")
        assert "\n" not in first.errors[0][1]
        rewrite_jpeg(album / "IMG_0001.jpg", app_segment(0xE1, exif_block(NEW_CAPTION)))
        (album / "copy.jpg").write_bytes((album / "IMG_0001.jpg").read_bytes())  # the edited file, twice
        again = lib.index([album])
        assert (again.embedded, again.reused, again.linked, again.failed) == (0, 1, 1, 0)
        assert lib.catalog.content_of(str(album / "copy.jpg")) == lib.catalog.content_of(str(album / "IMG_0001.jpg"))


def test_two_workers_reuse_the_same_pictures(album, tmp_path):
    with Library.open(tmp_path / "lib") as lib:
        assert lib.index([album], workers=2).embedded == 3
        vectors = {name: content_rows(lib, lib.catalog.content_of(str(album / name)))["vectors"]
                   for name in ("IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.png")}
        rewrite_jpeg(album / "IMG_0001.jpg", app_segment(0xE1, exif_block(NEW_CAPTION)))
        rewrite_jpeg(album / "IMG_0002.jpg", app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0"
                                                         + xmp_packet("Falcon on the pad", ("rocket",))))
        rewrite_png(album / "IMG_0003.png", xmp_itxt("Espresso at the harbour cafe"))
        report = lib.index([album], workers=2)
        assert (report.workers, report.embedded, report.reused, report.failed) == (2, 0, 3, 0)
        for name, stored in vectors.items():
            assert content_rows(lib, lib.catalog.content_of(str(album / name)))["vectors"] == stored, name
        assert by_words(lib, "falcon on the pad")[:1] == ["IMG_0002.jpg"]
        assert lib.catalog.db.execute("SELECT COUNT(*) FROM contents").fetchone()[0] == 3


def test_the_cli_says_how_many_pictures_were_only_re_described(album, tmp_path):
    lib = tmp_path / "lib"
    run_cli("index", str(album), "--library", str(lib), "-q")
    rewrite_jpeg(album / "IMG_0001.jpg", app_segment(0xE1, exif_block(NEW_CAPTION)))
    out = run_cli("index", str(album), "--library", str(lib))
    assert "0 embedded" in out.stdout + out.stderr and "1 re-described (same picture)" in out.stdout + out.stderr


def test_a_0_6_0_library_keeps_working_and_reuses_from_its_next_embedding(tmp_path):
    """0.6.0's contents have no scan digest (format 5 had no column): the first caption written into one of its
    photos embeds it again, since its old bytes are gone and nothing can tell its picture stayed; from then on the
    new content carries a digest, and the next edit is reused."""
    from test_migrations import install

    lib_dir, media, _ = install("0.6.0", tmp_path)
    rocket = media / "rocket.jpg"
    with Library.open(lib_dir, create=False) as lib:
        assert (lib.index().embedded, lib.catalog.db.execute("SELECT COUNT(*) FROM contents WHERE scan IS NOT NULL"
                                                             ).fetchone()[0]) == (0, 0)
        rewrite_jpeg(rocket, app_segment(0xE1, exif_block("Launch day")))
        first = lib.index()
        assert (first.embedded, first.reused, first.failed) == (1, 0, 0)
        stored = content_rows(lib, lib.catalog.content_of(str(rocket)))
        assert stored["contents"][0][3] == content_digests(rocket)[1]
        rewrite_jpeg(rocket, app_segment(0xE1, exif_block("Launch day, second try")))
        second = lib.index()
        assert (second.embedded, second.reused, second.failed) == (0, 1, 0)
        assert content_rows(lib, lib.catalog.content_of(str(rocket)))["vectors"] == stored["vectors"]
        assert by_words(lib, "second try")[:1] == ["rocket.jpg"]


def test_text_read_in_the_picture_is_copied_not_read_again(tmp_path):
    media = tmp_path / "scans"
    media.mkdir()
    page = media / "page.png"
    page.write_bytes((skimage_data() / "page.png").read_bytes())
    with Library.open(tmp_path / "lib") as lib:
        first = lib.index([media], ocr=True)
        assert first.enrichment.done["ocr"] == 1
        written = lib.catalog.db.execute("SELECT text FROM texts WHERE source = 'text'").fetchall()
        assert "segmentation" in written[0][0].lower()
        rewrite_png(page, xmp_itxt("Lecture notes on watersheds"))
        again = lib.index([media], ocr=True)
        assert (again.embedded, again.reused, again.enrichment.done["ocr"]) == (0, 1, 0)  # no second OCR
        content = lib.catalog.content_of(str(page))
        assert lib.catalog.db.execute("SELECT text FROM texts WHERE source = 'text' AND hash = ?",
                                      (content,)).fetchall() == written
        assert names(lib.search(Query.of("segmentation", signals=("text",), k=3))) == ["page.png"]
        assert by_words(lib, "watersheds") == ["page.png"]


def test_a_picture_whose_first_content_is_gone_is_decoded_after_all(album, tmp_path, monkeypatch):
    """The writer looks the content up again before copying it: should it be gone (no run can remove one while
    another holds the writer lock), the picture is embedded as if it had never been seen."""
    import framefind.store.indexer as indexer

    scan = content_digests(album / "IMG_0001.jpg")[1]
    monkeypatch.setattr(indexer, "embedded_scans", lambda catalog, model_id: {scan})
    with Library.open(tmp_path / "lib") as lib:
        report = lib.index([album])
        assert (report.embedded, report.reused, report.failed) == (3, 0, 0)
        assert content_rows(lib, lib.catalog.content_of(str(album / "IMG_0001.jpg")))["vectors"]
