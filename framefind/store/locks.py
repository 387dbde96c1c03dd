"""One writer per library: an advisory ``flock`` that the kernel releases when the holder dies.

Readers never take it (SQLite WAL and the atomically replaced index files keep them consistent);
``framefind index`` and anything else that changes vectors or index files holds it for its whole run,
so a second indexer waits or refuses in one line instead of interleaving batches with the first.
A ``kill -9`` releases the lock with the process: there is no stale lock file to clean up.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from framefind.errors import FrameFindError

LOCK_NAME = "writer.lock"


class WriterLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fh = None

    def acquire(self, wait: bool = False, on_wait: Callable[[int | None], None] = lambda pid: None,
                poll: float = 0.2) -> WriterLock:
        """Take the lock; if another process holds it, wait (``wait``) or raise a one-line error."""
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is held
        told = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _holder(self.path)
                if not wait:
                    fh.close()
                    who = f"(pid {pid}) " if pid else ""
                    raise FrameFindError(f"{self.path.parent}: another framefind index {who}is updating this library; "
                                         "wait for it to finish, or run again with --wait") from None
                if not told:
                    on_wait(pid)
                    told = True
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
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


def _holder(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
