"""A hybrid library of real media for relevance calibration (issue #19, "answers you can trust").

Search must say "nothing matched" when a folder holds nothing about a query, on every signal, not only
the visual one. This builds such a folder, ``target/media/``: 24 real photos (scikit-image samples and
Debian wallpapers, copied; 4 of them with a sign rendered on, so some pictures carry written words) and
16 slideshow videos of the same photos (320x180, 10 fps) whose sound says one or two English sentences
(espeak-ng, voice en-us), each video about a different topic; 10 of the videos also show a sign (big
black letters on a white box over a real photo, DejaVuSans-Bold) as one of their shots. Every sentence
and sign is listed here, so ``data/hybrid_queries.json`` can judge queries against them: present queries
(the words said or written, and a paraphrase of them) and absent ones (nothing said, written or shown).

File names are only for people reading the judgements: framefind indexes no names. Intermediate files
(resized stills, signs, sound tracks) stay in ``target/work/``; existing media files are not rebuilt.
Usage: ``python benchmarks/hybrid_media.py DIR`` (builds DIR/media and prints the file count).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import WALLPAPER_DIRS, skimage_data, wallpaper_files  # noqa: E402
from speech_media import spoken_video  # noqa: E402

QUERIES = HERE / "data" / "hybrid_queries.json"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
STILL = (800, 450)  # video stills: the videos' 16:9, sharper than their 320x180 frames
SKIMAGE = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "horse.png",
           "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png", "page.png", "rocket.jpg")
WALLPAPERS = ("Altai", "Autumn", "BytheWater", "ColorfulCups", "EveningGlow", "FallenLeaf", "Kite", "Path",
              "Volna", "goldfish", "calla", "the-mouse")
# Photos shown with a sign on them (in media/ as NAME-sign.jpg instead of the plain copy).
PHOTO_SIGNS = {"Kite": "KITE FESTIVAL", "calla": "FRESH FLOWERS", "goldfish": "PET SHOP",
               "BytheWater": "DANGER DEEP WATER"}


@dataclass(frozen=True)
class Video:
    """One spoken slideshow: its file name in media/, the sentences said, and the sign it shows, if any."""

    name: str
    said: tuple[str, ...]
    sign: str | None = None
    duration: float = 16.0


VIDEOS = (
    Video("budget-meeting.mp4", ("The quarterly budget meeting starts at nine.",
                                 "Please bring the sales numbers."), "GRAND OPENING"),
    Video("cake-recipe.mp4", ("Mix two cups of flour with three eggs.",
                             "Put the cake in the oven for thirty minutes."),
          "NO PARKING"),
    Video("hiking-trip.mp4", ("Our hiking trip starts at the foot of the mountain.",
                              "Bring water and warm clothes."), "FLOOD WARNING", 18.0),
    Video("football-match.mp4", ("The home team won the football match by two goals.",), "FIRE EXIT"),
    Video("doctor-appointment.mp4", ("Your appointment with the doctor is on Monday morning.",), None, 10.0),
    Video("train-delay.mp4", ("The train to Chicago is delayed by twenty minutes.", "We are sorry for the wait."),
          "CITY MARATHON 2024"),
    Video("birthday-party.mp4", ("We are having a surprise birthday party on Friday.",),
          "HOTEL RECEPTION"),
    Video("phone-launch.mp4", ("We will launch our new phone next week.",
                               "It has a bigger screen and a better battery."), None, 14.0),
    Video("garden.mp4", ("Plant the tomatoes in the garden after the last frost.", "Give them water every morning."),
          "ROAD CLOSED", 20.0),
    Video("weather-forecast.mp4", ("Tomorrow will be cold, with heavy rain in the north.",), None, 8.0),
    Video("volcano-lecture.mp4", ("Our lecture today is about volcanoes.", "Hot lava can flow for many miles."),
          "ART MUSEUM"),
    Video("job-interview.mp4", ("Thank you for coming to the job interview today.",), None, 10.0),
    Video("flight-boarding.mp4", ("Flight two forty to Paris is now boarding at gate ten.",), None, 12.0),
    Video("math-homework.mp4", ("Please finish your math homework before class on Tuesday.",), None, 10.0),
    Video("book-club.mp4", ("Our book club is reading a mystery novel this month.",), "SUMMER SALE"),
    Video("moving-house.mp4", ("We are moving to a new house next month.", "Everything is packed in boxes."),
          "SWIMMING POOL", 18.0),
)


def photo_sources() -> dict[str, Path]:
    """Picture name (file stem in media/) -> the bundled original, in a fixed order."""
    data = skimage_data()
    found = {Path(name).stem: data / name for name in SKIMAGE}
    wallpapers = {(path.parts[4] if str(path).startswith(WALLPAPER_DIRS[0]) else path.stem): path
                  for path in wallpaper_files()}
    missing = [name for name in WALLPAPERS if name not in wallpapers]
    if missing:
        raise SystemExit(f"wallpapers missing (Debian plasma-workspace-wallpapers / ukui-wallpapers?): {missing}")
    return found | {name: wallpapers[name] for name in WALLPAPERS}


def photo_name(stem: str, source: Path) -> str:
    """The photo's file name in media/: a signed photo is a new JPEG, a plain one keeps its format."""
    return f"{stem}-sign.jpg" if stem in PHOTO_SIGNS else f"{stem}{source.suffix.lower()}"


