"""Indexing on a Ray cluster (``framefind index PATHS --ray ADDRESS``): workers decode and embed, the
coordinator commits.

The coordinator (this process, holding the library's writer lock) scans and plans as a plain index does, then
sends the files to process to the cluster in small tasks. A task hashes, decodes and embeds its files with the
usual functions (``indexer._prepared``, the model's ``embed_images``) and returns them as ``Prepared`` records
that carry vectors, never pixels; the coordinator feeds them to the same ``_BatchWriter`` a plain index uses, so
the catalog stays the one source of truth, written by one process, one transaction per batch, and the index
files (or Milvus) are brought up to date afterwards exactly as after a plain index.

Why tasks, not actors: Ray re-runs a task whose worker died (``max_retries``) and hands each task's result to
the coordinator once, so a worker killed mid-run costs only its task's work, done again elsewhere; an actor's
lost calls would need that bookkeeping here. The model is still loaded once per worker process: it is kept in
a module global of the worker (``_MODELS``), which Ray reuses from task to task.

Nothing is committed twice: a task's result reaches the coordinator once, however often it ran; files of one size
(so all copies of one content) go to one task, which decodes each content once; and a content that still arrives
twice (copies in two tasks, when more files than a task holds share one size) is linked the second time, not
added (``_BatchWriter.add``).

The speech, on-screen text and faces passes run alike (``ray_reader``): the workers read the files, the
coordinator embeds the texts, commits one content per transaction and groups the faces into people.

Files are read on the workers by the path the coordinator scanned, so every node must mount the library's folders
at the same place; a node that cannot read a file reports it in one line naming the node, and the run goes on.
Fixed cost: about 3-4 s to the first result on this 2-core machine (worker processes, imports, the model), so a
run of a few hundred images gains nothing from a cluster; benchmarks/bench_ray.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from framefind.errors import FrameFindError
from framefind.media.files import FileStat
from framefind.models.base import Model
from framefind.store.catalog import Catalog
from framefind.store.reuse import embedded_scans

if TYPE_CHECKING:
    from framefind.store.indexer import IndexReport, Prepared

TASK_FILES = 8  # files per task: small enough to balance the nodes and to lose little to a killed worker
AHEAD = 2  # tasks in flight per CPU slot of the cluster: a slot never waits for the coordinator
RETRIES = 3  # re-runs of a task whose worker died (Ray's default for tasks)
CONNECT_TIMEOUT = 10.0  # seconds for the head to accept a connection
MISSING = "--ray needs the ray extra: pip install 'framefind[ray]'"

_MODELS: dict[str, Model] = {}  # in a worker: the model of each id, loaded on the worker's first task
_SETS: dict[str, tuple] = {}  # in a worker: the known hashes / scans of a run, read once per worker
_HOLDING: list[bool] = []  # on the coordinator: inside one_connection (a run keeps its first connection)


def ray_address(value: str) -> str:
    """The cluster to use for ``--ray VALUE`` (``auto``: ``RAY_ADDRESS``); one line if Ray is not installed,
    checked before anything is planned or embedded."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise FrameFindError(MISSING) from None
    if value == "auto":
        value = os.environ.get("RAY_ADDRESS", "")
        if not value:
            raise FrameFindError("--ray auto: RAY_ADDRESS is not set (or give the head's address: --ray HOST:PORT)")
    return value


def index_on_ray(address: str, catalog: Catalog, model: Model, todo: list[FileStat], report: IndexReport,
                 known: set[str], on_error: Callable[[str, str], None], on_warning: Callable[[str, str], None],
                 progress: Callable[[float, int], None]) -> None:
    """Decode and embed ``todo`` on the cluster at ``address``, committing the results here as they come in;
    fills ``report`` as ``indexer.process_files`` does. Uses the process's Ray connection if it has one."""
    if not todo:  # nothing new: the cluster is not even joined
        return
    with joined(address) as ray:
        report.workers, report.on_ray = max(1, int(ray.cluster_resources().get("CPU", 1))), True
        _run(ray, catalog, model, todo, report, known, on_error, on_warning, progress)


