"""Search by text, by an example image (upload, region, or URL when allowed), by an example video, or
by a library result ("more like this"). Handlers are plain functions: FastAPI runs them in its thread
pool, and the library's read path is safe from many threads at once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from framefind.errors import ClientError
from framefind.interfaces.server.schemas import ErrorOut, ResultOut, SearchResponse
from framefind.interfaces.server.uploads import fetch_url, region, saved_upload
from framefind.search.query import Query as SearchQuery

router = APIRouter(prefix="/api", tags=["search"], responses={400: {"model": ErrorOut}})
K = Annotated[int, Query(ge=1, le=500, description="Number of results")]
Kinds = Annotated[list[str] | None, Query(alias="kind", description="image and/or video (repeatable)")]


def _respond(request: Request, run, query: dict) -> SearchResponse:
    library = request.app.state.library
    started = time.perf_counter()
    results = run(library)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(results=[ResultOut.of(r) for r in results], took_ms=round(took, 2),
                          model=library.model.name, query=query)


async def _respond_limited(request: Request, run, query: dict) -> SearchResponse:
    """``_respond`` in a worker thread, at most ``search_limiter`` of them at once."""
    return await anyio.to_thread.run_sync(_respond, request, run, query, limiter=request.app.state.search_limiter)


@router.get("/search", response_model=SearchResponse, summary="Search by text")
async def search_text(request: Request, q: Annotated[str, Query(min_length=1, max_length=1000)], k: K = 24,
                kinds: Kinds = None, under: str | None = None, min_score: float | None = None) -> SearchResponse:
    query = SearchQuery.of(q, k=k, min_score=min_score, kinds=tuple(kinds or ()), under=(under,) if under else ())
    return await _respond_limited(request, lambda lib: lib.search(query),
                                  {"text": q, "k": k, "kinds": kinds, "under": under})


@router.post("/search/image", response_model=SearchResponse, summary="Search by an example image",
             responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}, 403: {"model": ErrorOut}})
def search_image(request: Request, file: Annotated[UploadFile | None, File()] = None,
                 url: Annotated[str | None, Form(description="Fetch the image (only if the server allows it)")] = None,
                 k: Annotated[int, Form(ge=1, le=500)] = 24, kind: Annotated[list[str] | None, Form()] = None,
                 under: Annotated[str | None, Form()] = None,
                 box: Annotated[str | None, Form(description="x,y,w,h fractions: search by this region")] = None,
                 ) -> SearchResponse:
    state = request.app.state
    if (file is None) == (url is None):
        raise ClientError("send either an image file or a url")
    name = file.filename if file is not None else url
    query = {"image": name, "k": k, "kinds": kind, "under": under, "box": box}
    if url is not None:
        if not state.allow_urls:
            raise ClientError("fetching images by URL is off on this server (start it with --allow-urls)", 403)
        path = fetch_url(url, state.uploads)
        try:
            return _search_file(request, path, box, k, kind, under, query)
        finally:
            path.unlink(missing_ok=True)
    with saved_upload(file, "image", state.uploads, state.upload_limits.get("image")) as path:
        return _search_file(request, path, box, k, kind, under, query)


def _search_file(request: Request, path: Path, box: str | None, k: int, kinds: list[str] | None,
                 under: str | None, query: dict) -> SearchResponse:
    with region(path, box) as image:
        terms = SearchQuery.of(image=image, k=k, kinds=tuple(kinds or ()), under=(under,) if under else ())
        return _respond(request, lambda lib: lib.search(terms), query)


@router.post("/search/video", response_model=SearchResponse, summary="Search by an example video clip",
             responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}})
def search_video(request: Request, file: Annotated[UploadFile, File()],
                 k: Annotated[int, Form(ge=1, le=100)] = 10, under: Annotated[str | None, Form()] = None,
                 ) -> SearchResponse:
    state = request.app.state
    folders = (under,) if under else ()
    with saved_upload(file, "video", state.uploads, state.upload_limits.get("video")) as path:
        return _respond(request, lambda lib: lib.similar_videos(path, k=k, under=folders),
                        {"video": file.filename, "k": k, "under": under})


@router.get("/similar/{key}", response_model=SearchResponse, summary="More like this library result")
async def similar(request: Request, key: str, k: K = 24, kinds: Kinds = None,
                  under: str | None = None) -> SearchResponse:
    filters = {"kinds": tuple(kinds or ()), "under": (under,) if under else ()}
    return await _respond_limited(request, lambda lib: lib.similar(key, k=k, **filters),
                    {"similar": key, "k": k, "kinds": kinds, "under": under})

