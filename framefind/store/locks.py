"""One writer per library: an advisory ``flock`` that the kernel releases when the holder dies.

Readers never take it (SQLite WAL and the atomically replaced index files keep them consistent);
``framefind index`` and anything else that changes vectors or index files holds it for its whole run,
so a second indexer waits or refuses in one line instead of interleaving batches with the first.
A ``kill -9`` releases the lock with the process: there is no stale lock file to clean up.
The holder writes its pid and role into the file: a background index build (store/rebuild.py) holds the
lock only to install its file, for seconds, so an indexer waits for that instead of refusing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from framefind.errors import FrameFindError

LOCK_NAME = "writer.lock"
INSTALL = "install"  # the role of a background build putting its file in place


class WriterLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fh = None

    def acquire(self, wait: bool = False, on_wait: Callable[[int | None], None] = lambda pid: None,
                poll: float = 0.2, role: str = "index") -> WriterLock:
        """Take the lock; if another process holds it, wait (``wait``, or it is installing a background
        build) or raise a one-line error."""
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is held
        told = False
        while not try_flock(fh):
            pid, holder_role = _holder(self.path)
            if not wait and holder_role != INSTALL:
                fh.close()
                who = f"(pid {pid}) " if pid else ""
                raise FrameFindError(f"{self.path.parent}: another framefind index {who}is updating this library; "
                                     "wait for it to finish, or run again with --wait")
            if not told:
                on_wait(pid)
                told = True
            time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {role}")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> WriterLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def try_flock(fh) -> bool:
    """Take an exclusive ``flock`` on the open file ``fh`` if no one holds it (never waits)."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> tuple[int | None, str | None]:
    """(pid, role) written by the holder; (None, None) when unreadable (e.g. between truncate and write)."""
    try:
        pid, _, role = path.read_text().strip().partition(" ")
    except OSError:
        return None, None
    return (int(pid), role or None) if pid.isdigit() else (None, None)
