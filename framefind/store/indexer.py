"""Incremental indexing: scan -> diff against the catalog -> hash + decode (threads) -> embed -> commit.

A model whose image graph runs single-threaded (``embed_while_decoding``: effnet-conse) embeds each image
in the decode thread that decoded it, so decoding and the model overlap on every core with no hand-off;
other models get the decoded pixels back in the main thread, in batches.

Each batch is committed in one transaction (content, items, vectors and file rows together), so a
crash or Ctrl-C loses at most the batch in flight and a re-run resumes where it stopped. Files whose
content hash is already embedded (moved, renamed, copied) are linked without running the model, and pictures
whose picture data is embedded already (only their metadata changed: a caption written into them) take copies
of its vectors (store/reuse.py).
``workers`` > 1 embeds in several processes instead (store/workers.py).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from framefind.errors import MediaError
from framefind.media.files import FileStat, content_digests, scan
from framefind.media.units import Item, ItemFrames
from framefind.media.video import pool_segments, scan_video
from framefind.models.base import Model
from framefind.store.catalog import Catalog, FileRow
from framefind.store.describe import DescribeReport
from framefind.store.enrich import EnrichReport
from framefind.store.faces_pass import FacesReport
from framefind.store.reuse import copy_content, embedded_scans, same_picture
from framefind.store.roots import locate, new_roots, offline_reason

BATCH_SIZE = 32  # images per model call: ONNX Runtime throughput is flat from 8 to 32 here
# One more decoder than cores: decoders then keep every core busy while ONNX Runtime's threads sync
# (measured: 61 vs 49 images/s end to end on 2 cores).
DECODE_THREADS = (os.cpu_count() or 1) + 1


@dataclass
class IndexReport:
    scanned: int = 0
    embedded: int = 0  # files whose content went through the model
    linked: int = 0  # new paths of content already embedded (moves, renames, copies)
    reused: int = 0  # new contents of a picture already embedded (metadata edited): vectors copied, not made
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # e.g. a video decoded only in part
    seconds: float = 0.0
    interrupted: bool = False
    workers: int = 1  # processes that embedded (on a Ray cluster: its CPU slots)
    on_ray: bool = False  # the files were decoded and embedded on a Ray cluster (store/ray_index.py)
    enrichment: EnrichReport | None = None  # the speech / on-screen text passes, when the library runs them
    described: DescribeReport | None = None  # what the files say and where they were taken (store/describe.py)
    faces: FacesReport | None = None  # the faces pass and the people it grouped (store/faces_pass.py)
    rebuild_pid: int | None = None  # a background build of bigger index files, started at the end (store/rebuild.py)
    offline: list[str] = field(default_factory=list)  # roots not found: their files were kept (store/roots.py)

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


@dataclass
class Prepared:
    """A file after the threaded stage: hashed, and decoded unless its content is known already."""

    stat: FileStat
    hash: str | None = None
    scan: str | None = None  # pictures: the digest of their picture data alone (media.files.content_digests)
    reuse: bool = False  # a content embedded already has this picture data: copy its rows, decode nothing
    source: str | None = None  # that content, found by the writer (store/reuse.py)
    pixels: np.ndarray | None = None  # images: (n, size, size, 3) uint8, one row per item, embedded later
    vectors: dict[str, np.ndarray] | None = None  # embedded while decoding (videos; see embed_while_decoding)
    items: list[Item] = field(default_factory=list)
    frames: list[ItemFrames] | None = None
    size: tuple[int, int] | None = None
    thumbnail: bytes | None = None  # images: a small JPEG (video segments keep one per frames entry)
    duration: float | None = None
    error: str | None = None
    warning: str | None = None

    @property
    def is_new(self) -> bool:
        """A content this file brings into the catalog (embedded, or copied from the same picture)."""
        return self.pixels is not None or self.vectors is not None or self.reuse


def plan(catalog: Catalog, embedded: set[str], roots: list[str]) -> tuple[list[FileStat], list[str], int]:
    """(files to process, known paths that are gone, number of files scanned); ``embedded``: content
    hashes the current model has vectors for."""
    known = catalog.files_under(roots)
    todo, seen = [], set()
    for stat in scan(roots):
        seen.add(stat.path)
        row = known.get(stat.path)
        if row is None or not _unchanged(row, stat, embedded):
            todo.append(stat)
    return todo, sorted(set(known) - seen), len(seen)


def _unchanged(row: FileRow, stat: FileStat, embedded: set[str]) -> bool:
    if (row.size, row.mtime_ns) != (stat.size, stat.mtime_ns):
        return False
    return row.status == "failed" or row.hash in embedded  # failed files retry only when they change


def prepare(stat: FileStat, known_hashes: set[str], model: Model, stop: threading.Event | None = None,
            partly: Callable[[float], None] = lambda fraction: None,
            claim: Callable[[str], bool] = lambda content_hash: True, scans: Container[str] = frozenset()
            ) -> Prepared:
    """Hash, then decode (and embed, see ``embed_while_decoding``) only if the content is new and, for a picture,
    its picture data too (``scans``: the scan digests the model has vectors for). Runs in decode threads (I/O,
    decoding and ONNX Runtime release the GIL).

    ``stop`` set: a video being decoded gives up at its next frame (Ctrl-C must not wait for it).
    ``partly`` hears how much of a long video is decoded, so progress moves during it.
    ``claim`` is False for content an earlier file of this run is decoding already (a copy): it is linked.
    """
    out = Prepared(stat)
    try:
        if stat.size == 0:
            raise MediaError(stat.path, "empty file")
        out.hash, out.scan = content_digests(stat.path, pictures=stat.kind == "image")
        if out.hash in known_hashes or not claim(out.hash):
            return out
        if out.scan in scans:
            out.reuse = True
        elif stat.kind == "video":
            _prepare_video(out, model, stop.is_set if stop else lambda: False, partly)
        else:
            _decode_picture(out, model)
    except MediaError as exc:
        out.error = exc.reason
    return out


def _decode_picture(out: Prepared, model: Model) -> None:
    pixels, out.size, out.thumbnail = model.decode_image(out.stat.path, thumbnail=True)
    out.items = [Item()]
    if model.embed_while_decoding:
        out.vectors = model.embed_images(pixels[None])
    else:
        out.pixels = pixels[None]


def _prepare_video(out: Prepared, model: Model, stopped: Callable[[], bool], partly: Callable[[float], None]) -> None:
    """Segments of a video, each with the mean of its frames' vectors (ONNX Runtime is thread-safe)."""
    scan = scan_video(out.stat.path, model.image_size, model.embed_images, model.sampling, stopped=stopped,
                      progress=partly, fit=model.preprocess.fit)
    out.items, out.frames, out.vectors = pool_segments(scan, model.sampling.window)
    out.size, out.duration, out.warning = scan.size, scan.duration, scan.stopped


