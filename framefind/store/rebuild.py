"""Big index rebuilds in the background: ``framefind index`` returns, searches go on.

When a library grows past a size where another index type is due (flat -> IVF, or an IVF trained for
far fewer vectors), or the user pins another type, training at 100k-1M vectors takes 10 s to minutes
(docs/benchmarks.md, "Index at scale"). The writer (``IndexFileStore.write(defer=True)``) then brings the
current file up to date instead, and ``start`` launches this module as a detached process:

1. ``start`` takes ``rebuild.lock`` (one background build per library; a second start is a no-op) and
   hands it to the process with the spaces the writer deferred (no need to find them again);
2. for each of them, builds the new type from the catalog without any writer lock,
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

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from framefind.store.locks import INSTALL, WriterLock, try_flock

if TYPE_CHECKING:
    from framefind.store.indexfiles import IndexFileStore
    from framefind.store.vectorstore import VectorStore

LOCK_NAME = "rebuild.lock"
LOG_NAME = "rebuild.log"


def running(directory: Path) -> int | None:
    """The pid of this library's background build, or None when none runs. Asked on every status poll:
    the lock is probed only while the recorded process is alive, so a finished build costs one read and
    a probe never makes a ``start`` at the same moment fail."""
    path = directory / LOCK_NAME
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    pid = int(text) if text.isdigit() else None
    if pid is None or not _alive(pid):
        return None
    with open(path) as fh:
        return None if try_flock(fh) else pid  # alive but not building: the pid was reused


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def start(directory: Path, model_id: str, dims: dict[str, int]) -> int | None:
    """Launch the background build of ``model_id``'s ``dims`` spaces ({space: dimension}); its pid, or None
    if one runs already.

    The lock is taken here and handed to the child as an open file (a ``flock`` belongs to the open file,
    which the child inherits), so the build counts as running from this moment, not from its start-up.
    """
    fh = open(directory / LOCK_NAME, "a+")  # noqa: SIM115 - handed over to the child, then closed here
    try:
        if not try_flock(fh):
            return None
        code = "import sys; from framefind.store.rebuild import main; main(sys.argv[1:])"
        args = [str(directory), model_id, json.dumps(dims), str(fh.fileno())]
        with open(directory / LOG_NAME, "a") as log:
            process = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log, pass_fds=[fh.fileno()], start_new_session=True)
        fh.seek(0)
        fh.truncate()
        fh.write(str(process.pid))
        fh.flush()
        return process.pid
    finally:
        fh.close()  # the child's copy keeps the lock


def write_index_files(store: VectorStore, spaces: list[str], directory: Path,
                      on_rebuild: Callable[[str, str, int], None], lag: int = 0) -> int | None:
    """The writer's last step of an index run: every space's index written (a big rebuild deferred to a
    background build, started here; ``lag``: see ``VectorStore.write``); the pid of that build, if one was
    started."""
    for space in spaces:
        store.write(space, on_rebuild=lambda kind, n, space=space: on_rebuild(space, kind, n), defer=True, lag=lag)
    if not store.deferred:
        return None
    return start(directory, store.model_id, {space: store.dims[space] for space in sorted(store.deferred)})


def rebuild(directory: Path, model_id: str, dims: dict[str, int]) -> None:
    """Build and install each space of ``dims`` in the type its size calls for (the build lock held)."""
    from framefind.store.catalog import Catalog
    from framefind.store.indexfiles import IndexFileStore

    catalog = Catalog(directory, create=False)
    try:
        store = IndexFileStore(directory / "index", catalog, model_id, dims, catalog.meta("index_type") or "auto")
        for space in dims:
            _rebuild_space(store, directory, space)
    finally:
        catalog.close()


def _rebuild_space(store: IndexFileStore, directory: Path, space: str) -> None:
    with store.catalog.snapshot():
        wanted = store.catalog.vector_ids(store.model_id, space)
    index = store.build(space, wanted, lambda kind, n: print(f"building {space}: {kind}, {n} vectors", flush=True))
    with WriterLock(directory).acquire(wait=True, role=INSTALL):
        path = store.install(space, index)
    print(f"installed {path}" if path else f"{space}: could not catch up; the next index run rebuilds", flush=True)


def main(argv: list[str]) -> None:
    """The background process: ``DIRECTORY MODEL_ID DIMS_JSON LOCK_FD`` (the build lock, held, from ``start``)."""
    import resource
    import time

    directory, model_id, dims, fd = argv
    started = time.perf_counter()
    with os.fdopen(int(fd), "a"):  # the build lock: released when this process ends, whatever the ending
        rebuild(Path(directory), model_id, json.loads(dims))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"done in {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MB", flush=True)
