"""Search results: typed, and each with a stable key that outlives re-indexing, moves and model changes.

Item ids are internal (they change whenever content is re-embedded); a result is referred to by its
``ResultKey``: the content hash, plus the time range for a video moment. Any model, and any later
index of the same bytes, resolves it again (``Library.resolve``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from framefind.errors import FrameFindError

_KEY = re.compile(r"^(?P<content>[0-9a-f]{32})(?:@(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?))?$")


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

    def overlaps(self, start: float | None, end: float | None) -> bool:
        if self.start is None or start is None or end is None:
            return True
        return start < self.end and self.start < end


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
    clip: str | None = None  # an exported clip of this moment (search --save-clips)
    why: list[str] = field(default_factory=list)  # what the model sees in it (e.g. ConSE's nearest classes)

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.kind != "video":  # start/end/frame_time mean something for video moments only
            for key in ("start", "end", "frame_time", "clip"):
                out.pop(key)
        elif self.clip is None:
            out.pop("clip")
        return out