def index_files(catalog: Catalog, model: Model, roots: Iterable[str | Path], *, workers: int = 1,
                ray: str | None = None, on_error: Callable[[str, str], None] = lambda path, reason: None,
                on_warning: Callable[[str, str], None] = lambda path, reason: None,
                progress: Callable[[float, int], None] = lambda done, total: None) -> IndexReport:
    """Bring the catalog up to date with the files under ``roots``; ``workers`` > 1: in that many processes
    (store/workers.py); ``ray``: decoded and embedded on the Ray cluster at that address (store/ray_index.py)."""
    from framefind.store.workers import run_shares, split

    started = time.perf_counter()
    report = IndexReport()
    where = locate(catalog, roots)  # a missing root is offline: its files are kept (store/roots.py)
    for root in where.offline:
        on_warning(root, f"offline ({offline_reason(root)}); its files stay in the library until it is back")
    known = catalog.embedded_hashes(model.id)
    todo, gone, report.scanned = plan(catalog, known, where.present)
    gone, report.offline = where.gone(catalog, gone), where.offline
    report.unchanged = report.scanned - len(todo)
    catalog.add_roots(new_roots(where.present, catalog.roots()))  # not a file or folder inside a root
    shares = split(todo, workers) if workers > 1 else [todo]
    report.workers = max(1, len(shares))  # what runs: all files of one size make one share
    try:
        if ray is not None:
            from framefind.store.ray_index import index_on_ray

            index_on_ray(ray, catalog, model, todo, report, known, on_error, on_warning, progress)
        elif report.workers > 1:
            run_shares(str(catalog.path.parent), model, shares, report, on_error, on_warning, progress)
        else:
            process_files(catalog, model, todo, report, known=known, on_error=on_error, on_warning=on_warning,
                          progress=progress)
        if not report.interrupted:
            with catalog.transaction():
                catalog.remove_files(gone)  # also drops content that edits or deletions orphaned
            report.removed = len(gone)
    except KeyboardInterrupt:
        report.interrupted = True  # committed batches stay; the next run resumes after them
    report.seconds = time.perf_counter() - started
    return report