def render_sign(source: Path, words: str, target: Path, size: tuple[int, int] | None = None) -> Path:
    """``source`` (cropped to ``size`` if given) with ``words`` in big black letters on a white box.

    The box sits in the middle 55 % of the width and the middle of the height: the videos' slow pan
    (tests/videos.py) crops up to a fifth off the left and a quarter off the bottom, and the sign must stay
    whole in every frame. Lines of at most 13 characters keep the letters tall enough to read at 320x180.
    """
    image = Image.open(source).convert("RGB")
    image = ImageOps.fit(image, size) if size else image
    lines = textwrap.wrap(words, 13)
    draw = ImageDraw.Draw(image)
    points = int(image.height * 0.13)
    font = ImageFont.truetype(str(FONT), points)
    while max(draw.textlength(line, font=font) for line in lines) > 0.55 * image.width:
        points = int(points * 0.95)
        font = ImageFont.truetype(str(FONT), points)
    step, pad = int(points * 1.2), int(points * 0.4)
    width = int(max(draw.textlength(line, font=font) for line in lines))
    left, top = (image.width - width) // 2, (image.height - step * len(lines)) // 2
    draw.rectangle((left - pad, top - pad, left + width + pad, top + step * len(lines) + pad), fill="white")
    for i, line in enumerate(lines):
        x = (image.width - draw.textlength(line, font=font)) // 2
        draw.text((x, top + i * step), line, fill="black", font=font)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, quality=92)
    return target


def build_photos(media: Path, work: Path, sources: dict[str, Path]) -> None:
    """Copy the plain photos and render the signed ones, each made in ``work`` and moved in whole (a build
    that stops half-way leaves no half-written file that the next run would take as done)."""
    for stem, source in sources.items():
        target = media / photo_name(stem, source)
        if target.exists():
            continue
        if stem in PHOTO_SIGNS:
            made = render_sign(source, PHOTO_SIGNS[stem], work / target.name)
        else:
            made = Path(shutil.copy(source, work / target.name))
        made.replace(target)


def still(source: Path, work: Path) -> Path:
    """``source`` cropped and shrunk to :data:`STILL` once: ffmpeg's looped image input decodes its picture
    again for every frame, and 5120-px wallpapers would make each video cost minutes."""
    target = work / "stills" / f"{source.stem}.jpg"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        ImageOps.fit(Image.open(source).convert("RGB"), STILL).save(target, quality=92)
    return target


def shots(index: int, video: Video, sources: list[Path], work: Path) -> list[Path]:
    """Video ``index``'s four photos, rotating through the photo list; a sign replaces the second one, or the
    third where the second is the printed page (OCR would read the sign mixed into the page's lines)."""
    chosen = [still(sources[(3 * index + j) % len(sources)], work) for j in range(4)]
    if video.sign:
        at = 2 if chosen[1].stem == "page" else 1
        chosen[at] = render_sign(chosen[at], video.sign, work / "signs" / f"{Path(video.name).stem}.jpg")
    return chosen


def build_videos(media: Path, work: Path, sources: list[Path]) -> None:
    """Each video of :data:`VIDEOS`: the first sentence 1 s in, the second one just after the middle."""
    for index, video in enumerate(VIDEOS):
        if (media / video.name).exists():
            continue
        starts = (1.0, video.duration / 2 + 0.5)
        lines = list(zip(starts, video.said, strict=False))
        made = spoken_video(work / video.name, lines, video.duration, shots(index, video, sources, work))
        shutil.move(made, media / video.name)


def build_hybrid(target: Path) -> Path:
    """Build (or complete) ``target/media`` and return it; reruns only make what is missing."""
    media, work = target / "media", target / "work"
    media.mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    sources = photo_sources()
    build_photos(media, work, sources)
    build_videos(media, work, list(sources.values()))
    return media


def media_names() -> set[str]:
    """Every file name build_hybrid writes into media/."""
    photos = {photo_name(stem, source) for stem, source in photo_sources().items()}
    return photos | {video.name for video in VIDEOS}


def _words(text: str) -> set[str]:
    """Lower-case words of 3+ letters with a crude plural/-ing strip: enough to catch shared vocabulary."""
    return {re.sub(r"(ing|es|s)$", "", word) for word in re.findall(r"[a-z0-9]{3,}", text.lower())}


def check_queries(path: Path = QUERIES) -> list[dict]:
    """The judged queries, after checking them against what the folder holds: every relevant file is built,
    and no absent query shares a word with any sentence said or sign written (the pictures themselves were
    checked by eye: see the file's "about")."""
    queries = json.loads(path.read_text())["queries"]
    names, words = media_names(), set()
    for text in [*(s for v in VIDEOS for s in v.said), *(v.sign or "" for v in VIDEOS), *PHOTO_SIGNS.values()]:
        words |= _words(text)
    for query in queries:
        assert set(query["relevant"]) <= names, query
        assert (query["kind"] == "absent") == (not query["relevant"]), query
        shared = _words(query["text"]) & words - {"the", "and", "for"}
        assert query["kind"] == "present" or not shared, (query["text"], shared)
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="folder to build media/ (and work/) in")
    args = parser.parse_args()
    check_queries()
    media = build_hybrid(args.target)
    files = sorted(path.name for path in media.iterdir())
    assert set(files) == media_names(), set(files) ^ media_names()
    print(f"{len(files)} files in {media}")


if __name__ == "__main__":
    main()
