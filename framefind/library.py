"""``Library``: the Python API. One directory holds the catalog and the vector index files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from framefind.config import DEFAULT_MODEL, default_library_dir
from framefind.errors import FrameFindError, MediaError
from framefind.models.base import Model, load_model
from framefind.search.engine import Result, query_vector, run_query, to_result
from framefind.search.moments import rank_videos, video_query_vectors
from framefind.store.catalog import DB_NAME, Catalog
from framefind.store.indexer import IndexReport, index_files
from framefind.store.indexfiles import INDEX_KINDS, VectorStore


class Library:
    """A searchable media library.

    >>> lib = Library.open("~/.local/share/framefind")
    >>> lib.index(["~/Pictures"])
    >>> lib.search("a cup of coffee", k=5)
    """

    def __init__(self, directory: Path, catalog: Catalog) -> None:
        self.directory = directory
        self.catalog = catalog

    @classmethod
    def open(cls, directory: str | Path | None = None, *, create: bool = True, model: str | None = None,
             index_type: str | None = None) -> Library:
        """Open the library at ``directory`` (default: $FRAMEFIND_LIBRARY or the per-user data dir).

        ``create``: make it if missing. ``model`` / ``index_type`` set them for a new library, or
        switch an existing one (items of another model are re-embedded by the next ``index``).
        """
        directory = Path(directory).expanduser() if directory else default_library_dir()
        if directory.exists() and not directory.is_dir():
            raise FrameFindError(f"{directory}: library path is a file, not a directory")
        has_catalog = (directory / DB_NAME).exists()
        if not has_catalog and directory.is_dir() and any(directory.iterdir()):
            raise FrameFindError(f"{directory}: not a framefind library (directory holds other files)")
        if not has_catalog and not create:
            raise FrameFindError(f"{directory}: no framefind library here (run 'framefind index PATH' first)")
        if index_type is not None and index_type not in INDEX_KINDS:
            raise FrameFindError(f"unknown index type {index_type!r} (choose {', '.join(INDEX_KINDS)})")
        directory.mkdir(parents=True, exist_ok=True)
        library = cls(directory, Catalog(directory))
        if model or library.catalog.meta("model") is None:
            library.catalog.set_meta("model", model or DEFAULT_MODEL)
        if index_type or library.catalog.meta("index") is None:
            library.catalog.set_meta("index", index_type or "flat")
        return library

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.catalog.close()

    @property
    def model_name(self) -> str:
        return self.catalog.meta("model") or DEFAULT_MODEL

    @cached_property
    def model(self) -> Model:
        return load_model(self.model_name)

    @cached_property
    def store(self) -> VectorStore:
        return VectorStore(self.directory / "index", self.catalog, self.model.spaces,
                           self.catalog.meta("index") or "flat")

    def index(self, paths: Iterable[str | Path] | None = None, *,
              on_error: Callable[[str, str], None] = lambda path, reason: None,
              on_warning: Callable[[str, str], None] = lambda path, reason: None,
              progress: Callable[[int, int], None] = lambda done, total: None) -> IndexReport:
        """Index new, changed and deleted files under ``paths`` (default: every folder indexed before)."""
        roots = list(paths) if paths else self.catalog.roots()
        if not roots:
            raise FrameFindError("nothing to index: give a folder or file (e.g. framefind index ~/Pictures)")
        report = index_files(self.catalog, self.model, roots, on_error=on_error, on_warning=on_warning,
                             progress=progress)
        if not report.interrupted:
            for space in self.model.spaces:
                self.store.index(space)  # write the index files now, not on the first search
        return report

    def search(self, query: str | None = None, *, image: str | Path | None = None,
               video: str | Path | None = None, k: int = 10, min_score: float | None = None) -> list[Result]:
        """Rank images and video moments against a text query, an example image or an example video."""
        if video is not None:
            return self.similar_videos(video, k=k, min_score=min_score)
        space, vector = query_vector(self.model, query, image)
        return run_query(self.catalog, self.store, space, vector, k, min_score)

    def similar_videos(self, video: str | Path, *, k: int = 10, min_score: float | None = None,
                       method: str = "aligned") -> list[Result]:
        """Reverse video search: library videos ranked by how well their segments match the query's,
        in order (``method="average"``: the whole-video mean-vector baseline), with the matched span."""
        if not Path(video).is_file():
            raise FrameFindError(f"{video}: no such file")
        try:
            query = video_query_vectors(self.model, video)
        except MediaError as exc:
            raise FrameFindError(str(exc)) from None
        ranked = rank_videos(self.catalog, self.store, self.model.image_space, query, k, method)
        return [to_result(s, i, info) for s, i, info in ranked if min_score is None or s >= min_score]

    def thumbnail(self, item_id: int) -> bytes | None:
        """The JPEG thumbnail of a video segment (images are their own thumbnail)."""
        return self.catalog.thumbnail(item_id)

    def info(self) -> dict:
        disk = sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
        return {
            "library": str(self.directory),
            "model": self.model_name,
            "index": self.catalog.meta("index"),
            **self.catalog.stats(),
            "roots": self.catalog.roots(),
            "disk_bytes": disk,
            "recent_failures": [{"path": p, "error": e} for p, e in self.catalog.failures(5)],
        }