def process_files(catalog: Catalog, model: Model, todo: list[FileStat], report: IndexReport, *,
                  known: set[str] | None = None, threads: int = DECODE_THREADS,
                  on_error: Callable[[str, str], None] = lambda path, reason: None,
                  on_warning: Callable[[str, str], None] = lambda path, reason: None,
                  progress: Callable[[float, int], None] = lambda done, total: None) -> None:
    """Hash, decode, embed and commit ``todo`` in batches, counting into ``report``; ``known``: content
    hashes the model has vectors for (grows as batches commit, so later copies are linked)."""
    known = catalog.embedded_hashes(model.id) if known is None else known
    scans = embedded_scans(catalog, model.id)
    writer = _BatchWriter(catalog, model, report, known, on_error, on_warning)
    if todo:  # load the model sessions once, before decode threads race to do it
        model.embed_images(np.zeros((1, model.image_size, model.image_size, 3), np.uint8))
    tracker = _Tracker(len(todo), progress)
    for item in _prepared(todo, known, model, tracker, threads, scans):
        writer.add(item)
        tracker.finished(item.stat.path)
    writer.flush()


class _Tracker:
    """Progress in files: those done plus the decoded fraction of videos in flight (from any thread)."""

    def __init__(self, total: int, report: Callable[[float, int], None]) -> None:
        self.total, self.report = total, report
        self.done, self.partial = 0, {}
        self.lock = threading.Lock()

    def partly(self, path: str, fraction: float) -> None:
        with self.lock:
            self.partial[path] = fraction
            self.report(self.done + sum(self.partial.values()), self.total)

    def finished(self, path: str) -> None:
        with self.lock:
            self.partial.pop(path, None)
            self.done += 1
            self.report(self.done + sum(self.partial.values()), self.total)


def _prepared(todo: list[FileStat], known: set[str], model: Model, tracker: _Tracker | None = None,
              threads: int = DECODE_THREADS, scans: Container[str] = frozenset()) -> Iterator[Prepared]:
    """``prepare`` over ``todo`` in threads, in order, with a bounded read-ahead (bounded memory)."""
    stop = threading.Event()
    claimed: set[str] = set()
    lock = threading.Lock()

    def claim(content_hash: str) -> bool:  # the first file of this run with this content decodes it
        with lock:
            first = content_hash not in claimed
            claimed.add(content_hash)
            return first

    with ThreadPoolExecutor(threads, thread_name_prefix="decode") as pool:
        pending: deque[Future[Prepared]] = deque()
        try:
            for stat in todo:
                partly = functools.partial(tracker.partly, stat.path) if tracker else lambda fraction: None
                pending.append(pool.submit(prepare, stat, known, model, stop, partly, claim, scans))
                if len(pending) >= 2 * BATCH_SIZE:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # on Ctrl-C or an error: drop queued work and make running decodes give up
            stop.set()
            for future in pending:
                future.cancel()


