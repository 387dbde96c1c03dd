"""The ``framefind`` command line (Typer). Errors print one line and exit 1, never a traceback."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from framefind.config import default_library_dir
from framefind.errors import FrameFindError
from framefind.interfaces import watch_command as watching
from framefind.interfaces.console import (
    JsonOption,
    LibraryOption,
    err,
    notice,
    one_line_errors,
    out,
    progress_bar,
    report_skipped,
    report_warning,
    run_and_leave,
)
from framefind.interfaces.eval_command import eval_command
from framefind.interfaces.people_command import people_app
from framefind.interfaces.places_command import places_command
from framefind.interfaces.search_output import print_page, write_clips
from framefind.search.duplicates import THRESHOLD

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Local-first semantic search for image and video libraries.")


PASS_NAMES = {"speech": "transcribing", "ocr": "reading text", "faces": "finding faces"}


@app.command()
@one_line_errors
def index(
    paths: Annotated[list[Path] | None, typer.Argument(help="Folders or files [default: all indexed before]")] = None,
    library: LibraryOption = None,
    model: Annotated[str | None, typer.Option(
        help="effnet-conse (default, offline), clip:NAME|DIR|HUB_ID (e.g. clip:ViT-B-32), siglip:NAME|DIR|HUB_ID "
        "(e.g. siglip:base) or onnx:DIR")] = None,
    index_type: Annotated[str | None, typer.Option(
        "--index-type", help="auto (default: exact, then approximate), flat, sq8, hnsw, ivf-sq8 or ivf-pq")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="If another index run holds the library, wait for it")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    backend: Annotated[str | None, typer.Option(
        help="Where the vector indexes live: faiss (default: files in the library) or milvus (kept as a library "
        "setting; an existing library's vectors move there first)")] = None,
    uri: Annotated[str | None, typer.Option(
        help="Milvus server or cluster (http://host:19530), or a Milvus Lite file (*.db) [default for "
        "--backend milvus: LIBRARY/milvus.db]")] = None,
    transcribe: Annotated[bool | None, typer.Option(
        "--transcribe/--no-transcribe", help="Transcribe what is said in videos (Whisper tiny.en; kept as a "
        "library setting)")] = None,
    ocr: Annotated[bool | None, typer.Option(
        "--ocr/--no-ocr", help="Read text in pictures and video frames (kept as a library setting)")] = None,
    faces: Annotated[bool | None, typer.Option(
        "--faces/--no-faces", help="Find faces and group them into people (kept as a library setting)")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-w", help="Embed in this many processes, each committing its own batches (for machines "
        "with many cores)")] = 1,
    ray: Annotated[str | None, typer.Option(
        "--ray", help="Decode and embed (and transcribe, read text, find faces) on the Ray cluster at this address "
        "(auto: RAY_ADDRESS); this process commits. Every node must see the files at the same paths")] = None,
) -> None:
    """Index new, changed and deleted files; unchanged and moved files are not re-embedded. With
    --transcribe / --ocr, then reads what is said and written (resumable passes; search works meanwhile)."""
    from framefind.library import Library
    from framefind.store.events import IndexEvents

    with Library.open(library, model=model, index_type=index_type, backend=backend, uri=uri) as lib:
        for line in lib.upgrades:
            notice(f"framefind: {lib.directory}: {line}")
        with progress_bar(quiet, rate=True) as bar:
            task = bar.add_task("indexing", total=None)
            events = IndexEvents(
                on_error=report_skipped, on_warning=report_warning,
                on_wait=lambda pid: notice(f"framefind: waiting for another index run (pid {pid}) to finish"),
                on_rebuild=_announce_rebuild,
                progress=lambda done, total: bar.update(task, description="indexing", completed=done, total=total),
                on_annotate=lambda done, total: bar.update(task, description="dates, labels, thumbnails",
                                                           completed=done, total=total),
                on_describe=lambda done, total: bar.update(task, description="words and places", completed=done,
                                                           total=total),
                on_enrich=lambda name, done, total: bar.update(task, description=PASS_NAMES[name], completed=done,
                                                               total=total),
                on_migrate=lambda where, done, total: bar.update(task, description=f"vectors to {where}",
                                                                 completed=done, total=total))
            report = lib.index(paths, events=events, wait=wait, transcribe=transcribe, ocr=ocr, faces=faces,
                               workers=workers, ray=ray)
        summary = (f"{report.scanned} files: {report.embedded} embedded, {report.linked} moved/copied, "
                   + (f"{report.reused} re-described (same picture), " if report.reused else "")
                   + f"{report.unchanged} unchanged, {report.removed} removed, {report.failed} failed "
                   f"in {report.seconds:.1f} s ({report.rate:.1f} files/s"
                   + (f", on the Ray cluster's {report.workers} CPUs)" if report.on_ray else
                      f", {report.workers} processes)" if report.workers > 1 else ")"))
        if report.enrichment is not None:
            done = report.enrichment
            summary += "; " + ", ".join(f"{PASS_NAMES[name]}: {done.done[name]} files, {done.texts[name]} passages"
                                        for name in done.done)
        if report.described is not None and report.described.built:
            summary += (f"; words and places of {report.described.built} files read ({report.described.located} "
                        "placed)")
        if report.faces is not None:
            summary += (f"; faces: {report.faces.faces} in {report.faces.contents} files, {report.faces.people} new "
                        "people")
        if report.interrupted:
            err.print(f"framefind: interrupted; batches committed so far are kept. {summary}")
            raise typer.Exit(130)
        err.print(summary, highlight=False, soft_wrap=True)
        if report.rebuild_pid:
            notice(f"framefind: building bigger index files in the background (pid {report.rebuild_pid}, log: "
                   f"{lib.directory / 'rebuild.log'}); searches use the current ones until then")
        if report.failed:
            raise typer.Exit(2 if report.failed == report.scanned else 0)


def _announce_rebuild(space: str, kind: str, n: int) -> None:
    if kind != "flat" or n >= 20_000:  # builds worth a line: approximate types, or big exact ones
        notice(f"framefind: building the {space} index ({kind}, {n} items)")


Words = list[str] | None


@app.command()
@one_line_errors
def search(
    query: Annotated[str | None, typer.Argument(
        help='What to look for: "beach +sunset -people", "sunset:2 beach", "dog 2019", "snow last winter"')] = None,
    image: Annotated[Path | None, typer.Option("--image", "-i", help="Find images similar to this one")] = None,
    minus_image: Annotated[list[Path] | None, typer.Option(
        "--minus-image", help="Push results away from this image (repeatable)")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="Find videos similar to this clip")] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Number of results")] = 10,
    show_all: Annotated[bool, typer.Option(
        "--all", help="No relevance cutoff: a full page even if nothing matches")] = False,
    min_score: Annotated[float | None, typer.Option("--min-score", help=(
        "Keep only results whose score (as shown: the estimated probability of a match, 0-1) is at least this"))
    ] = None,
    kind: Annotated[Words, typer.Option("--kind", help="Only images or only videos (image, video)")] = None,
    under: Annotated[list[Path] | None, typer.Option("--in", help="Only files in this folder (repeatable)")] = None,
    after: Annotated[str | None, typer.Option("--from", help="Taken on or after: 2019, 2019-07, 2019-07-14")] = None,
    before: Annotated[str | None, typer.Option("--to", help="Taken on or before: 2020, 2020-06, 2020-06-30")] = None,
    min_duration: Annotated[float | None, typer.Option(help="Videos at least this long, seconds")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Videos at most this long, seconds")] = None,
    label: Annotated[Words, typer.Option("--label", help="Only what the classifier labels so (dog: any breed)")] = None,
    boost_label: Annotated[Words, typer.Option("--boost-label", help="Rank items with this label first")] = None,
    place: Annotated[Words, typer.Option("--place", help=(
        "Only what was taken there (GPS), or whose folder, caption or keywords name it (repeatable: all of them)"))
    ] = None,
    no_dates: Annotated[bool, typer.Option("--no-dates", help="Dates in the words stay words")] = False,
    no_places: Annotated[bool, typer.Option("--no-places", help="Place names in the words stay words")] = False,
    person: Annotated[Words, typer.Option("--person", help="Only what shows this named person (repeatable: all of "
                                                           "them)")] = None,
    no_people: Annotated[bool, typer.Option("--no-people", help="People's names in the words stay words")] = False,
    no_learn: Annotated[bool, typer.Option("--no-learn", help="Ignore thumbs up/down given before")] = False,
    only: Annotated[Words, typer.Option(
        "--only", help="Match only by: visual, speech, text, metadata, face (repeatable)")] = None,
    weights: Annotated[str | None, typer.Option(help="Fusion weights, e.g. visual=1,speech=2,metadata=1")] = None,
    save_clips: Annotated[Path | None, typer.Option(help="Write an mp4 of each video moment here")] = None,
    fast: Annotated[bool, typer.Option(help="With --save-clips: stream copy from the keyframe before")] = False,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search by text, by example image (or both), or by example video: images and video moments, best first.
    Results stop where relevance stops (--all: a full page); dates and the library's places among the words
    filter by capture date and place ("beach in Lisbon 2019")."""
    from framefind.library import Library
    from framefind.search.query import Query, date_range, parse_weights

    request = Query.of(query, image=image, video=video, minus_images=tuple(minus_image or ()), k=k,
                       min_score=min_score, kinds=tuple(kind or ()), under=tuple(under or ()),
                       dates=date_range(after, before), read_dates=not no_dates, cutoff=not show_all,
                       learn=not no_learn, min_duration=min_duration, max_duration=max_duration,
                       labels=tuple(label or ()), boost_labels=tuple(boost_label or ()), places=tuple(place or ()),
                       read_places=not no_places, people=tuple(person or ()), read_people=not no_people,
                       signals=tuple(only or ()) or None, weights=parse_weights(weights))
    with Library.open(library, create=False) as lib:
        page = lib.search_page(request)
    if save_clips:
        write_clips(page.results, save_clips, fast)
    if as_json:
        print(json.dumps([r.to_dict() for r in page.results], indent=2))
        if page.nothing_matched:
            err.print(page.why_nothing())  # stdout stays the list ([]), for scripts
        return
    print_page(page)


