"""One library's searches, orchestrated: a Query in, a SearchPage out.

``Library`` is the facade (``search_page``, ``similar``, ``similar_videos``, ``duplicate_threshold``
delegate here); this module decides what runs: the visual ranking (query vector, feedback, what the
scores are judged against, engine.run_query), speech and on-screen text fused in (hybrid.py), the page
ordered and cut (settle.py), or reverse video search (moments.py). It also owns what a library's
searches reuse between requests: calibrations, the feedback memory and the ``SearchCache`` (cache.py),
all checked against the library's generation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from framefind.errors import FrameFindError, MediaError
from framefind.linalg import l2_normalize
from framefind.search.cache import SearchCache
from framefind.search.cutoff import calibration
from framefind.search.duplicates import THRESHOLD as DUPLICATE_THRESHOLD
from framefind.search.engine import query_vector, run_query, to_result
from framefind.search.face_match import face_hits, library_has_faces, picture_faces, stored_faces
from framefind.search.feedback import FeedbackMemory, Votes, rocchio
from framefind.search.hybrid import allowed_contents, with_texts
from framefind.search.moments import rank_videos, video_query_vectors
from framefind.search.place_filter import WITH, candidates, split_names, split_places
from framefind.search.query import FACE, TEXT_SIGNALS, VISUAL, Filters, Query, Term
from framefind.search.relevance import VisualContext
from framefind.search.results import Match, Result, ResultKey, SearchPage
from framefind.search.settle import settle
from framefind.store.catalog import ItemInfo
from framefind.store.describe import place_labels
from framefind.store.filtering import item_ids_where
from framefind.store.texts import sources_present

if TYPE_CHECKING:
    from framefind.library import Library


class Searcher:
    """Runs the searches of one ``Library`` (its model and store are read from it on every search:
    an index run may switch them)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.cache = SearchCache(library.catalog)
        self.calibrations: dict = {}
        self._memory: FeedbackMemory | None = None

    @property
    def memory(self) -> FeedbackMemory:
        model = self.library.model
        if self._memory is None or self._memory.model is not model:
            self._memory = FeedbackMemory(self.library.catalog, model)
        return self._memory

    def page(self, query: Query) -> SearchPage:
        """``Library.search_page`` for a checked query."""
        query, places, people = self._read_names(query)
        page = self._page(query) if query.terms else self._by_place(query)
        page.places, page.people = places, people
        labels = place_labels(self.library.catalog, {ResultKey.parse(r.key).content for r in page.results})
        for result in page.results:
            result.place = labels.get(ResultKey.parse(result.key).content)
        return page

    def _read_names(self, query: Query) -> tuple[Query, str | None, str | None]:
        """The query with the library's place names and named people among its words made filters
        (place_filter.py), and what was read of each, for the user ("lisbon ('in Lisbon')"); unchanged when it
        names none."""
        if not ((query.read_places or query.read_people) and query.words):
            return query, None, None
        catalog = self.library.catalog
        names = candidates(query.words)
        places = {r[0] for r in catalog.rows_in("SELECT DISTINCT name FROM place_names WHERE name IN ({})", (), names)}
        people = {r[0].lower() for r in catalog.rows_in(
            "SELECT name FROM people WHERE name IS NOT NULL AND lower(name) IN ({})", (), names)}
        rest, who = split_names(query.words, people.__contains__, WITH) if query.read_people else (query.words, None)
        rest, where = split_places(rest, places.__contains__) if query.read_places else (rest, None)
        if who is None and where is None:
            return query, None, None
        query = query.with_names(rest, where.names if where else (), who.names if who else ()).checked()
        return query, *(f"{', '.join(found.names)} ('{found.said}')" if found else None for found in (where, who))

    def _by_place(self, query: Query) -> SearchPage:
        """A query that is only places: everything taken there (or whose own words name it), newest first;
        each is certainly what was asked (score 1)."""
        library = self.library
        infos = library.catalog.item_infos(item_ids_where(library.catalog, library.model_id, query.filters,
                                                          library.model.label_names))
        first: dict[str, ItemInfo] = {}
        for info in sorted(infos.values(), key=lambda info: info.start or 0.0):
            first.setdefault(info.content, info)  # a video: its first segment stands for it
        taken = dict(library.catalog.rows_in("SELECT hash, taken FROM contents WHERE hash IN ({})", (), list(first)))
        order = sorted(first.values(), key=lambda info: (-(taken.get(info.content) or 0.0), info.paths[0]))
        return SearchPage([to_result((1.0, info)) for info in order[: query.k]])

    def _page(self, query: Query) -> SearchPage:
        library = self.library
        dates = query.filters.dates
        read = f"{dates.describe()} (from '{dates.said}')" if dates is not None and dates.said else None
        if query.terms[0].kind == "video":
            return SearchPage(self.similar_videos(query.terms[0].value, k=query.k, min_score=query.min_score))
        words = any(t.kind == "words" for t in query.terms)
        votes = self.memory.votes(query.said) if query.learn and query.said else Votes()
        results = self._visual(query, votes) if query.weight(VISUAL) else []
        asked = (VISUAL,) if query.weight(VISUAL) else ()
        sources = sources_present(library.catalog, tuple(s for s in TEXT_SIGNALS if query.weight(s))) \
            if query.words else ()
        texts = bool(sources)
        wanted = self._wanted_faces(query)
        allowed = item_ids_where(library.catalog, library.model_id, query.filters, library.model.label_names) \
            if query.filters.active and (texts or wanted is not None) else None
        asked += sources + ((FACE,) if wanted is not None else ())
        faces = face_hits(library.catalog, wanted, allowed_contents(library.catalog, allowed)) \
            if wanted is not None else []
        results = with_texts(library.catalog, library.model_id, query, results, library.text_encoder, allowed,
                             sources, {FACE: faces} if faces else None)
        # Words can name what is not there; an example picture always has neighbours: only word queries are
        # cut. A label filter is the classifier's own judgement of relevance: what carries it is not cut.
        cut = query.cutoff and words and not query.filters.labels
        page = settle(results, query, votes, cut, asked, self._boosted(query) if texts else None)
        page.dates, page.learned = read, len(votes.liked) + len(votes.disliked)
        return page

    def _visual(self, query: Query, votes: Votes) -> list[Result]:
        """What the pictures show: the query vector (moved by feedback), every candidate scored."""
        library, cache = self.library, self.cache
        model, store = library.model, library.store
        cache.check(store.model_id, library.catalog.generation(store.model_id))
        space, vector = query_vector(model, query, self.item_vector,
                                     lambda words: cache.query(model.id, words, model.embed_texts))
        # Judged against what was asked: feedback moves the vector that finds and ranks results, not the
        # scores (a moved vector is near no class, and results near the liked ones would all rise).
        said = " ".join(t.value for t in query.terms if t.kind == "words" and t.weight > 0) or None
        context = self.visual_context(space, vector, said)
        asked = None
        if votes:
            asked, vector = vector, rocchio(vector, votes, lambda key: self._vector_or_none(key, space))
        return run_query(library.catalog, store, model, space, vector, query, context, votes,
                         self.duplicate_threshold(), cache, asked)

    def _wanted_faces(self, query: Query) -> np.ndarray | None:
        """The faces of the query's example pictures and library results, when the library knows faces and the
        face signal is asked for (None: no face to look for)."""
        catalog = self.library.catalog
        terms = [t for t in query.terms if t.weight > 0 and t.kind in ("image", "item")]
        if not terms or not query.weight(FACE) or not library_has_faces(catalog):
            return None
        vectors = [picture_faces(catalog, t.value) if t.kind == "image" else stored_faces(catalog, t.value)
                   for t in terms]
        wanted = np.concatenate(vectors)
        return wanted if len(wanted) else None

    def visual_context(self, space: str, vector: np.ndarray, said: str | None) -> VisualContext:
        """What a query vector's cosines are judged against in this library (relevance.VisualContext);
        ``said``: the words asked for (None: a query by pictures only)."""
        library, model = self.library, self.library.model
        attainable = model.best_possible(vector) if said is not None and space == model.words_space else None
        if attainable is not None:  # a label vocabulary: judged by the model alone, the same in every library
            return VisualContext(True, float(attainable[0]), model.names_something(said))
        model_id = library.store.model_id
        found = calibration(library.catalog, model_id, space, self.calibrations)
        spread = found.spread(library.catalog, model_id, vector) if found is not None else None
        names = said is None or model.names_something(said)
        return VisualContext(said is not None, names=names, reference=spread and spread[0], median=spread and spread[1])

    def _boosted(self, query: Query) -> Callable[[str], bool] | None:
        """Whether a result key's image or moment carries a label the query boosts (for results only
        speech or on-screen text found: the pictures' own search marks its results itself)."""
        if not query.boost_labels:
            return None
        library = self.library
        ids = item_ids_where(library.catalog, library.model_id, Filters(labels=query.boost_labels),
                             library.model.label_names)
        spans: dict[str, list[tuple[float | None, float | None]]] = {}  # content -> its labelled items, read once
        for content, start, end in library.catalog.rows_in("SELECT hash, start, end FROM items WHERE id IN ({})", (),
                                                            ids.tolist()):
            spans.setdefault(content, []).append((start, end))

        def boosted(text: str) -> bool:
            key = ResultKey.parse(text)
            return any(key.overlaps(start, end) for start, end in spans.get(key.content, ()))

        return boosted

    def similar(self, key: str, *, k: int = 10, cutoff: bool = True, boost_labels: tuple[str, ...] = (),
                min_score: float | None = None, **filters) -> SearchPage:
        """``Library.similar``: results nearest to a library result (its stored vector), itself excluded."""
        query = Query((Term("item", key),), k=k + 1, filters=Filters.of(**filters), boost_labels=boost_labels,
                      cutoff=cutoff, min_score=min_score).checked()
        page = self.page(query)
        page.results = [r for r in page.results if r.key != key][:k]
        return page

    def _vector_or_none(self, key: str, space: str) -> np.ndarray | None:
        try:
            return self.item_vector(key, space)
        except FrameFindError:  # a liked file deleted since: its vote no longer counts
            return None

    def item_vector(self, key: str, space: str) -> np.ndarray:
        """The stored vector of a result key (a moment: the mean of its segments' vectors)."""
        library = self.library
        items = library.resolve(key)
        if not items:
            raise FrameFindError(f"{key}: no such item in this library (deleted, or not indexed yet)")
        _, vectors = library.catalog.vectors(library.model_id, space, [info.item_id for info in items])
        return l2_normalize(vectors.mean(axis=0, keepdims=True))[0]

    def similar_videos(self, video: str | Path, *, k: int = 10, min_score: float | None = None,
                       method: str = "aligned", under: tuple[str | Path, ...] = ()) -> list[Result]:
        """``Library.similar_videos``: library videos ranked by how well their segments match the query's."""
        library = self.library
        if not Path(video).is_file():
            raise FrameFindError(f"{video}: no such file")
        try:
            query = video_query_vectors(library.model, video)
        except MediaError as exc:
            raise FrameFindError(str(exc)) from None
        allowed = item_ids_where(library.catalog, library.model_id, Filters.of(("video",), under))
        ranked = rank_videos(library.catalog, library.store, library.model.image_space, query, k, method, allowed)
        results = [to_result(hit) for hit in ranked]
        scores = VisualContext(False).probability(np.array([r.score for r in results]))  # on the example-image scale
        for result, p in zip(results, scores, strict=True):
            result.matches = [Match(VISUAL, result.score, "", result.start, result.end, round(float(p), 4))]
            result.score = round(float(p), 3)
        return [r for r in results if min_score is None or r.score >= min_score]

    def duplicate_threshold(self) -> float:
        """``Library.duplicate_threshold``: from the image space's calibration, else the default."""
        library = self.library
        found = calibration(library.catalog, library.store.model_id, library.model.image_space, self.calibrations)
        return found.duplicate if found is not None else DUPLICATE_THRESHOLD