class _BatchWriter:
    """Accumulates prepared files, embeds decoded ones in batches, commits each batch atomically."""

    def __init__(self, catalog: Catalog, model: Model, report: IndexReport,
                 known: set[str], on_error: Callable[[str, str], None], on_warning: Callable[[str, str], None]) -> None:
        self.catalog, self.model, self.report = catalog, model, report
        self.on_error, self.on_warning = on_error, on_warning
        self.known = known
        self.batch: list[Prepared] = []
        self.frames = 0
        self.new_hashes: dict[str, Prepared] = {}  # content first seen in this batch
        self.failed: dict[str, str] = {}  # content hash -> why its first file failed (its copies fail alike)
        self.waiting: dict[str, list[Prepared]] = {}  # copies whose first file (see ``claim``) is still coming

    def add(self, item: Prepared) -> None:
        """Take a prepared file. A copy of content another file of this run decodes (``claim``) waits for
        that file: it is linked once the content is in, or fails with it, never linked to nothing. A content
        decoded twice all the same (copies split over two Ray tasks) is linked the second time, never added twice."""
        if item.is_new and item.hash is not None and (item.hash in self.known or item.hash in self.new_hashes):
            item.vectors = item.pixels = item.frames = item.thumbnail = None
            item.items, item.reuse = [], False
        if item.reuse:
            self._find_source(item)
        if item.hash is not None and not item.is_new and not item.error and item.hash not in self.known \
                and item.hash not in self.new_hashes:
            if item.hash not in self.failed:
                self.waiting.setdefault(item.hash, []).append(item)
                return
            item.error = self.failed[item.hash]
        self._add(item)
        if item.hash is not None and item.error:
            self.failed.setdefault(item.hash, item.error)
        for copy in self.waiting.pop(item.hash, []) if item.is_new or item.error else []:
            copy.error = self.failed.get(copy.hash) if item.error else None
            self._add(copy)

    def _find_source(self, item: Prepared) -> None:
        """The content a reused picture copies; should it be gone (not while this run holds the writer lock),
        the picture is decoded here after all."""
        item.source = same_picture(self.catalog, item.scan, self.model.id)
        if item.source is None:
            item.reuse = False
            try:
                _decode_picture(item, self.model)
            except MediaError as exc:
                item.error = exc.reason

    def _add(self, item: Prepared) -> None:
        self.batch.append(item)
        if item.is_new:
            self.new_hashes[item.hash] = item
            self.frames += len(item.items) or 1  # rows to commit, embedded already, to embed here, or to copy
        if self.frames >= BATCH_SIZE or (item.is_new and item.stat.kind == "video"):  # a video commits at once
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        decoded = [p for p in self.batch if p.pixels is not None]
        vectors = self.model.embed_images(np.concatenate([p.pixels for p in decoded])) if decoded else {}
        with self.catalog.transaction():
            row = 0
            for p in decoded:
                n = len(p.items)
                per_item = {space: v[row : row + n] for space, v in vectors.items()}
                self.catalog.add_content(p.hash, p.stat.kind, self.model.id, p.size, p.items, per_item,
                                         thumbnail=p.thumbnail, scan=p.scan)
                row += n
            for p in self.batch:
                if p.vectors is not None:
                    self.catalog.add_content(p.hash, p.stat.kind, self.model.id, p.size, p.items, p.vectors,
                                             p.duration, p.frames, thumbnail=p.thumbnail, scan=p.scan)
                elif p.source is not None and not p.error:
                    copy_content(self.catalog, p.source, p.hash, p.scan)
            for p in self.batch:
                s = p.stat
                self.catalog.record_file(s.path, s.size, s.mtime_ns, s.kind, p.hash, p.error)
        self.known.update(self.new_hashes)
        for p in self.batch:  # count only once the batch is safely committed
            if p.error:
                self.report.failed += 1
                self.report.errors.append((p.stat.path, p.error))
                self.on_error(p.stat.path, p.error)
            elif p.reuse:
                self.report.reused += 1
            elif p.is_new:
                self.report.embedded += 1
            else:
                self.report.linked += 1
            if p.warning:
                self.report.warnings.append((p.stat.path, p.warning))
                self.on_warning(p.stat.path, p.warning)
        self.batch, self.frames, self.new_hashes = [], 0, {}

