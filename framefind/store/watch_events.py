"""Where a watched folder's changes come from (watchdog): inotify on local disks, polling where its events cannot
be trusted, and what is never watched at all.

- **Exclusions at the source.** Hidden files and folders are never indexed (media/files.py ``scan``), so they are
  never watched either: the inotify watch group skips hidden folders when it adds its watches (a ``.git`` or
  ``.thumbnails`` tree costs no watch of the user's limited supply), and polling never lists them.
- **Network file systems** (NFS, SMB/CIFS, sshfs, 9p, ...) do not report changes made by other machines through
  inotify: folders on them are polled.
- **The inotify limit.** Hitting ``fs.inotify.max_user_watches`` (or ``max_user_instances``) is one line naming the
  setting to raise, and that folder is polled instead; watching goes on.

Events are only hints of *which paths to look at*: the watcher stats them itself until they settle (store/watch.py),
so a lost or coalesced event costs nothing as long as one arrives per path, and a lost batch (the kernel's queue
overflowed) is answered by a sweep of the folder.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import watchdog.events
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver

from framefind.media.files import media_kind

SIDECAR = ".xmp"  # store/describe.py reads NAME.xmp and NAME.EXT.xmp beside a picture
# File systems whose changes inotify does not see (made by another machine, or by the host of a VM).
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "virtiofs", "afs",
                        "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "lustre", "davfs", "fuse.davfs2",
                        "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "ncpfs", "coda"})
# watchdog 7 reports a change of attributes as its own event: before, a chmod after a copy's close read as a write
# (the file would wait OPEN_LIMIT for a close that never comes), so open files are tracked only from 7 on.
TRACKS_WRITES = hasattr(watchdog.events, "FileAttribEvent")
LIMITS = {errno.ENOSPC: ("watch", "max_user_watches", 524288), errno.EMFILE: ("instance", "max_user_instances", 1024)}


def wanted(path: str, root: str) -> bool:
    """Whether a path is ``root`` or below it in no hidden folder (what ``scan`` reads; media/files.py)."""
    relative = os.path.relpath(path, root)
    return not relative.startswith("..") and not _hidden(relative)


def is_media_or_sidecar(path: str) -> bool:
    return media_kind(path) is not None or path.lower().endswith(SIDECAR)


def network_fs(path: str, mounts: str = "/proc/mounts") -> str | None:
    """The file system type of ``path`` when it is a network one (its mount is the longest prefix), else None."""
    try:
        with open(mounts) as fh:
            table = [line.split()[1:3] for line in fh if len(line.split()) >= 3]
    except OSError:
        return None
    real = os.path.realpath(path)
    best, kind = "", ""
    for point, fstype in table:
        point = point.replace("\\040", " ")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fstype
    return kind if kind in NETWORK_FS else None


def limit_line(exc: OSError, path: str) -> str:
    """The one line for an exhausted inotify limit: which setting, its value, how to raise it."""
    what, setting, suggested = LIMITS.get(exc.errno, LIMITS[errno.ENOSPC])
    try:
        current = Path(f"/proc/sys/fs/inotify/{setting}").read_text().strip()
    except OSError:
        current = "?"
    return (f"inotify {what} limit reached (fs.inotify.{setting}={current}); raise it with: sudo sysctl "
            f"fs.inotify.{setting}={suggested} — watching {path} by polling instead")


def is_limit(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in LIMITS


class Sink(FileSystemEventHandler):
    """Collects the paths that events name, once each (a set: a 10 MB copy's 80 modify events are one entry),
    from the observers' threads; ``take`` hands them over. ``lost`` collects roots whose events were lost.

    ``writes`` (inotify): files written to and not closed since (``writing``), so that a copy that stalls is not
    read half; entries leave on close, deletion or ``done``. Polling knows nothing of open files."""

    def __init__(self, writes: bool) -> None:
        self.writes = writes
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._lost: set[str] = set()
        self._writing: set[str] = set()

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind == "events_lost":
            with self._lock:
                self._lost.add(os.fsdecode(event.src_path))
            return
        if kind in ("opened", "closed_no_write") or (event.is_directory and kind in ("modified", "attrib")):
            return  # a folder's own time changes with every file in it: the files say more
        paths = [os.fsdecode(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
        with self._lock:
            self._paths.update(paths)
            if self.writes and not event.is_directory:
                if kind == "modified":
                    self._writing.add(paths[0])
                elif kind in ("closed", "deleted", "moved"):
                    self._writing.discard(paths[0])

    def take(self) -> tuple[set[str], set[str]]:
        """(paths named since the last call, roots whose events were lost)."""
        with self._lock:
            paths, lost = self._paths, self._lost
            self._paths, self._lost = set(), set()
        return paths, lost

    def writing(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._writing)

    def done(self, paths: list[str]) -> None:
        """Forget that these were open: they are indexed now (or waited ``OPEN_LIMIT`` for a close)."""
        with self._lock:
            self._writing.difference_update(paths)


def _visible(path: str | None) -> Iterator[os.DirEntry]:
    """``os.scandir`` less hidden entries: polling never lists a hidden folder."""
    with os.scandir(path) as entries:
        yield from [entry for entry in entries if not entry.name.startswith(".")]


def polling_observer(interval: float) -> BaseObserver:
    from watchdog.observers.polling import PollingObserverVFS

    return PollingObserverVFS(os.stat, _visible, polling_interval=interval)


def inotify_observer() -> BaseObserver | None:
    """An inotify observer whose watch groups skip hidden folders (watchdog 7's watch groups; an older watchdog
    watches them too and their events are dropped); elsewhere the platform's own (FSEvents, kqueue, Windows'),
    None where there is none (then every folder is polled)."""
    if not sys.platform.startswith("linux"):
        from watchdog.observers import Observer

        return None if Observer.__name__ == "PollingObserver" else Observer()
    try:
        from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
    except (ImportError, OSError):  # a libc without inotify
        return None
    observer = InotifyObserver()
    try:
        from watchdog.observers.inotify import InotifyWatchGroup
    except ImportError:
        return observer
    if not (hasattr(InotifyWatchGroup, "_add_callback") and "_emitter_class" in vars(observer)):
        return observer

    class VisibleGroup(InotifyWatchGroup):
        def _add_callback(self, path: bytes) -> None:
            if not _hidden(os.fsdecode(os.path.relpath(path, self.path))):
                super()._add_callback(path)

    class VisibleEmitter(InotifyEmitter):
        def on_thread_start(self) -> None:
            self._inotify = VisibleGroup(self._inotify_fd, os.fsencode(self.watch.path),
                                         is_recursive=self.watch.is_recursive,
                                         event_mask=self.get_event_mask_from_filter(),
                                         follow_symlink=self.watch.follow_symlink)

    observer._emitter_class = VisibleEmitter
    return observer


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in Path(relative).parts)


class LimitWatch(logging.Handler):
    """watchdog says only in its log that a folder created later could not be watched (the inotify limit):
    hear it, so that root is polled from then on; its other records are dropped (the watcher speaks for itself)."""

    def __init__(self, on_limit: Callable[[str, OSError], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_limit = on_limit

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        failure = next((arg for arg in args if is_limit(arg)), None)
        if failure is not None and args:
            self.on_limit(os.fsdecode(args[0]), failure)

    def __enter__(self) -> LimitWatch:
        log = logging.getLogger("watchdog")
        log.addHandler(self)
        self._propagate, log.propagate = log.propagate, False
        return self

    def __exit__(self, *exc) -> None:
        log = logging.getLogger("watchdog")
        log.removeHandler(self)
        log.propagate = self._propagate
