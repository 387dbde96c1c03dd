"""The words and GPS a file carries (framefind.media.metadata): real photos from scikit-image with EXIF,
IPTC and XMP written here byte for byte, XMP sidecars, videos tagged by ffmpeg, and the names of files."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageFile, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from framefind.media import metadata
from framefind.media.metadata import Described, path_words, read_embedded, read_sidecars, sidecar_paths
from framefind.media.xmp import _parse_xmp, _xmp_degrees

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
   exif:GPSLatitude="38,43.5054N" exif:GPSLongitude="9,8.358W">
  <dc:title><rdf:Alt><rdf:li xml:lang="pt-PT">Elétrico 28</rdf:li>
   <rdf:li xml:lang="x-default">Tram 28 in Alfama</rdf:li></rdf:Alt></dc:title>
  <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>
  <dc:subject><rdf:Bag><rdf:li>tram</rdf:li><rdf:li>Lisbon</rdf:li><rdf:li>TRAM</rdf:li></rdf:Bag></dc:subject>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Portugal|Lisbon</rdf:li>
   <rdf:li>Places|Portugal|Alfama</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 </rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""
LISBON = (38 + 43.5054 / 60, -(9 + 8.358 / 60))


def xmp(description: str = "A yellow tram climbs the hill", **replace: str) -> bytes:
    text = XMP.format(description=description)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """A JPEG with extra APPn segments right after its start-of-image marker."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def xmp_app1(packet: bytes) -> bytes:
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def iptc_app13(*datasets: tuple[int, bytes]) -> bytes:
    """A Photoshop 3.0 APP13 segment holding one 8BIM 0x0404 resource of IPTC record-2 datasets."""
    iptc = b"".join(b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value
                    for number, value in datasets)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    return segment(0xED, b"Photoshop 3.0\x00" + resource + b"\x00" * (len(iptc) % 2))


def gps_exif(exif: Image.Exif, lat: tuple, lat_ref: str, lon: tuple, lon_ref: str) -> None:
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = lat_ref, tuple(IFDRational(*part) for part in lat)
    gps[3], gps[4] = lon_ref, tuple(IFDRational(*part) for part in lon)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.coffee())