@contextlib.contextmanager
def joined(address: str) -> Iterator[Any]:
    """This process joined to the cluster at ``address`` for the block (the ``ray`` module); a process joined
    already keeps its connection, and inside ``one_connection`` the first join lasts until the run ends."""
    import ray

    connected_here = not ray.is_initialized()
    if connected_here:
        _connect(ray, address)
    try:
        yield ray
    finally:
        if connected_here and not _HOLDING:
            ray.shutdown()


@contextlib.contextmanager
def one_connection() -> Iterator[None]:
    """An index run (``Library.index``): the pictures and every pass share one connection, made when first needed
    (a run with nothing to embed or read never joins: ~1-2 s saved) and closed at the end."""
    import ray

    joined_before = ray.is_initialized()
    _HOLDING.append(True)
    try:
        yield
    finally:
        _HOLDING.pop()
        if not joined_before and not _HOLDING and ray.is_initialized():
            ray.shutdown()


def _connect(ray: Any, address: str) -> None:
    """Join the cluster; an address where nothing answers is one line at once (Ray itself retries for minutes,
    logging from C++ all the while)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if host and port.isdigit():
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise FrameFindError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})") from None
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)  # warnings: not ours to act on
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameFindError(f"--ray {address}: cannot join the cluster ({first})") from None


def _run(ray: Any, catalog: Catalog, model: Model, todo: list[FileStat], report: IndexReport, known: set[str],
         on_error: Callable[[str, str], None], on_warning: Callable[[str, str], None],
         progress: Callable[[float, int], None]) -> None:
    from framefind.store.indexer import _BatchWriter

    writer = _BatchWriter(catalog, model, report, known, on_error, on_warning)
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(embed_files)
    spec = (model.name, model.options(), model.id)
    sets = [ray.put(frozenset(known)), ray.put(frozenset(embedded_scans(catalog, model.id)))]  # in a list: by ref
    chunks = iter(split_tasks(todo))
    pending: list = []
    done = 0
    progress(done, len(todo))  # the total at once: the first results take the cluster's ~2 s start
    try:
        while True:
            while len(pending) < AHEAD * report.workers and (chunk := next(chunks, None)) is not None:
                pending.append(task.remote(spec, chunk, sets))
            if not pending:
                break
            ready, pending = ray.wait(pending, num_returns=1)
            for item in _result(ray, ready[0]):
                writer.add(item)
                done += 1
            progress(done, len(todo))
        writer.flush()
    finally:  # Ctrl-C or an error: what was committed stays; the rest is not worked on for nothing
        for ref in pending:
            ray.cancel(ref, force=True)


def split_tasks(todo: list[FileStat], size: int | None = None) -> Iterator[list[FileStat]]:
    """``todo`` in tasks of about ``size`` files, in scan order; files of one size stay in one task (copies of a
    content have one size, so each content is decoded once) unless there are more than ``size`` of them (pictures
    of one format and dimensions stored uncompressed: a copy among them may then be decoded twice, and is
    committed once, ``_BatchWriter.add``); a video ends its task (it is a task's worth)."""
    size = size or TASK_FILES
    groups: dict[int, list[FileStat]] = {}
    for stat in todo:
        groups.setdefault(stat.size, []).append(stat)
    chunk: list[FileStat] = []
    for group in groups.values():
        for start in range(0, len(group), size):
            chunk.extend(group[start : start + size])
            if len(chunk) >= size or group[0].kind == "video":
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _result(ray: Any, ref: Any) -> list[Prepared]:
    """A task's files, or one line for what stops the run (a model that fails on a worker, a task whose
    workers died ``RETRIES`` + 1 times)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise FrameFindError(f"ray worker: {_first_line(cause)}") from None
    except ray.exceptions.RayError as exc:
        raise FrameFindError(f"ray: {_first_line(exc)}; run framefind index again to finish") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def ray_reader(address: str) -> Callable[[str, list[tuple[str, str, str]]], Iterator[tuple[list, str | None]]]:
    """A ``read`` for ``enrich`` and ``find_faces``: the speech, on-screen text and faces passes read their files
    on the cluster (in tasks of ``TASK_FILES`` contents; Whisper, the OCR engine and dlib load once per worker);
    what they find comes back in order and the coordinator embeds and commits it, one content per transaction as
    before."""

    def read(name: str, todo: list[tuple[str, str, str]]) -> Iterator[tuple[list, str | None]]:
        if not todo:
            return
        with joined(address) as ray:
            task = ray.remote(num_cpus=1, max_retries=RETRIES)(read_files)
            chunks = iter([todo[i : i + TASK_FILES] for i in range(0, len(todo), TASK_FILES)])
            pending: list = []
            try:
                ahead = AHEAD * max(1, int(ray.cluster_resources().get("CPU", 1)))
                while True:
                    while len(pending) < ahead and (chunk := next(chunks, None)) is not None:
                        pending.append(task.remote(name, chunk))
                    if not pending:
                        break
                    yield from _result(ray, pending.pop(0))  # in order: enrich pairs them with its rows
            finally:
                for ref in pending:
                    ray.cancel(ref, force=True)

    return read


# -- on the workers ------------------------------------------------------------------------------------------

def read_files(name: str, rows: list[tuple[str, str, str]]) -> list[tuple[list, str | None]]:
    """A task: what pass ``name`` (speech, ocr, faces) finds in each (content, kind, path) row; a row whose file
    cannot be read here says so in its note, naming the node."""
    import ray

    from framefind.store.enrich import RUNNERS
    from framefind.store.faces_pass import _faces_of

    out = []
    for _, kind, path in rows:
        spans, note = (_faces_of if name == "faces" else RUNNERS[name])(path, kind, lambda: False)
        if note and not os.access(path, os.R_OK):
            note = f"{note} on node {ray.util.get_node_ip_address()}"
        out.append((spans, note))
    return out


def embed_files(spec: tuple[str, dict, str], files: list[FileStat], sets: list) -> list[Prepared]:
    """A task: hash, decode and embed ``files`` (``indexer._prepared``, in threads), returning them with vectors
    and no pixels. ``sets``: references to the content hashes and scan digests the library has vectors for."""
    import ray

    from framefind.store.indexer import _prepared

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
    model = _model(spec, cpus)
    known, scans = _read_once(ray, sets)
    out = list(_prepared(files, known, model, None, cpus + 1, scans))
    _embed(out, model)
    node = ray.util.get_node_ip_address()
    for p in out:
        if p.error and p.hash is None and p.stat.size:  # it could not be read here: say where
            p.error = f"{p.error} on node {node}"
    return out


def _model(spec: tuple[str, dict, str], cpus: int) -> Model:
    """The run's model, loaded once per worker process (and its sessions warmed before decode threads race)."""
    name, options, model_id = spec
    if model_id not in _MODELS:
        from framefind.models import base

        base.ONNX_THREADS = cpus
        model = base.load_model(name, options)
        if model.id != model_id:
            raise FrameFindError(f"model {name} has id {model.id} on this node, not {model_id}")
        model.embed_images(np.zeros((1, model.image_size, model.image_size, 3), np.uint8))
        _MODELS[model_id] = model
    return _MODELS[model_id]


def _read_once(ray: Any, sets: list) -> tuple[frozenset, frozenset]:
    """The run's known hashes and scan digests, fetched on a worker's first task of the run (they can be big)."""
    key = ":".join(ref.hex() for ref in sets)
    if key not in _SETS:
        _SETS.clear()  # a new run: the last one's sets are stale
        _SETS[key] = tuple(ray.get(sets))
    return _SETS[key]


def _embed(prepared: list[Prepared], model: Model) -> None:
    """One model call for the task's decoded pictures; each file keeps its rows as vectors, its pixels go."""
    decoded = [p for p in prepared if p.pixels is not None]
    if not decoded:
        return
    vectors = model.embed_images(np.concatenate([p.pixels for p in decoded]))
    row = 0
    for p in decoded:
        n = len(p.pixels)
        p.vectors = {space: np.ascontiguousarray(v[row : row + n]) for space, v in vectors.items()}
        p.pixels = None
        row += n
