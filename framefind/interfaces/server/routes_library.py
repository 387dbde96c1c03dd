"""The library as a whole: status and indexing progress, starting an index run, feedback, the map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from framefind.errors import ClientError
from framefind.interfaces.server.schemas import (
    DuplicateMember,
    ErrorOut,
    FeedbackIn,
    FeedbackList,
    FeedbackOut,
    IndexIn,
    LabelOut,
    LabelsOut,
    MapOut,
    MapPoint,
    PlaceOut,
    PlacesOut,
    Status,
    WatchedFolder,
    Watching,
    urls,
)
from framefind.search.duplicates import THRESHOLD, as_rows
from framefind.search.engine import key_of
from framefind.search.query import feedback_key

router = APIRouter(prefix="/api", tags=["library"], responses={400: {"model": ErrorOut}})
VOTES = {"up": 1, "down": -1}


@router.get("/status", response_model=Status, summary="Library statistics and indexing progress")
def status(request: Request) -> Status:
    return Status(**request.app.state.library.status(), index=request.app.state.job.state, ray=request.app.state.ray,
                  watching=watching(request))


@router.get("/watching", response_model=Watching | None,
            summary="serve --watch: the folders watched and what their batches did (null: not watching); "
                    "cheap to poll, unlike the counts of /api/status (60 ms at 100k items)")
def watching(request: Request) -> Watching | None:
    watcher = request.app.state.watcher
    if watcher is None:
        return None
    return Watching(folders=[WatchedFolder(path=path, online=online, polled=polled)
                             for path, online, polled in watcher.folders()],
                    batches=watcher.batches, indexed=watcher.indexed, removed=watcher.removed,
                    last_batch=watcher.last_batch)


@router.post("/index", status_code=202, summary="Start indexing (new, changed and deleted files)",
             responses={409: {"model": ErrorOut}})
def start_index(request: Request, body: IndexIn | None = None) -> JSONResponse:
    body = body or IndexIn()
    cluster = request.app.state.ray
    if body.ray and cluster is None:
        raise ClientError("ray: this server has no Ray cluster (start it with framefind serve --ray ADDRESS)")
    if body.ray and body.workers > 1:
        raise ClientError("--ray and --workers: one or the other (Ray runs its own workers)")
    on_ray = cluster if body.ray or (body.ray is None and body.workers == 1) else None
    if not request.app.state.job.start(body.paths, transcribe=body.transcribe, ocr=body.ocr, workers=body.workers,
                                       ray=on_ray):
        raise ClientError("an index run is already in progress", 409)
    return JSONResponse({"running": True}, status_code=202)


@router.post("/feedback", response_model=FeedbackOut, summary="Thumbs up or down on a result for a query")
def feedback(request: Request, body: FeedbackIn) -> FeedbackOut:
    at = request.app.state.library.feedback(body.query, body.key, VOTES[body.vote])
    return FeedbackOut(query=feedback_key(body.query), key=body.key, vote=body.vote, at=at)


@router.get("/feedback/export", summary="Feedback as golden queries for framefind eval (JSON)")
def feedback_export(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.library.golden_queries(),
                        headers={"Content-Disposition": 'attachment; filename="framefind-golden.json"'})


@router.get("/places", response_model=PlacesOut, summary="Where the photos and videos were taken, most first")
def places(request: Request) -> PlacesOut:
    return PlacesOut(places=[PlaceOut(**place) for place in request.app.state.library.places()])


@router.get("/labels", response_model=LabelsOut, summary="The classifier's labels in this library, most frequent first")
def labels(request: Request) -> LabelsOut:
    return LabelsOut(labels=[LabelOut(label=label, count=count) for label, count in request.app.state.library.labels()])


@router.get("/feedback", response_model=FeedbackList, summary="Stored feedback, newest first")
def feedback_list(request: Request, query: str | None = None) -> FeedbackList:
    rows = request.app.state.library.feedback_given(query)
    return FeedbackList(feedback=[FeedbackOut(query=q, key=k, vote="up" if v > 0 else "down", at=at)
                                  for q, k, v, at in rows])


@router.get("/duplicates", response_model=list[list[DuplicateMember]], summary="Near-duplicate groups")
def duplicates(request: Request, threshold: Annotated[float | None, Query(
                   gt=0, le=1, description=f"[default {THRESHOLD}+]")] = None,
               kinds: Annotated[list[str] | None, Query(alias="kind")] = None) -> list[list[DuplicateMember]]:
    groups = request.app.state.library.duplicates(threshold, tuple(kinds or ("image", "video")))
    return [[DuplicateMember(**row) for row in group] for group in as_rows(groups)]


@router.get("/map", response_model=MapOut, summary="A 2-D map of the library (PCA of image vectors)")
def library_map(request: Request, limit: Annotated[int, Query(ge=2, le=20000)] = 1500) -> MapOut:
    points = []
    for info, x, y in request.app.state.library.map_points(limit):
        key = str(key_of(info))
        thumb = urls(key, info.kind, info.frame_time)["thumbnail_url"]
        points.append(MapPoint(key=key, x=round(x, 4), y=round(y, 4), kind=info.kind, path=info.paths[0],
                               thumbnail_url=thumb))
    return MapOut(points=points)
