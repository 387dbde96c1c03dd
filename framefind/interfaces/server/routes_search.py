"""Search by text, by an example image (upload, region, or URL when allowed), by an example video, or
by a library result ("more like this"). Handlers are plain functions: FastAPI runs them in its thread
pool, and the library's read path is safe from many threads at once."""

from __future__ import annotations

import time
from dataclasses import asdict, field, make_dataclass
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from framefind.errors import ClientError
from framefind.interfaces.server.schemas import ErrorOut, ResultOut, SearchResponse
from framefind.interfaces.server.uploads import fetch_url, region, saved_upload
from framefind.search.query import Query as SearchQuery
from framefind.search.query import date_range, parse_weights
from framefind.search.results import SearchPage

router = APIRouter(prefix="/api", tags=["search"], responses={400: {"model": ErrorOut}})
K = Annotated[int, Query(ge=1, le=500, description="Number of results")]


def _respond(request: Request, run, query: dict) -> SearchResponse:
    """Run a search (``run``: library -> SearchPage or a list of results) and time it."""
    library = request.app.state.library
    started = time.perf_counter()
    page = run(library)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(results=[ResultOut.of(r) for r in page.results], took_ms=round(took, 2),
                          model=library.model.name, query=query, below_cutoff=page.below_cutoff,
                          nothing_matched=page.nothing_matched, cutoff=page.cutoff, closest=page.closest,
                          dates=page.dates, places=page.places, people=page.people,
                          learned=page.learned)


async def _respond_limited(request: Request, run, query: dict) -> SearchResponse:
    """``_respond`` in a worker thread, at most ``search_limiter`` of them at once."""
    return await anyio.to_thread.run_sync(_respond, request, run, query, limiter=request.app.state.search_limiter)


MIN_SCORE = {"ge": 0, "le": 1, "description": (
    "Keep only results whose score, the estimated probability of a match, is at least this")}
# The filters every search takes: one list, as query-string parameters (GET) and as form fields (uploads).
_FILTERS: list[tuple[str, object, object, dict]] = [  # (name, type, default, extra validation)
    ("kind", list[str] | None, None, {"description": "image and/or video (repeatable)"}),
    ("under", str | None, None, {"description": "Only files in this folder"}),
    ("after", str | None, None, {"description": "Taken on or after: 2019, 2019-07, 2019-07-14"}),
    ("before", str | None, None, {"description": "Taken on or before: 2020, 2020-06, 2020-06-30"}),
    ("min_duration", float | None, None, {"ge": 0, "description": "Videos at least this long, seconds"}),
    ("max_duration", float | None, None, {"ge": 0, "description": "Videos at most this long, seconds"}),
    ("min_score", float | None, None, MIN_SCORE),
    ("label", list[str] | None, None, {"description": "Only items the classifier labels so (dog: any breed)"}),
    ("boost_label", list[str] | None, None, {"description": "Items with this label rank first"}),
    ("person", list[str] | None, None, {"description": "Only what shows this named person (repeatable: all of them)"}),
    ("place", list[str] | None, None, {"description": "Only what was taken at this place (GPS), or whose own words "
                                                       "(folder, caption, keywords) name it; repeatable: all of them"}),
    ("all", bool, False, {"description": "No relevance cutoff: a full page even when nothing matches"}),
    ("only", list[str] | None, None,
     {"description": "Match only by: visual, speech, text, metadata, face (repeatable)"}),
    ("weights", str | None, None, {"description": "Fusion weights, e.g. visual=1,speech=2,text=1,metadata=1"}),
]


def _filter_params(source, leave_out: tuple[str, ...] = ()) -> type:
    """A dataclass FastAPI fills from the query string (``Query``) or a multipart form (``Form``)."""
    fields = [(name, Annotated[kind, source(**extra)], field(default=default))
              for name, kind, default, extra in _FILTERS if name not in leave_out]
    return make_dataclass(f"{source.__name__}Filters{len(leave_out)}", fields)


FilterParams = _filter_params(Query)
FormFilterParams = _filter_params(Form)
SimilarParams = _filter_params(Query, ("only", "weights"))  # "more like this" has no words to hear or read