def jpeg_bytes(photo: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=80, **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def full_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = "A cup of coffee on a saucer  \x00\x00"
    exif[0x9C9B] = "Morning coffee".encode("utf-16-le") + b"\x00\x00"
    exif[0x9C9E] = "coffee;cup;Coffee; saucer".encode("utf-16-le")
    exif[0x9C9C] = "Made at home".encode("utf-16-le")
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00" + b"Second cup today"
    gps_exif(exif, ((38, 1), (43, 1), (1818, 100)), "S", ((9, 1), (8, 1), (2148, 100)), "W")
    return exif


def test_exif_caption_title_comment_keywords_and_southwest_gps(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "coffee.jpg"
    path.write_bytes(jpeg_bytes(photo, full_exif()))
    found = read_embedded(path, "image")
    assert found.title == "Morning coffee"
    assert found.description == "A cup of coffee on a saucer"
    assert found.comment == "Second cup today; Made at home"
    assert found.keywords == ("coffee", "cup", "saucer")  # 'Coffee' is the same keyword
    assert found.gps == pytest.approx((-(38 + 43 / 60 + 18.18 / 3600), -(9 + 8 / 60 + 21.48 / 3600)))
    assert found.notes == ()
    assert read_embedded(str(path), "image") == found


@pytest.mark.parametrize(("raw", "text"), [
    (b"UNICODE\x00" + "Café à Lisboa".encode("utf-16-le"), "Café à Lisboa"),
    (b"UNICODE\x00" + "Café à Lisboa".encode("utf-16-be"), "Café à Lisboa"),
    (b"UNICODE\x00" + "Café à Lisboa".encode("utf-16"), "Café à Lisboa"),  # with a byte-order mark
    (b"JIS\x00\x00\x00\x00\x00" + "東京の朝".encode("shift_jis"), "東京の朝"),
    (b"JIS\x00\x00\x00\x00\x00" + "東京の朝".encode("iso2022_jp"), "東京の朝"),
    (b"\x00" * 8 + "naïve".encode(), "naïve"),
    (b"ASCII\x00\x00\x00" + b" " * 30, ""),
    (b"ASCII\x00\x00\x00OLYMPUS DIGITAL CAMERA\x00\x00", ""),  # a camera's placeholder is no comment
])
def test_user_comment_charsets(photo: Image.Image, tmp_path: Path, raw: bytes, text: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = raw
    path = tmp_path / "comment.jpg"
    path.write_bytes(jpeg_bytes(photo, exif))
    assert read_embedded(path, "image") == Described(comment=text)


def test_placeholder_captions_are_dropped(photo: Image.Image, tmp_path: Path) -> None:
    for placeholder in ("OLYMPUS DIGITAL CAMERA         ", "SONY DSC", "                ", "default", "x-default"):
        exif = Image.Exif()
        exif[0x010E] = placeholder
        path = tmp_path / "camera.jpg"
        path.write_bytes(jpeg_bytes(photo, exif))
        assert read_embedded(path, "image").description == "", placeholder


def test_a_comment_repeating_the_caption_counts_once(photo: Image.Image, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "Colorful cups. Aarhus, Denmark."
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00Colorful cups. Aarhus, Denmark."  # as digiKam writes it
    exif[0x9C9F] = "Cups".encode("utf-16-le")
    path = tmp_path / "cups.jpg"
    path.write_bytes(jpeg_bytes(photo, exif))
    assert read_embedded(path, "image") == Described(description="Colorful cups. Aarhus, Denmark.", comment="Cups")
    assert Described(title="Cups", comment="cups").comment == ""


def test_an_empty_ifd0_is_not_damage(photo: Image.Image, tmp_path: Path) -> None:
    empty = segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + b"\x00\x00" + b"\x00\x00\x00\x00")
    path = tmp_path / "empty.jpg"
    path.write_bytes(with_segments(jpeg_bytes(photo), empty))
    assert read_embedded(path, "image") == Described()


def test_xp_tag_given_as_integers() -> None:
    assert metadata._xp(tuple("Praia".encode("utf-16-le"))) == "Praia"
    assert metadata._xp(("not", "bytes")) == ""


def test_embedded_xmp_title_caption_keyword_hierarchy_and_gps(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "tram.jpg"
    path.write_bytes(with_segments(jpeg_bytes(photo), xmp_app1(xmp())))
    found = read_embedded(path, "image")
    assert found.title == "Tram 28 in Alfama"  # x-default, although another language comes first
    assert found.description == "A yellow tram climbs the hill"
    assert found.keywords == ("tram", "Lisbon", "Places", "Portugal", "Alfama")
    assert found.gps == pytest.approx(LISBON)
    assert found.notes == ()


def test_xmp_from_the_app1_segment_when_pillow_does_not_expose_it(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "old.jpg"
    path.write_bytes(with_segments(jpeg_bytes(photo), xmp_app1(xmp())))
    with Image.open(path) as image:
        del image.info["xmp"]  # as Pillow before 11 left it
        assert metadata._from_xmp(image).title == "Tram 28 in Alfama"


def test_xmp_gps_forms_and_bad_values() -> None:
    assert _xmp_degrees("38,43,30.3N") == pytest.approx(38 + 43 / 60 + 30.3 / 3600)
    assert _xmp_degrees("-9.1393") == -9.1393
    assert _xmp_degrees("") is None
    broken = _parse_xmp(xmp(**{'exif:GPSLatitude="38,43.5054N"': 'exif:GPSLatitude="north-ish"'}))
    assert (broken.gps, broken.notes, broken.title) == (None, ("XMP: GPS unreadable",), "Tram 28 in Alfama")
    zero = xmp(**{"38,43.5054N": "0,0N", "9,8.358W": "0,0E"})
    assert _parse_xmp(zero).notes == ("XMP: GPS 0,0 ignored",)


def test_iptc_caption_title_keywords_in_utf8_and_latin1(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "iptc.jpg"
    app13 = iptc_app13((5, b"Harbour"), (120, "Barcos no cais ao pôr do sol".encode()),
                       (25, b"boats"), (25, "São Vicente".encode("latin-1")), (25, b"Boats"))
    path.write_bytes(with_segments(jpeg_bytes(photo), app13))
    found = read_embedded(path, "image")
    assert (found.title, found.description) == ("Harbour", "Barcos no cais ao pôr do sol")
    assert found.keywords == ("boats", "São Vicente")
    assert found.notes == ()


def test_all_three_blocks_each_field_from_its_preferred_source(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "all.jpg"
    app13 = iptc_app13((5, b"IPTC title"), (120, b"IPTC caption"), (25, b"harbour"))
    path.write_bytes(with_segments(jpeg_bytes(photo, full_exif()), xmp_app1(xmp("XMP caption")), app13))
    found = read_embedded(path, "image")
    assert found.title == "Tram 28 in Alfama"  # XMP dc:title over XPTitle over IPTC
    assert found.description == "A cup of coffee on a saucer"  # EXIF ImageDescription over IPTC over XMP
    assert set(found.keywords) == {"coffee", "cup", "saucer", "harbour", "tram", "Lisbon", "Places", "Portugal",
                                   "Alfama"}
    assert found.gps[0] < 0  # the EXIF fix, not the XMP one
    assert found.fields() == [("title", found.title), ("caption", found.description),
                              ("comment", found.comment), ("keywords", ", ".join(found.keywords))]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_garbage_exif_and_broken_xmp_leave_a_note_and_the_rest(photo: Image.Image, tmp_path: Path) -> None:
    garbage = segment(0xE1, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + bytes(range(256)) * 2)
    app13 = iptc_app13((120, b"Still readable"))
    path = tmp_path / "garbage.jpg"
    path.write_bytes(with_segments(jpeg_bytes(photo), garbage, app13))
    found = read_embedded(path, "image")
    assert found.description == "Still readable"
    assert len(found.notes) == 1 and found.notes[0].startswith("EXIF: unreadable")

    broken = xmp_app1(b"<x:xmpmeta><rdf:RDF><unclosed></x:xmpmeta>")
    path.write_bytes(with_segments(jpeg_bytes(photo, full_exif()), broken))
    found = read_embedded(path, "image")
    assert (found.title, found.notes) == ("Morning coffee", ("XMP: not well-formed XML",))


def test_xmp_with_a_doctype_is_refused_unexpanded(photo: Image.Image, tmp_path: Path) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>')
    path = tmp_path / "bomb.jpg"
    path.write_bytes(with_segments(jpeg_bytes(photo), xmp_app1(bomb)))
    assert read_embedded(path, "image") == Described(notes=("XMP: DOCTYPE refused",))


@pytest.mark.parametrize(("lat", "lat_ref", "lon", "note"), [
    (((0, 1), (0, 1), (0, 1)), "N", ((0, 1), (0, 1), (0, 1)), "EXIF: GPS 0,0 ignored"),
    (((123, 1), (0, 1), (0, 1)), "N", ((9, 1), (8, 1), (21, 1)), "EXIF: GPS 123,9.13917 out of range"),
    (((38, 0), (0, 1), (0, 1)), "N", ((9, 1), (8, 1), (21, 1)), "EXIF: GPS unreadable"),  # x/0: NaN
])
def test_impossible_gps_is_ignored_with_a_note(photo: Image.Image, tmp_path: Path, lat, lat_ref, lon, note) -> None:
    exif = Image.Exif()
    exif[0x010E] = "Somewhere"
    gps_exif(exif, lat, lat_ref, lon, "E")
    path = tmp_path / "gps.jpg"
    path.write_bytes(jpeg_bytes(photo, exif))
    assert read_embedded(path, "image") == Described(description="Somewhere", notes=(note,))


def test_png_reads_exif_and_xmp_chunks_without_decoding_pixels(photo: Image.Image, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tagged, plain = tmp_path / "tagged.png", tmp_path / "plain.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp().decode())
    photo.save(tagged, exif=full_exif(), pnginfo=info)
    photo.save(plain)
    decoded: list[str] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.filename))
    found = read_embedded(tagged, "image")
    assert (found.title, found.description) == ("Tram 28 in Alfama", "A cup of coffee on a saucer")
    assert found.gps[0] < 0 and found.notes == ()
    assert read_embedded(plain, "image") == Described()
    assert decoded == []  # a PNG without eXIf before its pixels would make Pillow decode them all


def test_truncated_jpeg_keeps_its_header(photo: Image.Image, tmp_path: Path) -> None:
    whole = with_segments(jpeg_bytes(photo, full_exif()), xmp_app1(xmp()))
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 2])
    found = read_embedded(path, "image")
    assert (found.description, found.title, found.notes) == ("A cup of coffee on a saucer", "Tram 28 in Alfama", ())
    path.write_bytes(whole[:300])  # cut inside the EXIF segment
    assert read_embedded(path, "image").title == ""  # whatever it says, it says it without raising


def test_not_an_image_or_missing_or_not_a_video_gives_a_note(tmp_path: Path) -> None:
    picture, video = tmp_path / "notes.jpg", tmp_path / "notes.mp4"
    for path in (picture, video):
        path.write_text("just some text, not a picture\n" * 40)
    for path, kind in ((picture, "image"), (video, "video"), (tmp_path / "missing.jpg", "image"), (tmp_path, "video")):
        found = read_embedded(path, kind)
        assert found.fields() == [] and found.gps is None
        assert len(found.notes) == 1 and "\n" not in found.notes[0] and str(tmp_path) not in found.notes[0]


# ---- sidecars -------------------------------------------------------------------------------------------


def test_sidecar_namings_and_precedence(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "beach.jpg"
    photo.save(path)
    assert sidecar_paths(path) == [] and read_sidecars(path) == Described()
    (tmp_path / "beach.XMP").write_bytes(xmp("Caption from beach.xmp"))
    assert sidecar_paths(path) == [tmp_path / "beach.XMP"]
    assert read_sidecars(path).description == "Caption from beach.xmp"
    specific = xmp("", **{"Tram 28 in Alfama": "Sunset at Praia", "<rdf:li>tram</rdf:li>": "<rdf:li>sunset</rdf:li>",
                          'exif:GPSLatitude="38,43.5054N" exif:GPSLongitude="9,8.358W"': ""})
    (tmp_path / "beach.jpg.xmp").write_bytes(specific)
    assert sidecar_paths(str(path)) == [tmp_path / "beach.XMP", tmp_path / "beach.jpg.xmp"]
    found = read_sidecars(path)
    assert found.title == "Sunset at Praia"  # NAME.EXT.xmp wins
    assert found.description == "Caption from beach.xmp"  # ... and NAME.xmp fills what it lacks
    # united, the specific sidecar's first; its 'TRAM' stands for beach.xmp's 'tram' too
    assert found.keywords == ("sunset", "Lisbon", "TRAM", "Places", "Portugal", "Alfama")
    assert found.gps == pytest.approx(LISBON)


def test_broken_sidecar_is_named_in_a_note_and_the_other_still_read(photo: Image.Image, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"")  # sidecars are found by name only: the media file itself is not read
    (tmp_path / "clip.xmp").write_bytes(xmp())
    (tmp_path / "clip.mp4.xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>")
    found = read_sidecars(path)
    assert found.notes == ("clip.mp4.xmp: XMP: not well-formed XML",)
    assert found.title == "Tram 28 in Alfama" and found.gps == pytest.approx(LISBON)


# ---- videos ---------------------------------------------------------------------------------------------


def make_video(path: Path, *tags: str) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg): cannot make test videos")
    metadata_args = [arg for tag in tags for arg in ("-metadata", tag)]
    flags = ["-movflags", "use_metadata_tags"] if path.suffix in (".mp4", ".mov") else []
    source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "1"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *flags, *metadata_args, str(path)], check=True, timeout=60)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_video_title_comment_description_keywords_location(tmp_path: Path, suffix: str) -> None:
    video = make_video(tmp_path / f"tram{suffix}", "title=Tram 28", "comment=Ride up to Graça",
                       "synopsis=A yellow tram", "keywords=tram, Lisbon;tram", "location=+38.7223-009.1393/")
    found = read_embedded(video, "video")
    assert found == Described("Tram 28", "A yellow tram", "Ride up to Graça", ("tram", "Lisbon"), found.gps)
    assert found.gps == pytest.approx((38.7223, -9.1393))


def test_video_apple_location_with_altitude_and_zero_fix(tmp_path: Path) -> None:
    apple = make_video(tmp_path / "iphone.mov", "com.apple.quicktime.location.ISO6709=-33.8568+151.2153+012.345/",
                       "description=Opera House")
    assert read_embedded(apple, "video") == Described(description="Opera House", gps=(-33.8568, 151.2153))
    zero = make_video(tmp_path / "nofix.mp4", "location=+00.0000+000.0000/", "title=Indoors")
    assert read_embedded(zero, "video") == Described(title="Indoors", notes=("video: GPS 0,0 ignored",))
    bad = make_video(tmp_path / "bad.mp4", "location=somewhere nice")
    assert read_embedded(bad, "video").notes == ("video: location 'somewhere nice' unreadable",)


def test_iso6709_degree_minute_second_forms() -> None:
    assert metadata._iso6709("+4043.5-07400.25/") == pytest.approx((40 + 43.5 / 60, -(74 + 0.25 / 60)))
    assert metadata._iso6709("+404330-0740015/") == pytest.approx((40 + 43 / 60 + 30 / 3600, -(74 + 15 / 3600)))
    with pytest.raises(ValueError):
        metadata._iso6709("+123-45")  # three digits of latitude: neither degrees nor DDMM


# ---- the names of files and folders ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "IMG_2041.JPG", "DSC01234.JPG", "DSCF0001.jpg", "P1010001.JPG", "PA140001.JPG", "PXL_20190714_123456789.jpg",
    "PXL_20190714_123456789.MP.jpg", "VID_20190714_123456.mp4", "MVI_1234.MOV", "GOPR0001.MP4", "GH010001.MP4",
    "DJI_0001.JPG", "IMG_2041 (2).jpg", "20190714_123456.jpg", "IMG-20190714-WA0001.jpg", "IMG_E2041.HEIC",
    "_DSC0001.NEF", "2019-07-14 12.30.00.jpg",
])
def test_camera_made_file_names_have_no_words(name: str) -> None:
    assert path_words(Path("/Lisbon") / name, None) == ("Lisbon", "")


