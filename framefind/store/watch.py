"""Watching folders (issue #21): new, changed, moved and deleted files are indexed as they settle.

Events (store/watch_events.py) only say which paths to look at. Each path then waits in ``Settling`` until its
size and modification time have held still for ``settle`` seconds, so a photo still being copied, or written in
pieces, is indexed once and whole. Everything settled by then goes to ``Library.index`` as one batch of exact paths
(files, and paths that vanished), so the index does what ``framefind index`` does with the library's settings
(speech, on-screen text, faces, words and places); files inside an indexed folder are not roots of their own, and a
missing path inside a folder that is there is a deletion (store/roots.py).

- **The writer lock** is taken per batch (waiting for a ``framefind index`` that holds it), never while idle:
  manual index runs and searches go on beside the watcher.
- **Offline, never deleted.** A watched folder that vanishes (a disk unmounted, a NAS switched off; a mount point
  left empty counts as vanished) is offline: its files stay in the library and in searches, its pending paths are
  dropped, and when it is back a sweep compares it with the catalog: nothing unchanged is re-embedded.
- **Nothing is lost between runs.** At start (and after the kernel dropped events) each folder is swept: files
  whose size or time differ from the catalog's, and known files that are gone, settle like any event.
- **Bounded memory.** Pending paths are one entry each (no event history); events arriving during a batch are a set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field

from watchdog.observers.api import BaseObserver, ObservedWatch

from framefind.errors import FrameFindError
from framefind.media.files import media_kind, scan
from framefind.store.events import IndexEvents
from framefind.store.indexer import IndexReport
from framefind.store.roots import emptied, offline_reason, online, root_of
from framefind.store.watch_events import (
    SIDECAR,
    TRACKS_WRITES,
    LimitWatch,
    Sink,
    inotify_observer,
    is_limit,
    is_media_or_sidecar,
    limit_line,
    network_fs,
    polling_observer,
    wanted,
)

TICK = 0.25  # seconds between looks at what is settling (and whether each folder is still there)
OPEN_LIMIT = 60.0  # seconds a settled file still open for writing waits for its writer to close it
RETRY = 30.0  # seconds to wait after a batch failed as a whole (a Milvus server unreachable) before the next
Say = Callable[[str], None]


@dataclass(frozen=True)
class WatchOptions:
    settle: float = 2.0  # seconds a file's size and time must hold still before it is indexed
    poll: float | None = None  # poll every folder this often instead of inotify
    poll_interval: float = 30.0  # how often folders on network mounts (or past the inotify limit) are polled
    verbose: bool = False  # a line for each path seen changing and each path of a batch


class Settling:
    """Paths waiting to settle: path -> (signature, since when). A path is ready once its signature (size and
    mtime; None once it is gone) has not changed for ``settle`` seconds and no writer holds it open (inotify says
    when a file written to is closed: a copy that stalls longer than ``settle`` is still not read half), or, for a
    writer that never closes it, once it held still for ``OPEN_LIMIT``."""

    def __init__(self, settle: float, on_seen: Callable[[str, tuple | None], None],
                 on_held: Callable[[str], None] = lambda path: None) -> None:
        self.settle, self.on_seen, self.on_held = settle, on_seen, on_held
        self.entries: dict[str, tuple[object, float]] = {}
        self.held: set[str] = set()  # paths said to be stable but open (said once each)

    def touch(self, path: str, now: float) -> None:
        if path not in self.entries:
            self.entries[path] = (_UNSEEN, now)

    def ready(self, now: float, writing: Container[str] = frozenset()) -> list[str]:
        out = []
        for path, (seen, since) in list(self.entries.items()):
            current = signature(path)
            if current != seen:
                self.entries[path] = (current, now)
                self.held.discard(path)
                self.on_seen(path, current)
            elif now - since >= self.settle:
                if path in writing and now - since < max(OPEN_LIMIT, self.settle):
                    if path not in self.held:
                        self.held.add(path)
                        self.on_held(path)
                    continue
                out.append(path)
                del self.entries[path]
                self.held.discard(path)
        return out

    def drop_under(self, root: str) -> None:
        for path in [p for p in self.entries if root_of(p, [root])]:
            del self.entries[path]
            self.held.discard(path)


_UNSEEN = object()


def signature(path: str) -> tuple | None:
    """(size, mtime_ns) of a file; None when it is gone; the error for a path that cannot be read."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return ("error", exc.errno)
    return stat.st_size, stat.st_mtime_ns


