"""Items by stable key: details, thumbnails, the original media (with HTTP ranges, so videos seek),
and a clip of any moment. Files are found through the catalog, never from a path in the request,
and only inside the library's indexed roots (a symlink pointing out of them is refused)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from framefind.errors import ClientError, FrameFindError
from framefind.interfaces.server.schemas import ErrorOut, ItemOut, urls
from framefind.media.cut import cut_video, moment_span
from framefind.search.results import ResultKey
from framefind.store.catalog import ItemInfo

router = APIRouter(prefix="/api", tags=["items"], responses={404: {"model": ErrorOut}})


def _items(request: Request, key: str) -> tuple[ResultKey, list[ItemInfo]]:
    parsed = ResultKey.parse(key)
    items = request.app.state.library.resolve(parsed)
    if not items:
        raise ClientError(f"{key}: no such item in this library", 404)
    return parsed, items


def served_path(request: Request, items: list[ItemInfo]) -> Path:
    """The first file of these items that exists and lies inside an indexed root (after resolving links)."""
    roots = [Path(os.path.realpath(r)) for r in request.app.state.library.roots()]
    for info in items:
        for path in info.paths:
            real = Path(os.path.realpath(path))
            if real.is_file() and any(real == root or root in real.parents for root in roots):
                return real
    raise ClientError("the file of this item is gone or lies outside the library's folders", 404)


@router.get("/items/{key}", response_model=ItemOut, summary="An item by its stable key")
def item(request: Request, key: str) -> ItemOut:
    parsed, items = _items(request, key)
    first = items[0]
    video = first.kind == "video"
    duration = request.app.state.library.duration(parsed)
    start = parsed.start if parsed.start is not None else (first.start if video else None)
    end = parsed.end if parsed.end is not None else (items[-1].end if video else None)
    return ItemOut(key=key, kind=first.kind, paths=first.paths, width=first.width, height=first.height,
                   duration=duration, start=start, end=end, frame_time=first.frame_time if video else None,
                   place=request.app.state.library.place_of(parsed),
                   **urls(key, first.kind, first.frame_time if video else None))


@router.get("/thumbnails/{key}", summary="A small JPEG of an image or of a moment's frame",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def thumbnail(request: Request, key: str, at: Annotated[float | None, Query(ge=0)] = None) -> Response:
    parsed, _ = _items(request, key)
    jpeg = request.app.state.library.thumbnail(parsed, at)
    if jpeg is None:
        raise ClientError(f"{key}: no thumbnail", 404)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/media/{key}", summary="The original file (HTTP range requests supported)", response_class=FileResponse)
def media(request: Request, key: str) -> FileResponse:
    _, items = _items(request, key)
    return FileResponse(served_path(request, items), headers={"Cache-Control": "private, max-age=3600"})


@router.get("/clips/{key}", summary="An mp4 of a video moment (key with @START-END)", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}}})
def clip(request: Request, key: str) -> FileResponse:
    parsed, items = _items(request, key)
    if items[0].kind != "video" or parsed.start is None:
        raise ClientError(f"{key}: a clip needs a video moment key (HASH@START-END)")
    start, end = moment_span(parsed.start, parsed.end, items[0].frame_time)
    target = request.app.state.clips / f"{parsed.content}-{start:.3f}-{end:.3f}.mp4"
    if not target.exists():
        try:
            cut_video(served_path(request, items), start, end, target)
        except FrameFindError as exc:
            raise ClientError(str(exc), 422) from None
    name = f"{Path(items[0].paths[0]).stem}-{start:.1f}-{end:.1f}.mp4"
    return FileResponse(target, media_type="video/mp4", filename=name)
