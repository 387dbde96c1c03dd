"""Enrichment passes after embedding: what is said (speech) and what is written (ocr), per content.

Each pass is its own stage with its own progress: one content at a time, committed in one
transaction (its texts, their full-text rows and vectors, and an ``enriched`` row saying it is
done), so Ctrl-C or kill -9 loses at most the content in flight and the next run resumes after the
last one done. Searches use whatever is done so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from framefind.errors import MediaError
from framefind.store.catalog import Catalog
from framefind.store.texts import ONSCREEN, SPEECH, put_texts

PASSES = {"speech": ("video",), "ocr": ("image", "video"), "faces": ("image", "video")}  # pass -> kinds it reads
SOURCE = {"speech": SPEECH, "ocr": ONSCREEN}  # pass -> the ``texts.source`` it writes
OCR_MAX_SIDE = 1280  # px: small print stays legible, the recogniser stays fast
OCR_EVERY = 2.0  # seconds between video frames looked at for text (1 s: 187 % overhead, 2 s: 108 %)
CHECK_SIDE = 640  # px the cheap "is there text?" check looks at

Span = tuple[float | None, float | None, str]
# (pass, its pending (content, kind, path) rows) -> what each row's file holds (spans; faces.py: faces), and a note
Reader = Callable[[str, list[tuple[str, str, str]]], Iterator[tuple[list, str | None]]]


class TextEncoder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...  # texts to store

    def embed_query(self, texts: list[str]) -> np.ndarray: ...  # search queries


@dataclass
class EnrichReport:
    done: dict[str, int] = field(default_factory=dict)  # pass -> contents finished in this run
    texts: dict[str, int] = field(default_factory=dict)  # pass -> phrases / text spans stored
    seconds: float = 0.0
    interrupted: bool = False


def pending(catalog: Catalog, name: str) -> list[tuple[str, str, str]]:
    """(content, kind, one live path) of the contents pass ``name`` has not done yet."""
    kinds = PASSES[name]
    sql = (f"SELECT c.hash, c.kind, MIN(f.path) FROM contents c JOIN files f ON f.hash = c.hash AND f.status = 'ok' "
           f"WHERE c.kind IN ({','.join('?' * len(kinds))}) AND NOT EXISTS "
           "(SELECT 1 FROM enriched e WHERE e.hash = c.hash AND e.pass = ?) GROUP BY c.hash ORDER BY MIN(f.path)")
    return catalog.db.execute(sql, (*kinds, name)).fetchall()


def enrich(catalog: Catalog, passes: list[str], encoder: TextEncoder, *,
           stopped: Callable[[], bool] = lambda: False,
           progress: Callable[[str, int, int], None] = lambda name, done, total: None,
           on_note: Callable[[str, str], None] = lambda path, note: None,
           read: Reader | None = None) -> EnrichReport:
    """Run each pass over the contents it has not done; stops cleanly on Ctrl-C (``interrupted``). ``read``:
    where the files are read (default: here, one at a time; store/ray_index.py: on a Ray cluster)."""
    report, started = EnrichReport(), time.perf_counter()
    read = read or (lambda name, todo: (RUNNERS[name](path, kind, stopped) for _, kind, path in todo))
    try:
        for name in passes:
            todo = pending(catalog, name)
            report.done[name] = report.texts[name] = 0
            for number, ((content, _, path), (spans, note)) in enumerate(zip(todo, read(name, todo), strict=True)):
                progress(name, number, len(todo))
                if stopped():
                    raise KeyboardInterrupt
                vectors = encoder.embed([text for _, _, text in spans]) if spans else None
                with catalog.transaction() as db:
                    put_texts(catalog, content, SOURCE[name], spans, vectors)
                    db.execute("INSERT OR REPLACE INTO enriched (hash, pass, at, note) VALUES (?, ?, ?, ?)",
                               (content, name, time.time(), note))
                report.done[name] += 1
                report.texts[name] += len(spans)
                if note:
                    on_note(path, note)
            progress(name, len(todo), len(todo))
    except KeyboardInterrupt:
        report.interrupted = True  # contents done so far are committed; the next run resumes
    report.seconds = time.perf_counter() - started
    return report


def _speech(path: str, kind: str, stopped: Callable[[], bool]) -> tuple[list[Span], str | None]:
    from framefind.media.speech import NO_AUDIO, transcribe

    transcript = transcribe(path, stopped=stopped)
    note = None if transcript.note == NO_AUDIO else transcript.note  # a video without sound is no problem
    return [(p.start, p.end, p.text) for p in transcript.phrases], note


def _ocr(path: str, kind: str, stopped: Callable[[], bool]) -> tuple[list[Span], str | None]:
    from framefind.media.images import load_upright
    from framefind.media.ocr import frame_texts, read_regions, text_regions
    from framefind.media.video import sample_frames

    try:
        if kind == "video":
            return list(frame_texts(sample_frames(path, OCR_EVERY, OCR_MAX_SIDE, stopped))), None
        picture = load_upright(path, CHECK_SIDE)  # the check decodes small; most pictures stop here
        regions = text_regions(picture)
        lines = read_regions(picture, regions, lambda: load_upright(path, OCR_MAX_SIDE)) if regions else []
        text = " ".join(line.text for line in lines)
    except MediaError as exc:
        return [], exc.reason
    except Exception as exc:  # noqa: BLE001 - a decoder's error on one file must not stop the pass
        return [], f"could not read frames ({type(exc).__name__}: {exc})"
    return ([(None, None, text)] if text else []), None


RUNNERS: dict[str, Callable[[str, str, Callable[[], bool]], tuple[list[Span], str | None]]] = {
    "speech": _speech, "ocr": _ocr}
