"""Dates typed into the search box (framefind.search.dates) and capture times read from real media
(framefind.media.capture): a photo from scikit-image with EXIF written by Pillow, videos made by ffmpeg."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from framefind.media.capture import capture_time
from framefind.search.dates import DateFilter, split_dates

NOW = datetime(2026, 11, 23, 15, 0)  # a Monday


def day(year: int, month: int, day_: int = 1) -> float:
    return datetime(year, month, day_).timestamp()


# query -> (leftover, start, end, months); start/end as (y, m, d) in local time, end exclusive
CASES = {
    "beach 2019": ("beach", (2019, 1, 1), (2020, 1, 1), ()),
    "snow last winter": ("snow", (2025, 12, 1), (2026, 3, 1), ()),
    "birthday in March": ("birthday", None, None, (3,)),
    "sunset summer 2018": ("sunset", (2018, 6, 1), (2018, 9, 1), ()),
    "party last month": ("party", (2026, 10, 1), (2026, 11, 1), ()),
    "hike from 2017 to 2019": ("hike", (2017, 1, 1), (2020, 1, 1), ()),
    "kids since 2020": ("kids", (2020, 1, 1), None, ()),
    "cat before 2015": ("cat", None, (2015, 1, 1), ()),
    "paris in may 2019": ("paris", (2019, 5, 1), (2019, 6, 1), ()),
    "dinner yesterday": ("dinner", (2026, 11, 22), (2026, 11, 23), ()),
    "2019-07-14 fireworks": ("fireworks", (2019, 7, 14), (2019, 7, 15), ()),
    "march 2020": ("", (2020, 3, 1), (2020, 4, 1), ()),
    "2019": ("", (2019, 1, 1), (2020, 1, 1), ()),
    "photos from 2019": ("photos", (2019, 1, 1), (2020, 1, 1), ()),
    "beach in 2019": ("beach", (2019, 1, 1), (2020, 1, 1), ()),
    "concert during 2018": ("concert", (2018, 1, 1), (2019, 1, 1), ()),
    "MAR 2019 ski": ("ski", (2019, 3, 1), (2019, 4, 1), ()),
    "winter 2019": ("", (2019, 12, 1), (2020, 3, 1), ()),
    "fall 2018 leaves": ("leaves", (2018, 9, 1), (2018, 12, 1), ()),
    "hike in the summer of 2019": ("hike", (2019, 6, 1), (2019, 9, 1), ()),
    "last summer": ("", (2026, 6, 1), (2026, 9, 1), ()),  # the latest one that has ended
    "this summer": ("", (2026, 6, 1), (2026, 9, 1), ()),
    "this winter": ("", (2026, 12, 1), (2027, 3, 1), ()),
    "lake in summer": ("lake", None, None, (6, 7, 8)),
    "ice in winter": ("ice", None, None, (12, 1, 2)),
    "today": ("", (2026, 11, 23), (2026, 11, 24), ()),
    "this week": ("", (2026, 11, 23), (2026, 11, 30), ()),
    "last week": ("", (2026, 11, 16), (2026, 11, 23), ()),
    "this month": ("", (2026, 11, 1), (2026, 12, 1), ()),
    "this year": ("", (2026, 1, 1), (2027, 1, 1), ()),
    "last year dogs": ("dogs", (2025, 1, 1), (2026, 1, 1), ()),
    "last 3 months": ("", (2026, 8, 23), (2026, 11, 24), ()),
    "last 10 days": ("", (2026, 11, 13), (2026, 11, 24), ()),
    "last 2 weeks": ("", (2026, 11, 9), (2026, 11, 24), ()),
    "last 2 years": ("", (2024, 11, 23), (2026, 11, 24), ()),
    "last march": ("", (2026, 3, 1), (2026, 4, 1), ()),
    "2019-07": ("", (2019, 7, 1), (2019, 8, 1), ()),
    "2017-2019 trips": ("trips", (2017, 1, 1), (2020, 1, 1), ()),
    "between 2017 and 2019": ("", (2017, 1, 1), (2020, 1, 1), ()),
    "between may 2019 and june 2020": ("", (2019, 5, 1), (2020, 7, 1), ()),
    "from march to may 2019": ("", (2019, 3, 1), (2019, 6, 1), ()),
    "from november to february": ("", None, None, (11, 12, 1, 2)),
    "after 2019": ("", (2020, 1, 1), None, ()),
    "until 2019": ("", None, (2020, 1, 1), ()),
    "since march": ("", (2026, 3, 1), None, ()),
    "the 1990s": ("the", (1990, 1, 1), (2000, 1, 1), ()),
    "birthday in March 2019 cake": ("birthday cake", (2019, 3, 1), (2019, 4, 1), ()),
    # two expressions meant as one: merged
    "in March beach 2019": ("beach", (2019, 3, 1), (2019, 4, 1), ()),
    "in winter ski 2019": ("ski", (2019, 12, 1), (2020, 3, 1), ()),
    "in march last year": ("", (2025, 3, 1), (2025, 4, 1), ()),
    "snow in winter since 2020": ("snow", (2020, 1, 1), None, (12, 1, 2)),
    # two unrelated ones: the first wins, the second stays as words
    "2019 2020": ("2020", (2019, 1, 1), (2020, 1, 1), ()),
    # leftover text keeps query syntax and collapses whitespace
    '  sunset   summer 2018  +beach  -"parking lot" ': ('sunset +beach -"parking lot"', (2018, 6, 1), (2018, 9, 1), ()),
    '"new year" 2019': ('"new year"', (2019, 1, 1), (2020, 1, 1), ()),
}


@pytest.mark.parametrize("query", list(CASES))
def test_split_dates(query: str) -> None:
    leftover, start, end, months = CASES[query]
    rest, found = split_dates(query, now=NOW)
    assert rest == leftover
    assert found is not None
    assert found.start == (day(*start) if start else None)
    assert found.end == (day(*end) if end else None)
    assert found.months == months


@pytest.mark.parametrize(
    "query",
    [
        "4k wallpaper",
        "12:30 train",
        "may the force",
        "march of the penguins",
        '"2019" poster',
        "+2019",
        "-2019 cat",
        "2019:2 fireworks",
        "route 66",
        "1080p video",
        "2019x",
        "summer dress",
        "in the snow",
        "this may hurt",
        "fall leaves",
        "",
        "cats  and   dogs",
        "0001-01-01",
        "9999-12-31",
        "2019-02-30",
        "last 0 days",
    ],
)
def test_no_dates_leave_text_untouched(query: str) -> None:
    assert split_dates(query, now=NOW) == (query, None)


def test_said_keeps_the_words_as_typed() -> None:
    assert split_dates("snow Last Winter", now=NOW)[1].said == "Last Winter"
    assert split_dates("photos from 2019", now=NOW)[1].said == "from 2019"
    assert split_dates("in March beach 2019", now=NOW)[1].said == "in March 2019"


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("2019", "2019-01-01 to 2019-12-31"),
        ("in March", "March of any year"),
        ("in winter", "December to February of any year"),
        ("last winter", "2025-12-01 to 2026-02-28"),
        ("winter 2019", "2019-12-01 to 2020-02-29"),
        ("yesterday", "2026-11-22"),
        ("since 2020", "since 2020-01-01"),
        ("before 2015", "until 2014-12-31"),
        ("in winter since 2020", "December to February, since 2020-01-01"),
    ],
)
def test_describe(query: str, text: str) -> None:
    assert split_dates(query, now=NOW)[1].describe() == text


def test_matches_in_local_time() -> None:
    year = split_dates("2019", now=NOW)[1]
    assert year.matches(datetime(2019, 1, 1).timestamp())
    assert year.matches(datetime(2019, 12, 31, 23, 59, 59).timestamp())
    assert not year.matches(datetime(2020, 1, 1).timestamp())
    assert not year.matches(datetime(2018, 12, 31, 23, 59).timestamp())
    march = split_dates("in March", now=NOW)[1]
    assert march.matches(datetime(1999, 3, 31, 23, 0).timestamp()) and march.matches(datetime(2030, 3, 1).timestamp())
    assert not march.matches(datetime(2019, 4, 1).timestamp())
    since = DateFilter(start=day(2020, 1, 1), months=(12, 1, 2))
    assert since.matches(day(2021, 1, 15)) and not since.matches(day(2019, 1, 15))
    assert not since.matches(day(2021, 6, 15))
    assert DateFilter().matches(0.0)


def test_now_defaults_to_the_clock() -> None:
    before = datetime.now()
    rest, found = split_dates("party today")
    after = datetime.now()  # "today" is read between the two, so it is one of their days (midnight included)
    assert rest == "party" and found in [split_dates("party today", now=now)[1] for now in (before, after)]
    assert found.matches(before.timestamp()) or found.matches(after.timestamp())


# --- capture_time on real media -------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / "rocket.jpg") as im:
        return im.convert("RGB")


def save(photo: Image.Image, path: Path, sub: dict[int, str] | None = None, ifd0: dict[int, str] | None = None) -> Path:
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    for tag, value in (sub or {}).items():
        exif.get_ifd(0x8769)[tag] = value
    photo.save(path, exif=exif)
    return path


def test_exif_date_time_original_in_local_time(photo: Image.Image, tmp_path: Path) -> None:
    path = save(photo, tmp_path / "rocket.jpg", {36867: "2019:07:14 12:30:00", 36868: "2020:01:01 00:00:00"})
    assert capture_time(path, "image") == datetime(2019, 7, 14, 12, 30).timestamp()
    assert capture_time(str(path), "image") == datetime(2019, 7, 14, 12, 30).timestamp()


def test_exif_offset_time_original(photo: Image.Image, tmp_path: Path) -> None:
    path = save(photo, tmp_path / "rocket.jpg", {36867: "2019:07:14 12:30:00", 36881: "+02:00"})
    assert capture_time(path, "image") == datetime(2019, 7, 14, 10, 30, tzinfo=UTC).timestamp()


def test_exif_fallbacks_and_sloppy_values(photo: Image.Image, tmp_path: Path) -> None:
    digitized = save(photo, tmp_path / "a.jpg", {36868: "2018:02:03 04:05:06\x00"})
    assert capture_time(digitized, "image") == datetime(2018, 2, 3, 4, 5, 6).timestamp()
    ifd0 = save(photo, tmp_path / "b.jpg", ifd0={306: "2017-08-09 10:11:12  "})
    assert capture_time(ifd0, "image") == datetime(2017, 8, 9, 10, 11, 12).timestamp()
    # Pillow writes no EXIF to a PNG whose IFD0 is empty: give it a Make, as cameras do
    png = save(photo, tmp_path / "c.png", {36867: "2016:05:06 07:08:09"}, ifd0={271: "framefind"})
    assert capture_time(png, "image") == datetime(2016, 5, 6, 7, 8, 9).timestamp()


@pytest.mark.parametrize("bogus", ["0000:00:00 00:00:00", "1850:01:01 00:00:00", "2099:01:01 00:00:00", "    "])
def test_bogus_exif_dates_are_none(photo: Image.Image, tmp_path: Path, bogus: str) -> None:
    assert capture_time(save(photo, tmp_path / "x.jpg", {36867: bogus}), "image") is None


def test_no_exif_or_corrupt_or_missing_is_none(photo: Image.Image, tmp_path: Path) -> None:
    for plain in (tmp_path / "plain.jpg", tmp_path / "plain.png"):
        photo.save(plain)
        assert capture_time(plain, "image") is None
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(os.urandom(4096))
    assert capture_time(corrupt, "image") is None
    assert capture_time(corrupt, "video") is None
    assert capture_time(tmp_path / "missing.jpg", "image") is None


def make_video(path: Path, *metadata: str) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg): cannot make test videos")
    tags = [arg for tag in metadata for arg in ("-metadata", tag)]
    flags = ["-movflags", "use_metadata_tags"] if path.suffix == ".mov" else []
    source = ["-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *flags, *tags, str(path)], check=True, timeout=60)
    return path


def test_video_creation_time(tmp_path: Path) -> None:
    video = make_video(tmp_path / "out.mp4", "creation_time=2018-05-01T10:00:00Z")
    assert capture_time(video, "video") == datetime(2018, 5, 1, 10, 0, tzinfo=UTC).timestamp()
    assert capture_time(make_video(tmp_path / "bare.mp4"), "video") is None


def test_video_apple_creationdate_and_zero_epochs(tmp_path: Path) -> None:
    apple = make_video(tmp_path / "iphone.mov", "com.apple.quicktime.creationdate=2019-07-14T12:30:00+0200")
    assert capture_time(apple, "video") == datetime(2019, 7, 14, 10, 30, tzinfo=UTC).timestamp()
    for zero in ("1970-01-01T00:00:00Z", "1904-01-01T00:00:00Z"):
        assert capture_time(make_video(tmp_path / "zero.mkv", f"creation_time={zero}"), "video") is None
