"""Search results: typed, and each with a stable key that outlives re-indexing, moves and model changes.

Item ids are internal (they change whenever content is re-embedded); a result is referred to by its
``ResultKey``: the content hash, plus the time range for a video moment. Any model, and any later
index of the same bytes, resolves it again (``Library.resolve``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from framefind.errors import FrameFindError
from framefind.store.catalog import ItemInfo

_KEY = re.compile(r"^(?P<content>[0-9a-f]{32})(?:@(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?))?$")
_MOMENT = re.compile(r"^(?P<path>.+)#(?P<start>\d+(?:\.\d*)?)-(?P<end>\d+(?:\.\d*)?)$")  # PATH#START-END


@dataclass(frozen=True)
class ResultKey:
    content: str  # BLAKE2b-128 of the file's bytes
    start: float | None = None  # seconds, video moments only
    end: float | None = None

    def __str__(self) -> str:
        return self.content if self.start is None else f"{self.content}@{self.start:.3f}-{self.end:.3f}"

    @classmethod
    def parse(cls, text: str) -> ResultKey:
        match = _KEY.match(text.strip())
        if not match:
            raise FrameFindError(f"{text!r}: not a result key (CONTENTHASH or CONTENTHASH@START-END)")
        start, end = match["start"], match["end"]
        return cls(match["content"], float(start) if start else None, float(end) if end else None)

    @classmethod
    def of(cls, key: str | ResultKey) -> ResultKey:
        """A key given as its text (``str(key)``) or as a key."""
        return cls.parse(key) if isinstance(key, str) else key

    @classmethod
    def of_target(cls, target: str, content_of: Callable[[str], str | None]) -> ResultKey:
        """What a user names a result by: its key, a file path, or ``PATH#START-END`` (a video moment).
        ``content_of`` gives a live file's content hash by absolute path (None: not in the library)."""
        try:
            return cls.parse(target)
        except FrameFindError:
            pass
        path, start, end = split_moment(target)
        content = content_of(str(Path(path).expanduser().resolve()))
        if content is None:
            raise FrameFindError(f"{path}: not in this library (index it first)")
        return cls(content, start, end)

    def overlaps(self, start: float | None, end: float | None) -> bool:
        if self.start is None or start is None or end is None:
            return True
        return start < self.end and self.start < end


def split_moment(text: str) -> tuple[str, float | None, float | None]:
    """``PATH#START-END`` (seconds, a video moment) -> (PATH, START, END); other text is a path with no range.
    One parser for the two places a user names a result by path: result keys and golden-query files."""
    match = _MOMENT.match(text)
    return (match["path"], float(match["start"]), float(match["end"])) if match else (text, None, None)


def key_of(info: ItemInfo) -> ResultKey:
    """An item's stable key: its content, and for a video segment or moment its time range."""
    return ResultKey(info.content, info.start, info.end) if info.kind == "video" else ResultKey(info.content)


@dataclass
class NearDuplicate:
    """A result folded into a better one because it looks nearly the same (resized, re-encoded, cropped)."""

    key: str
    path: str
    score: float


@dataclass
class Match:
    """One signal's evidence for a result: what the picture shows, what is said, what is written, who is in it."""

    signal: str  # one of query.SIGNALS: "visual", "speech", "text" (on-screen text), "metadata", "face"
    # that signal's own evidence: the picture's cosine, the phrase's MiniLM cosine, or (face) the distance between
    # the face and the query's (lower is nearer: under 0.5 the same person, over 0.7 no evidence)
    score: float
    text: str  # the words: the classes seen, the phrase with the matched words in «», or who the face is
    start: float | None = None  # seconds, for a video
    end: float | None = None
    relevance: float | None = None  # what this signal alone says: the probability the result is what was asked


@dataclass
class Result:
    key: str  # str(ResultKey): stable, use it to refer to this result later
    path: str
    score: float
    kind: str  # "image" or "video"
    start: float | None = None
    end: float | None = None
    frame_time: float | None = None  # the best-matching frame of a moment (and its thumbnail)
    width: int | None = None
    height: int | None = None
    duplicates: list[str] = field(default_factory=list)  # other paths with the same content
    near_duplicates: list[NearDuplicate] = field(default_factory=list)  # folded into this result
    pinned: bool = False  # liked for this very query: shown first whatever its score
    boosted: bool = False  # carries a label the query boosts (--boost-label): shown after pinned, before the rest
    clip: str | None = None  # an exported clip of this moment (search --save-clips)
    why: list[str] = field(default_factory=list)  # what the model sees in it (e.g. ConSE's nearest classes)
    place: str | None = None  # where it was taken, from its GPS ("Lisbon, Portugal"); None when unknown
    matches: list[Match] = field(default_factory=list)  # each signal's evidence and what it alone says
    order: float | None = field(default=None, repr=False)  # ranks it when feedback moved the query (not shown)
    support: float | None = field(default=None, repr=False)  # its score without weak keyword hits (not shown)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("order")
        out.pop("support")
        if self.kind != "video":  # start/end/frame_time mean something for video moments only
            for key in ("start", "end", "frame_time", "clip"):
                out.pop(key)
        elif self.clip is None:
            out.pop("clip")
        return out


@dataclass
class SearchPage:
    """Results and what shaped them: the relevance cutoff, dates read from the words, feedback used."""

    results: list[Result]
    below_cutoff: int = 0  # results that scored under the relevance cutoff, left out
    cutoff: float | None = None  # the score a result needed to be shown here (None: no cutoff applied)
    dates: str | None = None  # the date filter read from the words, e.g. "2019-01-01 to 2019-12-31 ('2019')"
    places: str | None = None  # the places read from the words, e.g. "lisbon ('in Lisbon')"
    people: str | None = None  # the named people read from the words, e.g. "anna ('with Anna')"
    learned: int = 0  # thumbs up/down (on this and similar queries) that moved this ranking
    closest: dict[str, float] = field(default_factory=dict)  # signal asked -> the best relevance it gave any result

    @property
    def nothing_matched(self) -> bool:
        """Nothing cleared the relevance cutoff (as opposed to an empty library or a filter that excludes all)."""
        return not self.results and self.below_cutoff > 0

    def why_nothing(self) -> str:
        """One line: which signals were searched and how close each came (for a page where nothing matched)."""
        names = {"visual": "pictures", "speech": "speech", "text": "on-screen text", "metadata": "the files' words",
                 "face": "faces"}
        came = ", ".join(f"{names.get(s, s)} {p:.3f}" for s, p in self.closest.items())
        best = max(self.closest.values(), default=0.0)
        return (f"nothing matched well: the closest came to {best:.3f} ({came}); a match needs "
                f"{self.cutoff:.3f}; --all shows the closest anyway")