@pytest.mark.parametrize(("name", "words"), [
    ("Mom's 60th birthday IMG_2041.jpg", "Mom's 60th birthday"),
    ("tram_28-Lisbon.jpg", "tram Lisbon"),
    ("Screenshot_20190714-123456.png", "Screenshot"),
    ("beach-DSC01234 (2).jpg", "beach"),
    ("Sagrada Família.jpeg", "Sagrada Família"),
])
def test_file_name_words(name: str, words: str) -> None:
    assert path_words(Path("/x") / name, None)[1] == words


def test_folder_words_from_the_root_down() -> None:
    root = Path("/home/ana/Pictures")
    path = root / "2019" / "2019-07_Barcelona beach" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    assert path_words(path, root) == ("Barcelona beach", "")  # "Pictures" names what it holds: no word
    assert path_words(path, None) == ("", "")  # the parent only: a camera's folder
    assert path_words(root / "Trips" / "Porto.jpg", "/elsewhere") == ("Trips", "Porto")
    assert path_words("Holidays/Sintra palace.jpg", "Holidays") == ("Holidays", "Sintra palace")
    assert path_words(root / "2019_JUL" / "100_PANA" / "x.jpg", root) == ("JUL", "x")  # not a DCF name
    assert path_words("/a/Camera Roll/Photos/Lisbon/x.jpg", "/a/Camera Roll") == ("Lisbon", "x")


def test_described_merge_and_fields() -> None:
    mine = Described(title="Mine", keywords=["beach", "Sea"], notes=("a",))
    theirs = Described("Theirs", "Their caption", "", ("sea", "sand"), (1.5, 2.5), ("b",))
    merged = mine.merged(theirs)
    assert merged == Described("Mine", "Their caption", "", ("beach", "Sea", "sand"), (1.5, 2.5), ("a", "b"))
    assert merged.fields() == [("title", "Mine"), ("caption", "Their caption"), ("keywords", "beach, Sea, sand")]
    assert Described().fields() == [] and not math.isnan(merged.gps[0])
