"""``Library``: the Python API. One directory holds the catalog, the index files and the writer lock.

Models: the library records the model the user chose (``model_choice``: name and the options they
set) and the model searches use (``active_model``: an id). ``index`` embeds with the chosen model;
only when a run completes does it become the active one, so switching models never leaves searches
with half a library, and switching back to a model whose vectors are still here re-embeds nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from functools import cached_property
from pathlib import Path

from framefind.config import DEFAULT_MODEL, default_library_dir
from framefind.errors import FrameFindError
from framefind.models.base import Model, load_model
from framefind.models.identity import spec_id
from framefind.models.minilm import MiniLM
from framefind.search.browse import library_map, thumbnail
from framefind.search.cutoff import store_calibrations
from framefind.search.duplicates import find_duplicates
from framefind.search.engine import resolve
from framefind.search.feedback import golden_queries
from framefind.search.query import Query, feedback_key
from framefind.search.results import Result, ResultKey, SearchPage
from framefind.search.searcher import Searcher
from framefind.store.annotate import annotate
from framefind.store.catalog import DB_NAME, Catalog, ItemInfo
from framefind.store.describe import TextModelWarmUp, describe, library_places, place_labels
from framefind.store.enrich import enrich
from framefind.store.events import IndexEvents
from framefind.store.faces_pass import find_faces
from framefind.store.filtering import label_counts
from framefind.store.indexer import IndexReport, index_files
from framefind.store.indexfiles import LAG_ALLOWED, adopt_v1_index_files
from framefind.store.locks import WriterLock
from framefind.store.migrate import (
    Migration,
    backend_label,
    backend_of,
    check_backend,
    migrate,
    parse_backend,
    parse_destination,
)
from framefind.store.people import People
from framefind.store.ray_index import one_connection, ray_address, ray_reader  # Ray: imported by a run using it
from framefind.store.rebuild import running, write_index_files
from framefind.store.remote import drop_collections, library_id
from framefind.store.vectors.factory import INDEX_TYPES
from framefind.store.vectorstore import VectorStore, vector_store


class Library:
    """A searchable media library.

    >>> lib = Library.open("~/.local/share/framefind")
    >>> lib.index(["~/Pictures"])
    >>> lib.search("a cup of coffee", k=5)
    """

    def __init__(self, directory: Path, catalog: Catalog) -> None:
        self.directory = directory
        self.catalog = catalog
        self.lock = WriterLock(directory)
        self._pending_backend: dict | None = None  # chosen at open; the next index() moves the vectors there
        self._uris: set[str] = set()  # Milvus connections this library opened (closed with it)

    @classmethod
    def open(cls, directory: str | Path | None = None, *, create: bool = True, model: str | None = None,
             model_options: dict | None = None, index_type: str | None = None, backend: str | None = None,
             uri: str | None = None) -> Library:
        """Open the library at ``directory`` (default: $FRAMEFIND_LIBRARY or the per-user data dir).

        ``create``: make it if missing. ``model`` (+ ``model_options``): the model the next ``index``
        embeds with (it becomes the searched model once that run completes). ``index_type``: pin the
        vector index type (``auto`` chooses by size); the next ``index`` rebuilds to it. ``backend``
        ("faiss", "milvus") and ``uri`` (a Milvus server or cluster, or a Milvus Lite ``.db`` file; default
        for milvus: one inside the library): where the vector indexes live, remembered by the library
        (checked here: a server that cannot be reached fails now); an existing library's vectors move
        there at the next ``index``, as ``migrate`` moves them.
        A library written by an earlier release is upgraded in place.
        """
        directory = Path(directory).expanduser() if directory else default_library_dir()
        if directory.exists() and not directory.is_dir():
            raise FrameFindError(f"{directory}: library path is a file, not a directory")
        has_catalog = (directory / DB_NAME).exists()
        if not has_catalog and directory.is_dir() and any(directory.iterdir()):
            raise FrameFindError(f"{directory}: not a framefind library (directory holds other files)")
        if not has_catalog and not create:
            raise FrameFindError(f"{directory}: no framefind library here (run 'framefind index PATH' first)")
        if index_type is not None and index_type not in INDEX_TYPES:
            raise FrameFindError(f"unknown index type {index_type!r} (choose {', '.join(INDEX_TYPES)})")
        directory.mkdir(parents=True, exist_ok=True)
        library = cls(directory, Catalog(directory, legacy_model=_legacy_model))
        adopt_v1_index_files(library.catalog, directory / "index")  # also after a crash mid-upgrade
        if model is not None or model_options is not None or library.catalog.meta("model_choice") is None:
            choice = {"name": model or library.choice["name"], "options": model_options or {}}
            chosen = load_model(choice["name"], choice["options"])  # a bad name or option fails here, in one line
            # chosen now: the model's recommended settings (effnet-conse: its class mix, int8) under the ones given;
            # a library that chose earlier keeps what it recorded, so its vectors are never silently re-made
            choice["options"] = {**chosen.recommended_options, **choice["options"]}
            library.catalog.set_meta("model_choice", json.dumps(choice))
        if index_type is not None or library.catalog.meta("index_type") is None:
            check_backend(library.backend, index_type or "auto", connect=False)
            library.catalog.set_meta("index_type", index_type or "auto")
        if backend is not None or uri is not None:
            library._choose_backend(parse_backend(backend, uri, directory))
        return library

    @property
    def backend(self) -> dict:
        """Where the vector indexes live: {"name": "faiss"} or {"name": "milvus", "uri": ...}."""
        return backend_of(self.catalog)

    def _using(self, backend: dict) -> dict:
        """``backend``, noted so that ``close`` lets go of its Milvus connection (and of a Lite file)."""
        self._uris.update([backend["uri"]] if "uri" in backend else [])
        return backend

    def _choose_backend(self, target: dict) -> None:
        check_backend(self._using(target), self.catalog.meta("index_type") or "auto")  # unreachable: fail now
        if target == self.backend:
            return
        if any(count for _, count in self.catalog.models()):
            self._pending_backend = target  # vectors to move first: index() migrates, under the writer lock
        else:
            if target["name"] == "milvus":
                library_id(self.catalog)  # made now, by the writer that chose Milvus, not by a search reading it
            self.catalog.set_meta("backend", json.dumps(target))

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        from framefind.store.vectors.milvus_connection import release

        self.lock.release()
        self.catalog.close()
        for uri in self._uris:  # a Milvus Lite file is then free for another process
            release(uri)

    # -- models -------------------------------------------------------------------------------------
    @property
    def choice(self) -> dict:
        """The model the user chose for this library: {"name", "options"} (options they set; defaults fill the rest)."""
        raw = self.catalog.meta("model_choice")
        return json.loads(raw) if raw else {"name": DEFAULT_MODEL, "options": {}}

    @cached_property
    def model(self) -> Model:
        """The model searches use: the active one, built with the options its vectors were made with
        (the very object ``index`` uses when they are the same: its ONNX sessions load once)."""
        active = self.catalog.meta("active_model")
        row = self.catalog.model_row(active or "")
        if row is None or active == self.target_model.id:
            return self.target_model
        return load_model(row.name, row.options)

    @cached_property
    def target_model(self) -> Model:
        """The model ``index`` embeds with: the user's choice with this release's defaults."""
        return load_model(self.choice["name"], self.choice["options"])

    @property
    def model_id(self) -> str:
        return self.catalog.meta("active_model") or self.target_model.id

    @cached_property
    def store(self) -> VectorStore:
        return self._store(self.model_id, self.model)

    def _store(self, model_id: str, model: Model) -> VectorStore:
        return vector_store(self.directory / "index", self.catalog, model_id, model.spaces,
                            self.catalog.meta("index_type") or "auto", self._using(self.backend))

    def models(self) -> list[dict]:
        """Every model with vectors in this library: id, name, options, contents embedded, active or not."""
        active = self.catalog.meta("active_model")
        return [{"id": row.id, "name": row.name, "options": row.options, "contents": count, "active": row.id == active}
                for row, count in self.catalog.models()]

    def drop_model(self, model_id: str) -> int:
        """Delete a model's vectors and index files (not the active model's); returns its content count."""
        if model_id == self.catalog.meta("active_model"):
            raise FrameFindError(f"{model_id}: is the active model; index with another model first")
        if self.catalog.model_row(model_id) is None:
            raise FrameFindError(f"{model_id}: no such model in {self.directory}")
        with self.lock.acquire():
            if "uri" in self.backend:
                drop_collections(self.catalog, model_id, self.backend["uri"])
            count = self.catalog.drop_model(model_id)
            shutil.rmtree(self.directory / "index" / model_id, ignore_errors=True)
        return count

    def migrate(self, to: str, *, wait: bool = False,
                progress: Callable[[int, int], None] = lambda done, total: None) -> Migration:
        """Move every model's vector indexes to ``to`` ("faiss", "milvus" for a Lite file in the library,
        or a Milvus URI), verify them, then search there; idempotent and resumable (store/migrate.py)."""
        with self.lock.acquire(wait=wait):
            return self._move(parse_destination(to, self.directory), progress)

    def _move(self, target: dict, progress: Callable[[int, int], None]) -> Migration:
        moved = migrate(self.catalog, self.directory / "index", self._using(target),
                        self.catalog.meta("index_type") or "auto", progress)
        self._pending_backend = None
        self.__dict__.pop("store", None)
        return moved

    # -- indexing ------------------------------------------------------------------------------------
    def index(self, paths: Iterable[str | Path] | None = None, *, events: IndexEvents | None = None,
              wait: bool = False, transcribe: bool | None = None, ocr: bool | None = None,
              faces: bool | None = None, workers: int = 1, ray: str | None = None,
              small_batch: bool = False) -> IndexReport:
        """Index new, changed and deleted files under ``paths`` (default: every folder indexed before),
        then fill in capture dates, labels and missing thumbnails; ``events`` hears how it goes (progress,
        skipped files, index builds: store/events.py).

        Holds the library's writer lock: a second indexer raises a one-line error (or waits, ``wait``).
        ``workers`` > 1: embed in that many processes, each committing its own batches (store/workers.py).
        ``ray``: decode and embed, and run the speech, text and faces passes, on the Ray cluster at that address
        (``auto``: RAY_ADDRESS), committing here (store/ray_index.py). ``small_batch`` (the watcher's small batches of
        exact paths): leave the index files as they are while they lag by a few hundred commits (searches stay
        exact), and re-read the words and places of the contents of ``paths`` alone.
        """
        if not isinstance(workers, int) or workers < 1:
            raise FrameFindError(f"workers: {workers!r} is not a number of processes (1 or more)")
        if ray is not None:
            if workers > 1:
                raise FrameFindError("--ray and --workers: one or the other (Ray runs its own workers)")
            ray = ray_address(ray)  # Ray missing, or no address: one line before anything is embedded
        events = events or IndexEvents()
        roots = list(paths) if paths else self.catalog.roots()
        if not roots:
            raise FrameFindError("nothing to index: give a folder or file (e.g. framefind index ~/Pictures)")
        with self.lock.acquire(wait=wait, on_wait=events.on_wait), one_connection() if ray else nullcontext():
            if self._pending_backend is not None:  # chosen at open: move the vectors there first
                where = backend_label(self._pending_backend)
                self._move(self._pending_backend, lambda done, total: events.on_migrate(where, done, total))
            check_backend(self.backend, self.catalog.meta("index_type") or "auto")  # fail before embedding
            passes = self.enrichment(transcribe, ocr, faces)  # a missing extra fails here, before any embedding
            model = self.target_model
            self.catalog.register_model(model.id, model.name, model.options(), model.spec())
            if self.catalog.meta("active_model") is None:
                self.catalog.set_meta("active_model", model.id)
            warm = TextModelWarmUp(self.text_encoder)  # the files' words are embedded at the end: it loads meanwhile
            touched = self._contents_under(roots) if small_batch else None  # a batch: its contents, before
            report = index_files(self.catalog, model, roots, workers=workers, ray=ray, on_error=events.on_error,
                                 on_warning=events.on_warning, progress=warm.on_progress(events.progress))
            if not report.interrupted:
                annotate(self.catalog, model, events.on_annotate)
                report.described = describe(self.catalog, self.text_encoder, progress=events.on_describe,
                                            on_note=events.on_warning,
                                            only=None if touched is None else touched | self._contents_under(roots))
                store = self._store(model.id, model)  # index files now, not on the first search
                report.rebuild_pid = write_index_files(store, model.spaces, self.directory, events.on_rebuild,
                                                       lag=LAG_ALLOWED if small_batch else 0)
                store_calibrations(self.catalog, store, model)
                reads, read = [name for name in passes if name != "faces"], ray_reader(ray) if ray else None
                if reads:  # searches already work; what is said and written joins them as it is read
                    report.enrichment = enrich(self.catalog, reads, self.text_encoder, progress=events.on_enrich,
                                               on_note=events.on_warning, read=read)
                    report.interrupted = report.enrichment.interrupted
                if "faces" in passes and not report.interrupted:
                    report.faces = find_faces(self.catalog, progress=events.on_enrich, on_note=events.on_warning,
                                              read=read)
                    report.interrupted = report.faces.interrupted
                if self.catalog.meta("active_model") != model.id:  # a switch: searches move to it now
                    self.catalog.set_meta("active_model", model.id)
                    self.__dict__.pop("model", None)
                    self.__dict__.pop("store", None)
        return report

    def _contents_under(self, paths: Iterable[str | Path]) -> set[str]:
        """The contents of the files known at or below ``paths``."""
        rows = self.catalog.files_under([os.path.abspath(os.path.expanduser(str(p))) for p in paths])
        return {row.hash for row in rows.values() if row.hash is not None}

    def enrichment(self, transcribe: bool | None = None, ocr: bool | None = None,
                   faces: bool | None = None) -> list[str]:
        """The passes this library runs after embedding ("speech", "ocr", "faces"): a setting kept in the
        library, changed by ``transcribe`` / ``ocr`` / ``faces`` when given."""
        if faces:  # fail before embedding anything: the extra is missing
            from framefind.media.faces import available

            if (missing := available()) is not None:
                raise FrameFindError(missing)
        kept = set(json.loads(self.catalog.meta("enrich") or "[]"))
        passes = set(kept)
        for name, wanted in (("speech", transcribe), ("ocr", ocr), ("faces", faces)):
            passes = passes | {name} if wanted else passes - {name} if wanted is False else passes
        if passes != kept:  # only a change writes: a reader asking must not
            self.catalog.set_meta("enrich", json.dumps(sorted(passes)))
        return sorted(passes)

    # -- searching ------------------------------------------------------------------------------------
    def search(self, query: str | Query | None = None, *, image: str | Path | None = None,
               video: str | Path | None = None, k: int = 10, min_score: float | None = None,
               cutoff: bool = True) -> list[Result]:
        """Rank images and video moments against a Query, or words (``parse_words`` syntax, dates read
        as a filter) and/or an example image, or an example video. ``cutoff=False``: a full page even
        when nothing matches well. ``search_page`` says why a page is short."""
        return self.search_page(query, image=image, video=video, k=k, min_score=min_score, cutoff=cutoff).results

    def search_page(self, query: str | Query | None = None, *, image: str | Path | None = None,
                    video: str | Path | None = None, k: int = 10, min_score: float | None = None,
                    cutoff: bool = True) -> SearchPage:
        """``search``, with what shaped the results: the relevance cutoff, what it cut and how close each
        signal came, the dates read from the words, the feedback that moved the ranking."""
        if not isinstance(query, Query):
            query = Query.of(query, image=image, video=video, k=k, min_score=min_score, cutoff=cutoff)
        return self._searcher.page(query.checked())

    @cached_property
    def _searcher(self) -> Searcher:
        """The search orchestration (search/searcher.py), with what it reuses between searches."""
        return Searcher(self)

    @cached_property
    def text_encoder(self) -> MiniLM:
        """MiniLM for transcripts and on-screen text (ConSE's own when it is the model: loaded once)."""
        return getattr(self.model, "text_encoder", None) or MiniLM()

    def similar(self, key: str, *, k: int = 10, cutoff: bool = True, boost_labels: tuple[str, ...] = (),
                min_score: float | None = None, **filters) -> SearchPage:
        """More like this: results nearest to a library result (its stored vector), itself excluded;
        ``filters``: the ``Filters.of`` arguments (kinds, under, dates, durations, labels)."""
        return self._searcher.similar(key, k=k, cutoff=cutoff, boost_labels=boost_labels, min_score=min_score,
                                      **filters)

    def similar_videos(self, video: str | Path, *, k: int = 10, min_score: float | None = None,
                       method: str = "aligned", under: tuple[str | Path, ...] = ()) -> list[Result]:
        """Reverse video search: library videos ranked by how well their segments match the query's,
        in order (``method="average"``: the whole-video mean-vector baseline), with the matched span."""
        return self._searcher.similar_videos(video, k=k, min_score=min_score, method=method, under=under)

    def resolve(self, key: str | ResultKey) -> list[ItemInfo]:
        """What a stable result key refers to now (after re-indexing, moves or a model change)."""
        return resolve(self.catalog, self.model_id, ResultKey.of(key))

    def thumbnail(self, target: Result | str | ResultKey, at: float | None = None) -> bytes | None:
        """A small JPEG: of an image, or of a video moment's frame nearest to ``at`` (default: its best frame)."""
        if isinstance(target, Result):
            target, at = target.key, target.frame_time if at is None else at
        return thumbnail(self.catalog, self.model, self.model_id, ResultKey.of(target), at)

    def duplicate_threshold(self) -> float:
        """Similarity from which two items are near-duplicates in this library: 0.85, higher in a
        collection of look-alikes (see ``cutoff.duplicate_threshold``)."""
        return self._searcher.duplicate_threshold()

    def duplicates(self, threshold: float | None = None,
                   kinds: tuple[str, ...] = ("image", "video")) -> list[list[ItemInfo]]:
        """Groups of near-identical images and videos (each member with all its paths); deletes nothing.
        ``threshold``: default, calibrated on this library (``duplicate_threshold``)."""
        threshold = self.duplicate_threshold() if threshold is None else threshold
        if not 0 < threshold <= 1:
            raise FrameFindError(f"threshold must be above 0 and at most 1 (got {threshold})")
        return find_duplicates(self.catalog, self.store, self.model.image_space, threshold, kinds)

    def feedback(self, query: str, target: str, vote: int) -> float:
        """Thumbs up (1) or down (-1) on a result for ``query``: the result by its key, or a file path
        (a moment: ``PATH#START-END``). The next search for this or a similar query learns from it.
        Returns when it was stored."""
        if vote not in (1, -1):
            raise FrameFindError(f"vote must be 1 (up) or -1 (down), not {vote!r}")
        if not query.strip():
            raise FrameFindError("feedback needs the query it is about")
        key = self.key_of(target)
        if not self.resolve(key):
            raise FrameFindError(f"{target}: no such item in this library")
        return self.catalog.set_feedback(feedback_key(query), str(key), vote)

    def key_of(self, target: str) -> ResultKey:
        """A result key, a path, or ``PATH#START-END`` -> the stable key of that image or moment."""
        return ResultKey.of_target(target, self.catalog.content_of)

    def golden_queries(self) -> dict:
        """Feedback as golden queries for ``framefind eval``: each query with the results liked for it."""
        return golden_queries(self.catalog.feedback(), self.resolve, self.catalog.roots(), self.directory)

    def places(self) -> list[dict]:
        """Where this library's photos and videos were taken (from their GPS, reverse-geocoded offline), by
        place, most first: [{"city", "region", "country", "count"}]."""
        return library_places(self.catalog)

    @cached_property
    def people(self) -> People:
        """Who is in the pictures (``index --faces``): list, name, merge, forget (store/people.py)."""
        return People(self.catalog)

    def place_of(self, key: str | ResultKey) -> str | None:
        """Where a result was taken ("Lisbon, Portugal"), from its GPS; None when unknown."""
        content = ResultKey.of(key).content
        return place_labels(self.catalog, [content]).get(content)

    def labels(self) -> list[tuple[str, int]]:
        """The classifier's labels present in this library, with how many items carry each, most first."""
        return label_counts(self.catalog, self.model_id)

    def map_points(self, limit: int = 1500, seed: int = 0) -> list[tuple[ItemInfo, float, float]]:
        """A 2-D map of the library (PCA of image-space vectors) for up to ``limit`` items, sampled evenly."""
        return library_map(self.catalog, self.model, self.model_id, limit, seed)

    # -- what the library holds ------------------------------------------------------------------------
    @staticmethod
    def exists(directory: str | Path) -> bool:
        """Whether ``directory`` holds a framefind library (``open(create=False)`` would find one)."""
        return (Path(directory).expanduser() / DB_NAME).exists()

    @property
    def upgrades(self) -> list[str]:
        """What opening this library upgraded (a format of an earlier release), one line each."""
        return self.catalog.upgrades

    def roots(self) -> list[str]:
        """The folders and files indexed so far: what ``index()`` without paths indexes again."""
        return self.catalog.roots()

    def duration(self, key: str | ResultKey) -> float | None:
        """Seconds of the video a result key is in (None for an image)."""
        return self.catalog.duration(ResultKey.of(key).content)

    def feedback_given(self, query: str | None = None) -> list[tuple[str, str, int, float]]:
        """Thumbs up and down given so far, newest first: (query, key, vote, at), all or one query's."""
        return self.catalog.feedback(query)

    def status(self) -> dict:
        """What the library holds and is doing, cheap enough to poll (the web app asks every few seconds):
        model, counts, roots, enrichment passes, and the pid of a background index build (or None)."""
        return {"library": str(self.directory), "model": self.model.name, "model_id": self.model_id,
                **self.catalog.stats(self.model_id), "roots": self.catalog.roots(), "passes": self.enrichment(),
                "rebuilding": running(self.directory)}

    def info(self) -> dict:
        """``status``, and what costs more to gather: index types, backend, every model, disk use, failures."""
        disk = sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
        store = self.store
        return {
            **self.status(),
            "index": self.catalog.meta("index_type"),
            "backend": backend_label(self.backend),
            "index_files": {space: store.kind(space) for space in self.model.spaces},
            "models": self.models(),
            "disk_bytes": disk,
            "recent_failures": [{"path": p, "error": e} for p, e in self.catalog.failures(5)],
        }


def _legacy_model(name: str, options: dict) -> tuple[str, str, dict, dict]:
    """A model name recorded by 0.1.0, with that release's options -> (id, name, options, spec) today."""
    try:
        model = load_model(name, options)
        return model.id, model.name, model.options(), model.spec()  # .id reads the weights (may be absent)
    except FrameFindError:  # e.g. a clip: checkpoint directory that is gone: keep its vectors under a name
        return spec_id("legacy", {"name": name}), name, {}, {"legacy": name}
