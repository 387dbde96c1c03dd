"""Big index rebuilds in the background: ``framefind index`` returns, searches go on.

When a library grows past a size where another index type is due (flat -> IVF, or an IVF trained for
far fewer vectors), or the user pins another type, training at 100k-1M vectors takes 10 s to minutes
(docs/benchmarks.md, "Index at scale"). The writer (``VectorStore.write(defer=True)``) then brings the
current file up to date instead, and ``start`` launches this module as a detached process:

1. it takes ``rebuild.lock`` (one background build per library; a second start is a no-op);
2. for each space that needs it, builds the new type from the catalog without any writer lock,
   streaming the vectors in chunks (memory: the new index and one chunk);
3. takes the writer lock in the "install" role, applies what indexers committed meanwhile (id set
   difference) and writes the file atomically: seconds. An indexer that finds the lock held for an
   install waits instead of refusing.

Readers switch to the new file when it appears (newest file wins); until then they search the current
one plus the exact delta, so results stay complete throughout. A killed build leaves only a temporary
file, removed by the next writer, and the next ``framefind index`` starts the build again. Its output
goes to ``rebuild.log`` in the library.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from framefind.store.locks import INSTALL, WriterLock

LOCK_NAME = "rebuild.lock"
LOG_NAME = "rebuild.log"


@contextmanager
def _build_lock(directory: Path) -> Iterator[bool]:
    """Hold ``rebuild.lock`` if free (writing this pid into it): yields False when another build holds it."""
    with open(directory / LOCK_NAME, "a+") as fh:
        if not _try_lock(fh):
            yield False
            return
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _try_lock(fh) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def running(directory: Path) -> int | None:
    """The pid of this library's background build, or None when none runs."""
    path = directory / LOCK_NAME
    if not path.exists():
        return None
    with open(path) as fh:
        if _try_lock(fh):  # free: nobody builds (released when the file closes)
            return None
        text = fh.read().strip()
    return int(text) if text.isdigit() else -1


def start(directory: Path, model_id: str) -> int | None:
    """Launch the background build of ``model_id``'s index files; its pid, or None if one runs already.

    The lock is taken here and handed to the child as an open file (a ``flock`` belongs to the open file,
    which the child inherits), so the build counts as running from this moment, not from its start-up.
    """
    fh = open(directory / LOCK_NAME, "a+")  # noqa: SIM115 - handed over to the child, then closed here
    try:
        if not _try_lock(fh):
            return None
        code = "import sys; from framefind.store.rebuild import main; main(sys.argv[1:])"
        with open(directory / LOG_NAME, "a") as log:
            process = subprocess.Popen([sys.executable, "-c", code, str(directory), model_id, str(fh.fileno())],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=[fh.fileno()],
                                       start_new_session=True)
        fh.seek(0)
        fh.truncate()
        fh.write(str(process.pid))
        fh.flush()
        return process.pid
    finally:
        fh.close()  # the child's copy keeps the lock


def write_index_files(store, spaces: list[str], directory: Path,
                      on_rebuild: Callable[[str, str, int], None]) -> int | None:
    """The writer's last step of an index run: every space's index written (a big rebuild deferred to a
    background build, started here); the pid of that build, if one was started."""
    for space in spaces:
        store.write(space, on_rebuild=lambda kind, n, space=space: on_rebuild(space, kind, n), defer=True)
    deferred = getattr(store, "deferred", set())  # index files only: Milvus builds its own indexes
    return start(directory, store.model_id) if deferred else None


def rebuild(directory: Path, model_id: str, held: bool = False) -> list[str]:
    """Rebuild each of ``model_id``'s spaces whose file is due another type; the spaces installed.
    ``held``: the caller holds the build lock already (a process launched by ``start``)."""
    from framefind.store.catalog import Catalog
    from framefind.store.indexfiles import VectorStore

    with nullcontext(True) if held else _build_lock(directory) as free:
        if not free:
            return []
        catalog = Catalog(directory, create=False)
        try:
            store = VectorStore(directory / "index", catalog, model_id, {}, catalog.meta("index_type") or "auto")
            store.dims.update(store.due())
            return [space for space in sorted(store.dims) if _rebuild_space(store, directory, space)]
        finally:
            catalog.close()


def _rebuild_space(store, directory: Path, space: str) -> bool:
    with store.catalog.snapshot():
        wanted = store.catalog.vector_ids(store.model_id, space)
    index = store.build(space, wanted, lambda kind, n: print(f"building {space}: {kind}, {n} vectors", flush=True))
    with WriterLock(directory).acquire(wait=True, role=INSTALL):
        path = store.install(space, index)
    print(f"installed {path}" if path else f"{space}: could not catch up; the next index run rebuilds", flush=True)
    return path is not None


def main(argv: list[str]) -> None:
    """The background process: ``DIRECTORY MODEL_ID LOCK_FD`` (the build lock, held, from ``start``)."""
    directory, model_id, fd = argv
    import resource
    import time

    started = time.perf_counter()
    with os.fdopen(int(fd), "a") as lock:  # released when this process ends, whatever the ending
        lock.flush()
        rebuild(Path(directory), model_id, held=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"done in {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MB", flush=True)