@dataclass
class _Root:
    path: str
    mount: bool = False  # a mount point when last seen: left empty by an unmount, it counts as vanished
    online: bool = False
    watch: ObservedWatch | None = None
    observer: BaseObserver | None = None


@dataclass
class Batch:
    present: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # pictures whose sidecar changed


class Watcher:
    """Watches ``paths`` (default: the library's folders) and indexes what settles; ``run`` until ``stop``."""

    def __init__(self, library, paths: list[str] | None = None, options: WatchOptions = WatchOptions(),
                 say: Say = print) -> None:
        self.library, self.options, self.say = library, options, say
        given = [os.path.abspath(os.path.expanduser(str(p))) for p in paths or library.roots()]
        self.paths = [p for p in dict.fromkeys(given) if root_of(p, [q for q in given if q != p]) is None]
        self.sink, self.polled = Sink(writes=TRACKS_WRITES), Sink(writes=False)  # polling knows no open files
        self.settling = Settling(options.settle, self._seen, self._held)
        self.roots: dict[str, _Root] = {}
        self._inotify: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._limits: list[tuple[str, OSError]] = []  # appended by watchdog's threads (list.append is atomic)
        self._retry_at = 0.0
        self.batches = self.indexed = self.removed = 0  # batches, files indexed (new, changed), removed: serve shows
        self.last_batch: float | None = None  # when the last one was committed (time.time())

    def folders(self) -> list[tuple[str, bool, bool]]:
        """(folder, online, polled) of each watched folder: polled where events cannot be trusted."""
        return [(root.path, root.online, root.observer is not None and root.observer is self._polling)
                for root in list(self.roots.values())]

    # -- the loop -------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set (or KeyboardInterrupt); what was committed stays, the rest is found by the
        next start's sweep."""
        with LimitWatch(lambda path, exc: self._limits.append((path, exc))):
            try:
                self._start()
                while not stop.wait(TICK):
                    self.step(time.monotonic())
            finally:
                for observer in (self._inotify, self._polling):
                    if observer is not None and observer.is_alive():
                        observer.stop()
                        observer.join(timeout=5)

    def step(self, now: float) -> None:
        """One look: take the events, follow the folders, index what settled."""
        paths, lost = self.sink.take()
        polled, _ = self.polled.take()
        for path in paths | polled:
            self._note(path, now)
        for path in lost:  # the kernel dropped events: compare the folder with the catalog
            if (root := root_of(path, self._online())) is not None:
                self._sweep(root, now)
        while self._limits:
            self._past_limit(*self._limits.pop(), now)
        self._follow_roots(now)
        if now >= self._retry_at and (ready := self.settling.ready(now, self.sink.writing())):
            self.sink.done(ready)
            self._index(ready, now)

    # -- folders --------------------------------------------------------------------------------------
    def _start(self) -> None:
        if not self.paths:
            raise FrameFindError("nothing to watch: give a folder (framefind watch ~/Pictures) or index one first")
        self._inotify = None if self.options.poll is not None else inotify_observer()
        if self._inotify is not None:
            self._inotify.start()  # first: then a watch that cannot be added fails in schedule(), where we catch it
        known = self.library.roots()
        for path in self.paths:
            if not os.path.exists(path) and root_of(path, known) is None:
                raise FrameFindError(f"{path}: no such file or directory")
            if os.path.exists(path) and not os.path.isdir(path):
                self.say(f"framefind: not watching {path}: a file, not a folder (framefind index updates it)")
                continue
            self.roots[path] = _Root(path)
        now = time.monotonic()
        for root in self.roots.values():
            if not self._is_online(root):
                self._say_offline(root)
                continue
            self._watch(root)
            if root_of(root.path, known) is None:  # a new folder: indexed now, as `framefind index` would
                self._run_index([root.path], f"framefind: first index of {root.path}")
            else:
                self._sweep(root.path, now)
        self.say(f"framefind: watching {len(self.roots)} folder(s) of {self.library.directory}; Ctrl-C stops")

    def _is_online(self, root: _Root) -> bool:
        """There, and not a mount point left empty: a folder watched as a mount point must still be one; a folder
        coming (back) online must not be found empty with files the library knows (checked only then: a listing
        every tick would be a network round trip on a share)."""
        if not online(root.path):
            return False
        if root.online:
            return not root.mount or os.path.ismount(root.path)
        return not emptied(self.library.catalog, root.path)

    def _say_offline(self, root: _Root) -> None:
        self.say(f"framefind: {root.path} is offline ({offline_reason(root.path)}); its files stay in the library")

    def _online(self) -> list[str]:
        return [root.path for root in self.roots.values() if root.online]

    def _watch(self, root: _Root, polled: bool = False) -> None:
        """Start watching a folder that is there: inotify, or polling where events cannot be trusted."""
        root.online, root.mount = True, os.path.ismount(root.path)
        fs = network_fs(root.path)
        if not polled and self._inotify is not None and fs is None:
            try:
                root.watch, root.observer = self._inotify.schedule(self.sink, root.path, recursive=True), self._inotify
                return
            except OSError as exc:
                if not is_limit(exc):
                    raise FrameFindError(f"{root.path}: cannot watch ({exc.strerror or exc})") from None
                self.say(f"framefind: {limit_line(exc, root.path)}")
        interval = self.options.poll if self.options.poll is not None else self.options.poll_interval
        if self._polling is None:
            self._polling = polling_observer(interval)
            self._polling.start()
        if fs is not None and self.options.poll is None:
            self.say(f"framefind: {root.path} is on a network file system ({fs}): polling it every {interval:g} s")
        root.watch, root.observer = self._polling.schedule(self.polled, root.path, recursive=True), self._polling

    def _unwatch(self, root: _Root) -> None:
        if root.watch is not None and root.observer is not None:
            with contextlib.suppress(KeyError):  # already gone with its emitter
                root.observer.unschedule(root.watch)
        root.watch = root.observer = None

    def _follow_roots(self, now: float) -> None:
        """A folder gone is offline (its pending paths dropped); one back, or whose watch ended, is swept."""
        for root in self.roots.values():
            there = self._is_online(root)
            if root.online and not there:
                self._unwatch(root)
                root.online = False
                self.settling.drop_under(root.path)
                self._say_offline(root)
            elif there and (not root.online or not self._watching(root)):
                back = not root.online
                self._unwatch(root)
                self._watch(root)
                self._sweep(root.path, now)
                if back:
                    self.say(f"framefind: {root.path} is back; looking for what changed meanwhile")

    def _watching(self, root: _Root) -> bool:
        emitters = root.observer.emitters if root.observer is not None else ()
        return any(emitter.watch == root.watch and emitter.is_alive() for emitter in emitters)

    def _past_limit(self, path: str, exc: OSError, now: float) -> None:
        """A folder created later could not get an inotify watch: its root is polled from now on."""
        root = self.roots.get(root_of(path, self._online()) or "")
        if root is None or root.observer is not self._inotify:
            return
        self.say(f"framefind: {limit_line(exc, root.path)}")
        self._unwatch(root)
        self._watch(root, polled=True)
        self._sweep(root.path, now)

    def _sweep(self, root: str, now: float) -> None:
        """Put what differs between the folder and the catalog to settle: new or changed files, files gone."""
        rows = self.library.catalog.files_under([root])
        try:
            for stat in scan([root]):
                row = rows.pop(stat.path, None)
                if row is None or (row.size, row.mtime_ns) != (stat.size, stat.mtime_ns):
                    self.settling.touch(stat.path, now)
        except FrameFindError:  # gone while being swept: the next tick finds it offline
            return
        for path in rows:
            self.settling.touch(path, now)

    # -- paths ----------------------------------------------------------------------------------------
    def _note(self, path: str, now: float) -> None:
        root = root_of(path, self._online())
        if root is None or not wanted(path, root):
            return
        if os.path.isdir(path):  # a folder created or moved in: its files (events for them may predate its watch)
            try:
                for stat in scan([path]):
                    self.settling.touch(stat.path, now)
            except FrameFindError:
                pass
        elif is_media_or_sidecar(path) or (not os.path.exists(path) and self.library.catalog.files_under([path])):
            self.settling.touch(path, now)  # the second case: a folder that vanished, with files the library knows

    def _seen(self, path: str, now_signature: tuple | None) -> None:
        if self.options.verbose:
            what = "gone" if now_signature is None else f"{now_signature[0]} bytes" if len(now_signature) == 2 \
                else "unreadable"
            self.say(f"framefind: seen {path} ({what})")

    def _held(self, path: str) -> None:
        if self.options.verbose:
            self.say(f"framefind: waiting for {path} to be closed (still open for writing)")

    def _batch(self, ready: list[str]) -> Batch:
        batch = Batch()
        online_roots = self._online()
        for path in ready:
            if root_of(path, online_roots) is None:
                continue
            if path.lower().endswith(SIDECAR):
                batch.words += described_by(path)
            elif os.path.isfile(path):
                batch.present.append(path)
            elif not os.path.exists(path) and self.library.catalog.files_under([path]):
                batch.vanished.append(path)
        batch.words = sorted(set(batch.words) - set(batch.present))
        return batch

    def _index(self, ready: list[str], now: float) -> None:
        batch = self._batch(ready)
        if not (batch.present or batch.vanished or batch.words):
            return
        rows = self.library.catalog.files_under(batch.present)
        new = [p for p in batch.present if p not in rows]
        changed = [p for p in batch.present if p in rows]
        if self.options.verbose:
            for label, paths in (("new", new), ("changed", changed), ("words", batch.words),
                                 ("removed", batch.vanished)):
                for path in paths:
                    self.say(f"  {label} {path}")
        started = time.perf_counter()
        report = self._run_index(batch.present + batch.words + batch.vanished, None)
        if report is None:  # failed as a whole: try these again later
            for path in ready:
                self.settling.touch(path, now)
            self._retry_at = now + RETRY
            return
        self.batches, self.indexed, self.removed = (self.batches + 1, self.indexed + len(new) + len(changed),
                                                    self.removed + report.removed)
        self.last_batch = time.time()
        line = f"indexed {len(new)} new, {len(changed)} changed, {report.removed} removed"
        line += f", words of {len(batch.words)} re-read (sidecars)" if batch.words else ""
        line += f", {report.failed} failed" if report.failed else ""
        line += f" ({report.linked} moved or copied: not re-embedded)" if report.linked else ""
        self.say(f"{line} in {time.perf_counter() - started:.1f} s")

    def _run_index(self, paths: list[str], first: str | None) -> IndexReport | None:
        """``Library.index`` over exact paths, waiting for another writer; None if it failed as a whole."""
        say = self.say
        events = IndexEvents(on_error=lambda path, why: say(f"framefind: skipped {path}: {why}"),
                             on_warning=lambda path, why: say(f"framefind: warning: {path}: {why}"),
                             on_wait=lambda pid: say(f"framefind: waiting for another index run (pid {pid}) to finish"))
        try:
            report = self.library.index(paths, events=events, wait=True, small_batch=first is None)
        except FrameFindError as exc:
            say(f"framefind: error: {exc}")
            return None
        if report.interrupted:
            raise KeyboardInterrupt  # Ctrl-C reached the indexer, which kept what it committed
        if first:
            say(f"{first}: {report.scanned} files, {report.embedded} embedded, {report.failed} failed "
                f"in {report.seconds:.1f} s")
        return report


def described_by(sidecar: str) -> list[str]:
    """The pictures a sidecar describes (NAME.EXT.xmp: NAME.EXT; NAME.xmp: every NAME.* media file), case aside."""
    folder, name = os.path.split(sidecar)
    stem = name[: -len(SIDECAR)].lower()
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names
                  if media_kind(n) and (n.lower() == stem or os.path.splitext(n)[0].lower() == stem))


class WatchThread:
    """The watcher beside a server (``serve --watch``): a thread started and stopped with the app."""

    def __init__(self, library, options: WatchOptions, say: Say) -> None:
        self.watcher = Watcher(library, None, options, say)
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.watcher.run(self._stop)
        except FrameFindError as exc:
            self.say(f"framefind: error: not watching: {exc}")
        except Exception as exc:  # noqa: BLE001 - the server goes on; the user hears why watching stopped
            self.say(f"framefind: watching stopped: {type(exc).__name__}: {exc}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight (the indexer commits batch by batch; a slower one resumes next time)."""
        self._stop.set()
        self._thread.join(timeout)
