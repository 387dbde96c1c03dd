"""Typed request and response bodies: the OpenAPI spec at /docs is the API's documentation."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from framefind.search.relevance import CUTOFF, FLOOR
from framefind.search.results import Result


def urls(key: str, kind: str, frame_time: float | None) -> dict[str, str | None]:
    """Where a result's thumbnail, original and clip are served (by stable key, never by path)."""
    k = quote(key, safe="")
    thumb = f"/api/thumbnails/{k}" + (f"?at={frame_time:g}" if frame_time is not None else "")
    clip = f"/api/clips/{k}" if kind == "video" and "@" in key else None
    return {"thumbnail_url": thumb, "media_url": f"/api/media/{k}", "clip_url": clip}


class NearDuplicateOut(BaseModel):
    key: str
    path: str
    name: str
    score: float
    thumbnail_url: str


class MatchOut(BaseModel):
    signal: Literal["visual", "speech", "text", "metadata", "face"]
    score: float = Field(description="That signal's own evidence: the picture's cosine, the phrase's MiniLM cosine, "
                                     "or (face) the distance of the face to the query picture's (lower is nearer)")
    text: str = Field(description="The classes seen, or the words said / written with the matched terms in «» "
                                  "(metadata: where in the file, then the words: \"folder: «Lisbon» trip\"; face: "
                                  "who, and how far: \"Barack (0.38 apart)\")")
    start: float | None = None
    end: float | None = None
    relevance: float | None = Field(None, description="What this signal alone says: the estimated probability "
                                                      "that the result is what was asked for")


class ResultOut(BaseModel):
    key: str = Field(description="Stable key: content hash, plus @START-END for a video moment")
    path: str
    name: str
    score: float = Field(description="Relevance: the estimated probability that this is what was asked for "
                                     "(0-1, the same scale in every library and for every signal)")
    kind: Literal["image", "video"]
    start: float | None = None
    end: float | None = None
    frame_time: float | None = Field(None, description="The best-matching frame of a moment, seconds")
    width: int | None = None
    height: int | None = None
    duplicates: list[str] = []
    why: list[str] = Field([], description="What the model sees in it (e.g. the nearest ImageNet classes)")
    place: str | None = Field(None, description="Where it was taken, from its GPS (\"Lisbon, Portugal\")")
    pinned: bool = Field(False, description="Liked for this very query: shown first whatever its score")
    boosted: bool = Field(False, description="Carries a boosted label: shown after pinned results, before the rest")
    near_duplicates: list[NearDuplicateOut] = Field([], description="Near-identical results folded into this one")
    matches: list[MatchOut] = Field([], description="Each signal's evidence and what it alone says")
    thumbnail_url: str
    media_url: str
    clip_url: str | None = None

    @classmethod
    def of(cls, result: Result) -> ResultOut:
        return cls(key=result.key, path=result.path, name=result.path.rsplit("/", 1)[-1], score=result.score,
                   kind=result.kind, start=result.start, end=result.end, frame_time=result.frame_time,
                   width=result.width, height=result.height, duplicates=result.duplicates, why=result.why,
                   place=result.place,
                   pinned=result.pinned, boosted=result.boosted, near_duplicates=[
                       NearDuplicateOut(key=n.key, path=n.path, name=n.path.rsplit("/", 1)[-1], score=n.score,
                                        thumbnail_url=urls(n.key, result.kind, None)["thumbnail_url"])
                       for n in result.near_duplicates],
                   matches=[MatchOut(**vars(m)) for m in result.matches],
                   **urls(result.key, result.kind, result.frame_time))


class SearchResponse(BaseModel):
    results: list[ResultOut]
    took_ms: float
    model: str
    query: dict
    below_cutoff: int = Field(0, description="Results under the relevance cutoff, left out (all=true shows them)")
    nothing_matched: bool = Field(False, description="No result reached the relevance cutoff")
    cutoff: float | None = Field(None, description=f"The score a result needed to be shown (null: no cutoff): "
                                                   f"{FLOOR} on a page that matched, {CUTOFF} when nothing did")
    closest: dict[str, float] = Field({}, description="Each signal searched (visual, speech, text, metadata, face) -> "
                                                      "the best relevance it gave any result: why nothing matched")
    dates: str | None = Field(None, description="The date filter read from the words, e.g. "
                                                "\"2019-01-01 to 2019-12-31 (from '2019')\"")
    places: str | None = Field(None, description="The place filter read from the words, e.g. \"lisbon ('in Lisbon')\"")
    people: str | None = Field(None, description="The named people read from the words, e.g. \"anna ('with Anna')\"")
    learned: int = Field(0, description="Thumbs up/down, on this and similar queries, that moved this ranking")