def query_args(filters) -> dict:
    """Filter parameters -> ``Query.of`` keyword arguments (a bad date is a 400 naming it)."""
    return {"kinds": tuple(filters.kind or ()), "under": (filters.under,) if filters.under else (),
            "dates": date_range(filters.after, filters.before), "min_duration": filters.min_duration,
            "max_duration": filters.max_duration, "min_score": filters.min_score, "labels": tuple(filters.label or ()),
            "boost_labels": tuple(filters.boost_label or ()), "cutoff": not filters.all,
            "places": tuple(filters.place or ()), "people": tuple(filters.person or ()),
            "signals": tuple(getattr(filters, "only", None) or ()) or None,
            "weights": parse_weights(getattr(filters, "weights", None))}


def _echo(filters) -> dict:
    return {name: value for name, value in asdict(filters).items() if value}


@router.get("/search", response_model=SearchResponse, summary="Search by text")
async def search_text(request: Request, filters: Annotated[FilterParams, Depends()],
                      q: Annotated[str | None, Query(min_length=1, max_length=1000, description=(
                          "The words; may be left out with a place filter (everything taken there)"))] = None,
                      k: K = 24,
                      read_dates: Annotated[bool, Query(description="Dates among the words filter by date")] = True,
                      read_places: Annotated[bool, Query(description="The library's place names among the words "
                                                                     "filter by place")] = True,
                      read_people: Annotated[bool, Query(description="Named people among the words filter by "
                                                                     "person")] = True,
                      ) -> SearchResponse:
    query = SearchQuery.of(q, k=k, read_dates=read_dates, read_places=read_places, read_people=read_people,
                           **query_args(filters))
    return await _respond_limited(request, lambda lib: lib.search_page(query), {"text": q, "k": k, **_echo(filters)})


@router.post("/search/image", response_model=SearchResponse, summary="Search by an example image",
             responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}, 403: {"model": ErrorOut}})
def search_image(request: Request, filters: Annotated[FormFilterParams, Depends()],
                 file: Annotated[UploadFile | None, File()] = None,
                 url: Annotated[str | None, Form(description="Fetch the image (only if the server allows it)")] = None,
                 k: Annotated[int, Form(ge=1, le=500)] = 24,
                 box: Annotated[str | None, Form(description="x,y,w,h fractions: search by this region")] = None,
                 ) -> SearchResponse:
    state = request.app.state
    if (file is None) == (url is None):
        raise ClientError("send either an image file or a url")
    name = file.filename if file is not None else url
    query = {"image": name, "k": k, "box": box, **_echo(filters)}
    if url is not None:
        if not state.allow_urls:
            raise ClientError("fetching images by URL is off on this server (start it with --allow-urls)", 403)
        path = fetch_url(url, state.uploads)
        try:
            return _search_file(request, path, box, k, filters, query)
        finally:
            path.unlink(missing_ok=True)
    with saved_upload(file, "image", state.uploads, state.upload_limits.get("image")) as path:
        return _search_file(request, path, box, k, filters, query)


def _search_file(request: Request, path: Path, box: str | None, k: int, filters, query: dict) -> SearchResponse:
    with region(path, box) as image:
        terms = SearchQuery.of(image=image, k=k, **query_args(filters))
        return _respond(request, lambda lib: lib.search_page(terms), query)


@router.post("/search/video", response_model=SearchResponse, summary="Search by an example video clip",
             responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}})
def search_video(request: Request, file: Annotated[UploadFile, File()],
                 k: Annotated[int, Form(ge=1, le=100)] = 10, under: Annotated[str | None, Form()] = None,
                 min_score: Annotated[float | None, Form(**MIN_SCORE)] = None,
                 ) -> SearchResponse:
    state = request.app.state
    folders = (under,) if under else ()
    query = {"video": file.filename, "k": k, "under": under, "min_score": min_score}
    with saved_upload(file, "video", state.uploads, state.upload_limits.get("video")) as path:
        return _respond(request, lambda lib: SearchPage(lib.similar_videos(path, k=k, under=folders,
                                                                           min_score=min_score)),
                        {name: value for name, value in query.items() if value is not None})


@router.get("/similar/{key}", response_model=SearchResponse, summary="More like this library result")
async def similar(request: Request, key: str, filters: Annotated[SimilarParams, Depends()],
                  k: K = 24) -> SearchResponse:
    args = query_args(filters)
    chosen = {name: args[name] for name in ("kinds", "under", "dates", "min_duration", "max_duration", "labels",
                                            "places", "people")}

    def run(lib) -> SearchPage:
        return lib.similar(key, k=k, cutoff=args["cutoff"], boost_labels=args["boost_labels"],
                           min_score=args["min_score"], **chosen)

    return await _respond_limited(request, run, {"similar": key, "k": k, **_echo(filters)})