@app.command()
@one_line_errors
def clip(
    video: Annotated[Path, typer.Argument(help="Source video")],
    start: Annotated[float, typer.Option(help="Start, seconds")],
    end: Annotated[float, typer.Option(help="End, seconds")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the mp4")],
    fast: Annotated[bool, typer.Option(help="Stream copy from the keyframe before START (no re-encode)")] = False,
) -> None:
    """Save a clip of a video: an exact re-encoded cut (H.264/AAC mp4), or --fast stream copy."""
    from framefind.media.cut import cut_video

    result = cut_video(video, start, end, output, fast=fast)
    notice(f"saved {result.path}: {result.start:.2f}-{result.end:.2f} s ({result.duration:.2f} s)")


@app.command()
@one_line_errors
def info(library: LibraryOption = None, as_json: JsonOption = False) -> None:
    """Library statistics: items, model, index type, disk use, recent failures."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        stats = lib.info()
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    table = Table(show_header=False, show_edge=False)
    for key in ("library", "model", "model_id", "index", "backend", "files", "images", "videos", "video_seconds",
                "items", "failed", "roots", "passes", "passages", "placed"):
        value = stats[key]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    table.add_row("index files", ", ".join(f"{space}: {kind or 'not written yet'}"
                                           for space, kind in stats["index_files"].items()))
    if stats["rebuilding"]:
        table.add_row("", f"a bigger index is being built in the background (pid {stats['rebuilding']})")
    for model in stats["models"]:
        table.add_row("model" + (" (active)" if model["active"] else ""),
                      f"{model['id']} ({model['name']}, {model['contents']} contents)")
    table.add_row("disk use", f"{stats['disk_bytes'] / 1e6:.1f} MB")
    out.print(table)
    for failure in stats["recent_failures"]:
        out.print(f"failed: {failure['path']}: {failure['error']}", markup=False, highlight=False)


@app.command()
@one_line_errors
def serve(
    library: LibraryOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on (anything but loopback needs --token)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="FRAMEFIND_TOKEN", help="Access token for every request")] = None,
    allow_urls: Annotated[bool, typer.Option("--allow-urls", help="Let clients search by image URL")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Also index what changes in the library's folders as it "
                                        "settles (as framefind watch)")] = False,
    settle: watching.SettleOption = 2.0, poll: watching.PollOption = None,
    poll_interval: watching.PollIntervalOption = 30.0,
    ray: Annotated[str | None, typer.Option(
        "--ray", help="Index runs started from the web app or API decode and embed on the Ray cluster at this address "
        "(auto: RAY_ADDRESS)")] = None,
) -> None:
    """Serve the web app and the REST API (OpenAPI at /docs) for one library."""
    import uvicorn

    from framefind.interfaces.server.app import create_app

    loopback = host == "localhost" or _is_loopback(host)
    if not loopback and not token:
        raise FrameFindError(f"--host {host}: serving beyond this machine needs --token (or FRAMEFIND_TOKEN)")
    app_ = create_app(library or default_library_dir(), token=token, allow_urls=allow_urls,
                      watch=watching.watch_options(settle, poll, poll_interval) if watch else None, ray=ray)
    shown = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    notice(f"framefind: serving {app_.state.library.directory} at {shown} (API docs at /docs; Ctrl-C stops)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
@one_line_errors
def duplicates(
    threshold: Annotated[float | None, typer.Option(
        help=f"Similarity from which two items are near-duplicates [default: {THRESHOLD}, "
             "higher in a library of look-alikes]")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="image and/or video [default: both]")] = None,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Groups of near-identical images (resized, recompressed, cropped) and videos (re-encodes, trims).
    Reports only: nothing is deleted."""
    from framefind.library import Library
    from framefind.search.duplicates import as_rows

    with Library.open(library, create=False) as lib:
        rows = as_rows(lib.duplicates(threshold, tuple(kind or ("image", "video"))))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        err.print("no near-duplicates")
        return
    for number, group in enumerate(rows, 1):
        out.print(f"group {number} ({len(group)} files)", style="bold")
        for member in group:
            out.print(f"  {member['path']}" + ("  (same bytes)" if member["same_bytes"] else ""), markup=False,
                      highlight=False)


@app.command()
@one_line_errors
def feedback(
    query: Annotated[str | None, typer.Argument(help="The query the result was for, as typed")] = None,
    target: Annotated[str | None, typer.Argument(help="The result: PATH, PATH#START-END (a moment) or its key")] = None,
    up: Annotated[bool, typer.Option("--up", help="A good result for this query")] = False,
    down: Annotated[bool, typer.Option("--down", help="A bad result for this query")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Write all feedback as golden queries "
                                                "for framefind eval to this JSON file")] = None,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Thumbs up or down on a search result: the same and similar queries rank by it from now on.
    With no arguments, lists the feedback given."""
    from framefind.fsutil import atomic_path
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        if query is not None or target is not None:
            if target is None or up == down:
                raise FrameFindError('give QUERY TARGET and --up or --down (e.g. framefind feedback "cat" a.jpg --up)')
            lib.feedback(query, target, 1 if up else -1)
            notice(f"noted: {target} is a {'good' if up else 'bad'} result for {query!r}")
        if export is not None:
            golden = lib.golden_queries()
            with atomic_path(export) as tmp:
                tmp.write_text(json.dumps(golden, indent=2))
            notice(f"wrote {len(golden['queries'])} golden queries to {export} (framefind eval --queries {export})")
        if query is not None or export is not None:
            return
        rows = lib.feedback_given()
    if as_json:
        print(json.dumps([{"query": q, "key": k, "vote": "up" if v > 0 else "down", "at": at} for q, k, v, at in rows]))
        return
    for q, k, v, _ in rows:
        out.print(f"{'up  ' if v > 0 else 'down'}  {q!r}  {k}", markup=False, highlight=False)


@app.command()
@one_line_errors
def models(
    drop: Annotated[str | None, typer.Option("--drop", help="Delete this model's vectors (not the active one)")] = None,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """The models whose vectors this library holds; --drop ID deletes one (switching back then re-embeds)."""
    from framefind.library import Library

    with Library.open(library, create=False) as lib:
        if drop:
            notice(f"dropped {drop}: vectors of {lib.drop_model(drop)} contents")
        rows = lib.models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(show_edge=False, header_style="bold")
    for name in ("id", "name", "contents", "active"):
        table.add_column(name)
    for row in rows:
        table.add_row(row["id"], row["name"], str(row["contents"]), "yes" if row["active"] else "")
    out.print(table)


@app.command()
@one_line_errors
def migrate(
    to: Annotated[str, typer.Option("--to", help="faiss, milvus (a Milvus Lite file in the library) or a Milvus "
                                    "URI: http://host:19530 for a server or cluster, or a path ending in .db")],
    library: LibraryOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="If an index run holds the library, wait for it")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Move the library's vector indexes (every model's) to Milvus or back to FAISS files. The catalog
    keeps every vector: nothing is re-embedded, a second run copies nothing, an interrupted one resumes.
    Searches switch once the copy is complete and verified; search, serve and eval need no flags after."""
    from framefind.library import Library
    from framefind.store.migrate import backend_label

    with Library.open(library, create=False) as lib:
        with progress_bar(quiet) as bar:
            task = bar.add_task("vectors", total=None)
            moved = lib.migrate(to, wait=wait, progress=lambda done, total: bar.update(task, completed=done,
                                                                                         total=total))
        models = len({model for model, _, _ in moved.spaces})
        notice(f"{moved.vectors} vectors of {models} model(s) in {len(moved.spaces)} index(es) now in "
               f"{backend_label(moved.backend)}; searches use it")


app.command(name="eval")(eval_command)
app.command(name="places")(places_command)
app.command(name="watch")(watching.watch_command)
app.add_typer(people_app, name="people")

def main() -> None:
    """The ``framefind`` console script and ``python -m framefind``."""
    run_and_leave(app)


if __name__ == "__main__":
    main()