class LabelOut(BaseModel):
    label: str
    count: int


class LabelsOut(BaseModel):
    labels: list[LabelOut]


class PlaceOut(BaseModel):
    city: str
    region: str
    country: str
    count: int = Field(description="Photos and videos taken there")


class PlacesOut(BaseModel):
    places: list[PlaceOut]


class ItemOut(BaseModel):
    key: str
    kind: Literal["image", "video"]
    paths: list[str]
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    start: float | None = None
    end: float | None = None
    frame_time: float | None = None
    place: str | None = Field(None, description="Where it was taken, from its GPS (\"Lisbon, Portugal\")")
    thumbnail_url: str
    media_url: str
    clip_url: str | None = None


class FeedbackIn(BaseModel):
    query: str = Field(min_length=1, max_length=1000)
    key: str = Field(min_length=32, max_length=80)
    vote: Literal["up", "down"]


class FeedbackOut(BaseModel):
    query: str
    key: str
    vote: Literal["up", "down"]
    at: float


class FeedbackList(BaseModel):
    feedback: list[FeedbackOut]


class IndexIn(BaseModel):
    paths: list[str] | None = Field(None, description="Folders to index [default: every folder indexed before]")
    transcribe: bool | None = Field(None, description="Transcribe speech in videos (kept as a library setting)")
    ocr: bool | None = Field(None, description="Read text in pictures and frames (kept as a library setting)")
    workers: int = Field(1, ge=1, le=64, description="Embed in this many processes (machines with many cores)")
    ray: bool | None = Field(None, description="Decode and embed on the server's Ray cluster (serve --ray) "
                             "[default: yes when it has one; not with workers]")


class IndexState(BaseModel):
    running: bool = False
    phase: str = Field("index", description="index, then speech / ocr when the library runs those passes")
    done: float = 0
    total: int = 0
    on_ray: bool = Field(False, description="This run decodes and embeds on the server's Ray cluster")
    started: float | None = None
    finished: float | None = None
    report: dict | None = None
    error: str | None = None


class WatchedFolder(BaseModel):
    path: str
    online: bool = Field(description="False while the folder is gone (a disk unmounted, a NAS off): its files stay")
    polled: bool = Field(description="Looked at every --poll-interval s (a network mount, past the inotify limit), "
                         "not told of changes by events")


class Watching(BaseModel):
    folders: list[WatchedFolder]
    batches: int = Field(description="Batches indexed since the server started")
    indexed: int = Field(description="Files those batches indexed (new or changed)")
    removed: int = Field(description="Files those batches removed (deleted, or moved out of the folders)")
    last_batch: float | None = Field(None, description="When the last batch was committed (Unix time)")


class Status(BaseModel):
    library: str
    model: str
    model_id: str
    files: int
    images: int
    videos: int
    items: int
    failed: int
    roots: list[str]
    passes: list[str] = Field([], description="What indexing reads besides pictures: speech, ocr")
    passages: int = Field(0, description="Phrases said and texts written, stored so far")
    rebuilding: int | None = Field(None, description="pid of a background build of bigger index files (searches "
                                   "use the current ones meanwhile)")
    index: IndexState
    watching: Watching | None = Field(None, description="serve --watch: the folders watched and what was indexed")
    ray: str | None = Field(None, description="serve --ray: index runs started here decode and embed on this Ray "
                            "cluster")


class DuplicateMember(BaseModel):
    path: str
    kind: str
    key: str
    same_bytes: bool = Field(description="The same content as the member before it (an exact copy)")


class MapPoint(BaseModel):
    key: str
    x: float
    y: float
    kind: str
    path: str
    thumbnail_url: str


class MapOut(BaseModel):
    points: list[MapPoint]


class ErrorOut(BaseModel):
    error: str
