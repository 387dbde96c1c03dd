"""Which backend holds a library's vector indexes, and moving them: FAISS files <-> Milvus.

The catalog holds every vector, so a migration is the writer's own sync run against the target, for
every model the library holds: idempotent (run it twice: the second copies nothing) and resumable
(killed half-way, the next run inserts only what is missing). Each space is then verified (the
target holds exactly the catalog's count) and only then does the library switch: searches use the
old backend until the new one is complete. The old indexes are left as they are (FAISS files are a
cache; a Milvus collection left behind is brought up to date if the library ever moves back).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog
from framefind.store.remote import library_id
from framefind.store.vectors.milvus import KINDS as MILVUS_KINDS
from framefind.store.vectors.milvus_connection import client, normalise_uri
from framefind.store.vectorstore import vector_store

BACKEND_NAMES = ("faiss", "milvus")
LITE_FILE = "milvus.db"  # ``--backend milvus`` without ``--uri``: a Milvus Lite file inside the library


@dataclass
class Migration:
    """What a migration moved: (model id, space, vectors) per index, and the backend now in use."""

    backend: dict
    spaces: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def vectors(self) -> int:
        return sum(n for _, _, n in self.spaces)


def backend_of(catalog: Catalog) -> dict:
    """The backend searches use: {"name": "faiss"} or {"name": "milvus", "uri": ...}."""
    raw = catalog.meta("backend")
    return json.loads(raw) if raw else {"name": "faiss"}


def backend_label(backend: dict) -> str:
    """How a backend record is named to the user ("faiss", "milvus at URI"): messages and ``info``."""
    return backend["name"] if backend["name"] == "faiss" else f"milvus at {backend['uri']}"


def parse_backend(name: str | None, uri: str | None, directory: Path) -> dict:
    """``--backend`` / ``--uri`` (or ``migrate --to``: "faiss", "milvus" or a URI) -> a backend record.
    A URI alone means Milvus; Milvus without one means a Milvus Lite file inside the library."""
    if name is None:
        name = "milvus" if uri else "faiss"
    if name not in BACKEND_NAMES:
        raise FrameFindError(f"unknown backend {name!r} (choose one of: {', '.join(BACKEND_NAMES)})")
    if name == "faiss":
        if uri:
            raise FrameFindError(f"--uri {uri}: FAISS keeps its index files in the library; a URI is for milvus")
        return {"name": "faiss"}
    return {"name": "milvus", "uri": normalise_uri(uri or str(directory / LITE_FILE))}


def parse_destination(to: str, directory: Path) -> dict:
    """``migrate --to``: "faiss", "milvus" (a Milvus Lite file in the library) or a Milvus URI."""
    return parse_backend(to, None, directory) if to in BACKEND_NAMES else parse_backend("milvus", to, directory)


def check_backend(backend: dict, index_type: str, connect: bool = True) -> None:
    """Fail now, in one line, on what would fail later: an index type the backend lacks, and (``connect``)
    a server that cannot be reached, a bad URI, pymilvus missing, a Lite file another process holds."""
    if backend["name"] != "milvus":
        return
    if index_type not in ("auto", *MILVUS_KINDS):
        raise FrameFindError(f"index type {index_type!r} is not offered by the milvus backend (choose one of: "
                             f"auto, {', '.join(MILVUS_KINDS)}; pin one with --index-type)")
    if connect:
        client(backend["uri"])


def model_spaces(catalog: Catalog, model_id: str) -> dict[str, tuple[int, int]]:
    """The spaces a model has vectors in, with their dimension and number of vectors, read from the vectors
    themselves (a model the library holds need not be loadable: its vectors still move)."""
    rows = catalog.db.execute("SELECT v.space, length(v.vec), COUNT(*) FROM items i JOIN vectors v "
                              "ON v.item_id = i.id WHERE i.model = ? GROUP BY v.space", (model_id,)).fetchall()
    return {space: (size // 2, count) for space, size, count in rows}  # float16


def migrate(catalog: Catalog, index_dir: Path, target: dict, index_type: str,
            progress: Callable[[int, int], None] = lambda done, total: None) -> Migration:
    """Write every model's vectors to ``target``, verify them, then make it the library's backend.
    The caller holds the writer lock."""
    check_backend(target, index_type)
    if target["name"] == "milvus":
        library_id(catalog)  # made now, not by a reader
    plan = [(row.id, model_spaces(catalog, row.id)) for row, _ in catalog.models()]
    total, done = sum(count for _, spaces in plan for _, count in spaces.values()), 0
    progress(0, total)
    moved = Migration(target)
    for model_id, spaces in plan:
        dims = {space: dim for space, (dim, _) in spaces.items()}
        store = vector_store(index_dir, catalog, model_id, dims, index_type, target)
        for space, (_, count) in spaces.items():
            try:  # write() checks that the target holds every vector of the catalog
                store.write(space, progress=lambda n, before=done: progress(before + n, total))
            except FrameFindError as exc:
                raise FrameFindError(f"{exc}; the library still uses {backend_label(backend_of(catalog))}") from None
            done += count
            progress(done, total)
            moved.spaces.append((model_id, space, count))
    catalog.set_meta("backend", json.dumps(target))
    return moved
